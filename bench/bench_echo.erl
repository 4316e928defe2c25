%% @doc Echo round trips against the servers of bench_echo_srv: many
%% clients for throughput (req/s), one client for the round-trip time.
%%
%% Clients are the same for every contender: gen_tcp passive sockets in
%% this VM, each sending 64 bytes and reading the 64 bytes back
%% (`gen_tcp:recv(C, 64)'), one request in flight per client. Throughput
%% counts the round trips completed in a window after a warm-up; servers
%% are started and stopped per repetition, contenders interleaved. The
%% single-client round trips run in interleaved blocks of 1,000 against
%% the three servers, started side by side.
-module(bench_echo).

-export([run/4, run/5, throughput/3]).

-define(SIZE, 64).

%% @doc Throughput with `Clients' clients (`Reps' windows of `Ms' ms,
%% median) and the single-client round trip (`Rounds' samples).
-spec run(pos_integer(), pos_integer(), pos_integer(), pos_integer()) ->
    #{atom() => map()}.
run(Clients, Reps, Ms, Rounds) ->
    run(Clients, Reps, Ms, Rounds, bench_wake:contenders()).

%% @doc The same for the contenders `Kinds' (native: the inert server of
%% bench_echo_srv on the original driver, in its own VM).
-spec run(pos_integer(), non_neg_integer(), pos_integer(), non_neg_integer(),
          [bench_wake:kind()]) ->
    #{atom() => map()}.
run(Clients, Reps, Ms, Rounds, Kinds) ->
    Tput = [{K, throughput(K, Clients, Ms)} || _ <- lists:seq(1, Reps), K <- Kinds],
    Rtt = case Rounds of
        0 -> [];
        _ -> latency(Kinds, Rounds)
    end,
    maps:from_list(
      [{K, maps:merge(tput_summary([W || {K1, W} <- Tput, K1 =:= K]),
                      rtt_summary(proplists:get_value(K, Rtt)))}
       || K <- Kinds]).

%% With no repetitions (Reps 0) or no round trips (Rounds 0), the part
%% not measured is left out: bench_main measures them apart.
tput_summary([]) ->
    #{};
tput_summary(Ws) ->
    #{rate => bench_lib:median([R || #{rate := R} <- Ws]),
      reps => [R || #{rate := R} <- Ws],
      cpu_vm_ns => bench_lib:median([V || #{cpu_vm_ns := V} <- Ws]),
      cpu_inertd_ns => bench_lib:median([D || #{cpu_inertd_ns := D} <- Ws])}.

rtt_summary(undefined) ->
    #{};
rtt_summary(S) ->
    #{rtt_ns => lists:zip([p50, p90, p99], bench_lib:percentiles(S, [50, 90, 99]))}.

%% @doc Round trips per second (`rate') of `Clients' clients against a
%% fresh server of bench_echo_srv of kind `Kind', over a window of `Ms',
%% after a warm-up of a fifth of it; and the CPU time the VM (clients and
%% server) and inertd spent per round trip in the window.
-spec throughput(bench_echo_srv:kind(), pos_integer(), pos_integer()) -> map().
throughput(Kind, Clients, Ms) ->
    Daemon = bench_lib:inertd_pid(),
    Srv = bench_echo_srv:start(Kind),
    {_, _, Port} = Srv,
    Count = counters:new(1, [write_concurrency]),
    Stop = atomics:new(1, []),
    Parent = self(),
    Pids = [spawn_link(fun() -> client(Port, Count, Stop, Parent) end)
            || _ <- lists:seq(1, Clients)],
    _ = [receive {connected, P} -> ok end || P <- Pids],
    _ = [P ! go || P <- Pids],
    timer:sleep(max(1, Ms div 5)),
    C0 = counters:get(Count, 1),
    {V0, D0} = {bench_lib:cpu_ns(self), bench_lib:cpu_ns(Daemon)},
    T0 = bench_lib:now_ns(),
    timer:sleep(Ms),
    C1 = counters:get(Count, 1),
    T1 = bench_lib:now_ns(),
    {V1, D1} = {bench_lib:cpu_ns(self), bench_lib:cpu_ns(Daemon)},
    ok = atomics:put(Stop, 1, 1),
    _ = [receive {done, P} -> ok end || P <- Pids],
    ok = bench_echo_srv:stop(Srv),
    N = max(1, C1 - C0),
    #{rate => bench_lib:rate(C1 - C0, T1 - T0),
      cpu_vm_ns => (V1 - V0) / N, cpu_inertd_ns => (D1 - D0) / N}.

client(Port, Count, Stop, Parent) ->
    C = connect(Port),
    Parent ! {connected, self()},
    receive go -> ok end,
    Payload = binary:copy(<<"e">>, ?SIZE),
    client_loop(C, Payload, Count, Stop),
    ok = gen_tcp:close(C),
    Parent ! {done, self()}.

client_loop(C, Payload, Count, Stop) ->
    ok = gen_tcp:send(C, Payload),
    {ok, _} = gen_tcp:recv(C, ?SIZE, 5000),
    counters:add(Count, 1, 1),
    case atomics:get(Stop, 1) of
        0 -> client_loop(C, Payload, Count, Stop);
        _ -> ok
    end.

%% `Rounds' timed round trips (ns) of one client per contender, after 200
%% untimed, in interleaved blocks.
latency(Kinds, Rounds) ->
    Srvs = [bench_echo_srv:start(K) || K <- Kinds],
    Conns = [{K, connect(Port)} || {K, _, Port} <- Srvs],
    Payload = binary:copy(<<"e">>, ?SIZE),
    _ = [rtts(C, Payload, 200, []) || {_, C} <- Conns],
    Block = min(1000, Rounds),
    Samples = lists:foldl(
                fun(_, Acc) ->
                        [{K, rtts(C, Payload, Block, S)} || {{K, C}, {K, S}} <- lists:zip(Conns, Acc)]
                end, [{K, []} || K <- Kinds], lists:seq(1, max(1, Rounds div Block))),
    _ = [ok = gen_tcp:close(C) || {_, C} <- Conns],
    _ = [ok = bench_echo_srv:stop(S) || S <- Srvs],
    Samples.

rtts(_C, _Payload, 0, Acc) ->
    Acc;
rtts(C, Payload, K, Acc) ->
    T0 = bench_lib:now_ns(),
    ok = gen_tcp:send(C, Payload),
    {ok, _} = gen_tcp:recv(C, ?SIZE, 5000),
    rtts(C, Payload, K - 1, [bench_lib:now_ns() - T0 | Acc]).

connect(Port) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port,
                              [binary, {active, false}, {nodelay, true}], 5000),
    C.
