%% @doc The benchmark run: every figure for inert and for the two OTP
%% baselines (socket nowait/select, gen_udp/gen_tcp {active, once}) in one
%% VM, for the original driver (`native') in a peer VM (bench_native) by
%% the same code, phase by phase, then the report (bench_report). Started
%% by bench/run.sh:
%%
%%   erl -noshell -pa .../inert/ebin -pa bench/out/ebin \
%%       -run bench_main main full|smoke OutDir [BenchmarksMd]
-module(bench_main).

-export([main/1, config/1, run_phase/3]).

%% @doc Sizes of a `full' run (`make bench', a few minutes) and of a
%% `smoke' run (`make bench-smoke': checks the harness, not the speed).
-spec config(full | smoke) -> map().
config(full) ->
    #{wake => {20, 1000},                 % blocks x rounds per contender, back to back
      wake_idle => {20, 1000, 1},         % the same, 1 ms idle before each send
      poll => {3, 1000},                  % repetitions x ms
      fdset => [{1000, 1, 7}, {10000, 1, 5}, {10000, 10, 5}], % N, callers, reps
      fanin => [{1000, 7}, {10000, 5}],   % N, reps
      echo => {50, 5, 1500, 10000},       % clients, reps, window ms, 1-client rounds
      rearm => {50, 5, 1500},             % connections, reps, window ms
      burst => {1000, 5},                 % sockets, reps (each a fresh service)
      scale => {19000, {6, 1000}, 5000, 3}, % cap on fds, probe block pairs x rounds, idle ms,
                                          % fan-in reps
      limit_s => 900};                    % give up (exit 2) after this
config(smoke) ->
    #{wake => {2, 150},
      wake_idle => {2, 50, 1},
      poll => {2, 50},                    % two: the alternation by repetition runs
      fdset => [{100, 1, 1}, {300, 1, 1}, {300, 10, 1}],
      fanin => [{100, 1}, {300, 1}],
      echo => {5, 2, 200, 200},
      rearm => {5, 2, 200},
      burst => {100, 2},
      scale => {400, {1, 50}, 500, 1},
      limit_s => 120}.

%% @doc Entry point for `-run'. Halts the VM: 0 when every figure was
%% measured, 1 otherwise.
-spec main([string()]) -> no_return().
main([Mode | Rest]) ->
    {OutDir, Md} = case Rest of
        [O] -> {O, none};
        [O, M] -> {O, M}
    end,
    T0 = erlang:monotonic_time(millisecond),
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    ok = logger:set_primary_config(level, warning),
    Config = config(list_to_existing_atom(Mode)),
    watchdog(maps:get(limit_s, Config)),
    try
        ok = inert:start(),
        Native = bench_native:start(),
        log("native inert: ~s", [bench_native:describe(Native)]),
        Before = bench_lib:background_cpu(2000),
        Results0 = measure(Config, Native),
        After = bench_lib:background_cpu(2000),
        NativeText = bench_native:describe(Native),
        ok = bench_native:stop(Native),
        Results = Results0#{background_cpu => [Before, After], native => NativeText},
        Wall = (erlang:monotonic_time(millisecond) - T0) / 1000,
        ok = bench_report:write(Results#{mode => list_to_binary(Mode), wall_s => Wall},
                                OutDir, Md),
        log("done in ~.1f s; results in ~s", [Wall, OutDir]),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "bench failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
            halt(1)
    end.

measure(#{wake := {Blocks, PerBlock}, wake_idle := {IBlocks, IPerBlock, Gap},
          poll := {PReps, PMs}, fdset := Fdsets, fanin := Fanins,
          echo := {Clients, EReps, EMs, ERounds}, rearm := {RConns, RReps, RMs},
          burst := {BN, BReps}, scale := {Cap, _, IdleMs, _}} = Config, Native) ->
    P = fun(Name, Fmt, Args, Order) -> phase(Name, Fmt, Args, Config, Native, Order) end,
    %% Phases whose repetitions are independent alternate between the two
    %% VMs repetition by repetition (rounds/4).
    PR = fun(Name, Fmt, Args, Order, Reps, Slice) ->
                 rounds(Name, Fmt, Args, {Config#{Name := Slice}, Native, Order, Reps})
         end,
    WakeIdle = P(wake_idle, "wake latency, ~b ms idle before each send: ~b x ~b rounds"
                 " per contender", [Gap, IBlocks, IPerBlock], local_first),
    Wake = P(wake, "wake latency, back to back: ~b x ~b rounds per contender",
             [Blocks, PerBlock], native_first),
    Poll = PR(poll, "poll/1 on a ready fd: ~b x ~b ms", [PReps, PMs], local_first,
              PReps, {1, PMs}),
    Fdset = P(fdset, "fdset rate: ~w (fds, callers, repetitions)", [Fdsets], native_first),
    Fanin = P(fanin, "fan-in: ~w (fds, repetitions)", [Fanins], local_first),
    Echo = merge(PR(echo, "echo: ~b clients, ~b x ~b ms", [Clients, EReps, EMs], native_first,
                    EReps, {Clients, 1, EMs, 0}),
                 P(echo_rtt, "echo: 1 client, ~b round trips", [ERounds], local_first)),
    Rearm = PR(rearm, "re-arm (gen_tcp passive, fdset after each request): ~b connections,"
               " ~b x ~b ms", [RConns, RReps, RMs], local_first, RReps, {RConns, 1, RMs}),
    Burst = PR(burst, "burst: ~b sockets armed, then one datagram each from the arming"
               " process; ~b repetitions, each on a fresh service", [BN, BReps], native_first,
               BReps, {BN, 1}),
    %% A fresh inertd: its memory must not include what the runs above
    %% left in its heap.
    ok = inert:stop(),
    ok = inert:start(),
    N = bench_scale:max_fds(Cap),
    Scale = phase(scale, "scale: up to ~b armed fds (soft RLIMIT_NOFILE ~b); idle ~b ms",
                  [N, bench_lib:fd_limit(), IdleMs], Config#{scale_fds => N}, Native,
                  local_first),
    #{machine => machine(), wake => Wake, wake_idle => WakeIdle, wake_gap_ms => Gap,
      poll => Poll, fdset => Fdset, fanin => Fanin, echo => Echo, echo_clients => Clients,
      rearm => Rearm, rearm_conns => RConns, burst => Burst, burst_n => BN,
      scale => Scale, noise => persistent_term:get(bench_noise, #{})}.

%% @doc Measure one phase for the contenders `Kinds' in this VM (the
%% project's and the baselines in the main VM, `[native]' in the peer), in
%% a fresh process: an empty mailbox, so that selective receives do not
%% wade through what an earlier phase left.
-spec run_phase(atom(), map(), [bench_wake:kind()]) -> term().
run_phase(Name, Config, Kinds) ->
    {Pid, Ref} = spawn_monitor(fun() -> exit({phase_done, measure1(Name, Config, Kinds)}) end),
    receive
        {'DOWN', Ref, process, Pid, {phase_done, Result}} -> Result;
        {'DOWN', Ref, process, Pid, Reason} -> error({phase_failed, Name, Kinds, Reason})
    end.

measure1(wake_idle, #{wake_idle := {B, R, Gap}}, Kinds) ->
    bench_wake:run(B, R, Gap, Kinds);
measure1(wake, #{wake := {B, R}}, Kinds) ->
    bench_wake:run(B, R, 0, Kinds);
measure1(poll, #{poll := {Reps, Ms}}, Kinds) ->
    bench_poll:run(Reps, Ms, Kinds);
measure1(fdset, #{fdset := Fdsets}, Kinds) ->
    [{N, C, bench_fdset:run(N, C, R, Kinds)} || {N, C, R} <- Fdsets];
measure1(fanin, #{fanin := Fanins}, Kinds) ->
    [{N, bench_fanin:run(N, R, Kinds)} || {N, R} <- Fanins];
measure1(echo, #{echo := {Clients, Reps, Ms, Rounds}}, Kinds) ->
    bench_echo:run(Clients, Reps, Ms, Rounds, Kinds);
measure1(echo_rtt, #{echo := {Clients, _, Ms, Rounds}}, Kinds) ->
    bench_echo:run(Clients, 0, Ms, Rounds, Kinds);
measure1(rearm, #{rearm := {Conns, Reps, Ms}}, Kinds) ->
    bench_rearm:run(Conns, Reps, Ms, Kinds);
measure1(burst, #{burst := {N, Reps}}, Kinds) ->
    bench_burst:run(N, Reps, Kinds);
measure1(scale, #{scale := {_, SRounds, IdleMs, FanReps}, scale_fds := N}, Kinds) ->
    bench_scale:run(N, SRounds, IdleMs, FanReps, Kinds).

%% Run one phase: this VM's contenders and, in the peer VM, the original
%% driver, one after the other (which first alternates from phase to
%% phase, so that neither always runs on a machine warmed by the other);
%% keep the share of the machine's CPU that other processes used
%% meanwhile (bench_lib:others_cpu/1) as its noise.
phase(Name, Fmt, Args, Config, Native, Order) ->
    log(Fmt, Args),
    Mark = bench_lib:others_cpu(start),
    Local = fun() -> run_phase(Name, Config, bench_wake:contenders()) end,
    Remote = fun() -> bench_native:call(Native, ?MODULE, run_phase, [Name, Config, [native]]) end,
    {L, N} = case Order of
        local_first -> L0 = Local(), {L0, Remote()};
        native_first -> N0 = Remote(), {Local(), N0}
    end,
    Noise = persistent_term:get(bench_noise, #{}),
    persistent_term:put(bench_noise, Noise#{Name => bench_lib:others_cpu(Mark)}),
    merge(L, N).

%% Run a phase `Reps' times with one repetition each (`Config' says so),
%% alternately in this VM and in the peer, which first alternating from
%% one repetition to the next; then combine/1 the repetitions of each VM
%% and merge the two.
rounds(Name, Fmt, Args, {Config, Native, Order, Reps}) ->
    log(Fmt, Args),
    Mark = bench_lib:others_cpu(start),
    Local = fun() -> run_phase(Name, Config, bench_wake:contenders()) end,
    Remote = fun() -> bench_native:call(Native, ?MODULE, run_phase, [Name, Config, [native]]) end,
    Pairs = [case {Order, I rem 2} of
                 {local_first, 1} -> L = Local(), {L, Remote()};
                 {native_first, 0} -> L = Local(), {L, Remote()};
                 _ -> N = Remote(), {Local(), N}
             end || I <- lists:seq(1, Reps)],
    Noise = persistent_term:get(bench_noise, #{}),
    persistent_term:put(bench_noise, Noise#{Name => bench_lib:others_cpu(Mark)}),
    merge(combine([L || {L, _} <- Pairs]), combine([N || {_, N} <- Pairs])).

%% Results of one repetition each into one: the `reps' lists end to end,
%% every other figure the median of the repetitions' (each repetition's
%% figure is its only sample, so this is the median over all of them),
%% structures element by element.
combine([none | _]) ->
    none;
combine([R]) ->
    R;
combine([M | _] = Ms) when is_map(M) ->
    Keys = lists:usort(lists:append([maps:keys(X) || X <- Ms])),
    maps:from_list(
      [{K, case K of
               reps -> lists:append([V || #{reps := V} <- Ms]);
               _ -> combine([V || #{K := V} <- Ms])
           end} || K <- Keys]);
combine([L | _] = Ls) when is_list(L) ->
    case lists:all(fun(X) -> is_list(X) andalso length(X) =:= length(L) end, Ls) of
        true -> [combine(Col) || Col <- transpose(Ls)];
        false -> lists:append(Ls)
    end;
combine([T | _] = Ts) when is_tuple(T) ->
    list_to_tuple(combine([tuple_to_list(X) || X <- Ts]));
combine([X | _] = Xs) when is_number(X) ->
    bench_lib:median(Xs);
combine([X | _]) ->
    X.

transpose([[] | _]) -> [];
transpose(Ls) -> [[hd(L) || L <- Ls] | transpose([tl(L) || L <- Ls])].

%% The native results into this VM's: maps merge key by key (the
%% contenders' keys differ), lists of the same shape ({N, C, Map} per
%% size) element by element; where both have a plain value, this VM's.
merge(A, none) ->
    A;
merge(A, B) when is_map(A), is_map(B) ->
    maps:fold(fun(K, VB, Acc) ->
                      case Acc of
                          #{K := VA} -> Acc#{K := merge(VA, VB)};
                          _ -> Acc#{K => VB}
                      end
              end, A, B);
merge(A, B) when is_list(A), is_list(B), length(A) =:= length(B) ->
    lists:zipwith(fun merge/2, A, B);
merge(A, B) when is_tuple(A), is_tuple(B), tuple_size(A) =:= tuple_size(B) ->
    list_to_tuple(merge(tuple_to_list(A), tuple_to_list(B)));
merge(A, _) ->
    A.

machine() ->
    Cpu = case file:read_file("/proc/cpuinfo") of
        {ok, B} ->
            case re:run(B, "model name\\s*:\\s*(.*)", [{capture, all_but_first, binary}]) of
                {match, [M]} -> M;
                nomatch -> <<"unknown">>
            end;
        _ -> <<"unknown">>
    end,
    #{nproc => erlang:system_info(logical_processors_available),
      schedulers => erlang:system_info(schedulers_online),
      cpu => Cpu,
      kernel => cmd("uname -sr"),
      otp => list_to_binary(erlang:system_info(otp_release) ++ " (erts " ++
                                erlang:system_info(version) ++ ")"),
      go => cmd("go version"),
      fd_limit => bench_lib:fd_limit(),
      inert => list_to_binary(os:getenv("BENCH_INERT_REV", "unknown"))}.

cmd(C) ->
    list_to_binary(string:trim(os:cmd(C))).

%% A run that hangs (a lost reply or wake-up) must not hang `make bench'
%% or CI: after `Limit' seconds, say where it was and exit with status 2.
watchdog(Limit) ->
    Main = self(),
    spawn(fun() ->
                  timer:sleep(Limit * 1000),
                  io:format(standard_error, "bench: no result after ~b s, in phase: ~s~n"
                            "main process: ~p~n",
                            [Limit, persistent_term:get(bench_phase, "start"),
                             erlang:process_info(Main, [current_stacktrace, messages])]),
                  halt(2)
          end).

log(Fmt, Args) ->
    persistent_term:put(bench_phase, lists:flatten(io_lib:format(Fmt, Args))),
    io:format("[bench ~s] " ++ Fmt ++ "~n", [clock() | Args]).

clock() ->
    {H, M, S} = time(),
    io_lib:format("~2..0b:~2..0b:~2..0b", [H, M, S]).
