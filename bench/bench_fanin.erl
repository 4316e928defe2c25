%% @doc Fan-in delivery: N armed fds become ready, and the time until the
%% process that armed them has all N messages (events/s = N / time).
%%
%% Two ways to make them ready:
%%   at_once  the N fds are dup(2)s of one UDP socket, armed each on its
%%            own; a single datagram makes all N readable in one syscall,
%%            so the figure is the delivery path alone (inert: inertd's
%%            epoll batches, frames, inert_srv; socket: the VM's poll
%%            thread and select messages). gen_udp cannot take part: its
%%            message carries the datagram, which only one port can read.
%%   burst    N distinct UDP sockets and one sender process that sends one
%%            datagram to each as fast as it can; all three contenders.
%%            The sender's own rate is reported: no contender can beat it.
%% native (the original driver, in its own VM: bench_native) takes part
%% as inert does, with its `inert:fdset/2'.
%% The clock starts just before the datagram(s) are sent; arming is not
%% timed. Median of the repetitions, contenders interleaved. For at_once,
%% the CPU time of the VM and of inertd during delivery is kept too, and
%% for inert how many events inertd put in each frame (from its counters).
-module(bench_fanin).

-export([run/2, run/3, at_once/2, at_once/3]).

-define(PAYLOAD, <<"fan-in">>).
-define(LOST_MS, 10000).

%% @doc Both variants for `N' fds, `Reps' repetitions each.
-spec run(pos_integer(), pos_integer()) -> #{at_once | burst => map()}.
run(N, Reps) ->
    run(N, Reps, bench_wake:contenders()).

%% @doc Both variants for the contenders `Kinds'.
-spec run(pos_integer(), pos_integer(), [bench_wake:kind()]) -> #{at_once | burst => map()}.
run(N, Reps, Kinds) ->
    #{at_once => at_once(N, Reps, Kinds), burst => burst(N, Reps, Kinds)}.

%% @doc The at_once variant alone: inert and socket, `N' fds.
-spec at_once(pos_integer(), pos_integer()) -> map().
at_once(N, Reps) ->
    at_once(N, Reps, bench_wake:contenders()).

%% @doc The at_once variant for the contenders of `Kinds' that can take
%% part (not gen).
-spec at_once(pos_integer(), pos_integer(), [bench_wake:kind()]) -> map().
at_once(N, Reps, Kinds0) ->
    Kinds = Kinds0 -- [gen],
    Hub = bench_lib:udp(),
    Dups = bench_lib:udp_dups(Hub, N),
    Fds = [bench_lib:fd(D) || D <- Dups],
    Snd = bench_lib:sender(),
    Dest = bench_lib:addr(Hub),
    Daemon = bench_lib:inertd_pid(),
    Once = fun(K) -> once(K, Fds, Dups, {Snd, Dest, Hub}, Daemon) end,
    _ = [Once(K) || K <- Kinds],                               % warm-up
    Runs = [Once(K) || _ <- lists:seq(1, Reps), K <- Kinds],
    ok = bench_lib:close_all([Snd, Hub | Dups]),
    summary(N, [{K, Ns} || {K, Ns, _} <- Runs], #{}, [{K, X} || {K, _, X} <- Runs]).

once(Kind, Fds, Dups, {Snd, Dest, Hub}, Daemon) ->
    N = length(Fds),
    case Kind of
        socket -> lists:foreach(fun(D) -> {select, _} = socket:recv(D, 0, nowait) end, Dups);
        _ -> lists:foreach(fun(Fd) -> ok = inert:fdset(Fd, read) end, Fds)
    end,
    C0 = counters(Kind),
    Vm0 = bench_lib:cpu_ns(self),
    D0 = bench_lib:cpu_ns(Daemon),
    T0 = bench_lib:now_ns(),
    ok = socket:sendto(Snd, ?PAYLOAD, Dest),
    ok = collect(Kind, N),
    Ns = bench_lib:now_ns() - T0,
    Vm1 = bench_lib:cpu_ns(self),
    D1 = bench_lib:cpu_ns(Daemon),
    C1 = counters(Kind),
    1 = bench_lib:drain(Hub),
    Frames = maps:get(frames, C1, 0) - maps:get(frames, C0, 0) - 1,  % less info's own
    Events = maps:get(events, C1, 0) - maps:get(events, C0, 0),
    {Kind, Ns, #{cpu_vm_ns_per_event => (Vm1 - Vm0) / N,
                 cpu_inertd_ns_per_event => (D1 - D0) / N,
                 events_per_frame => case Frames > 0 of
                                         true -> Events / Frames;
                                         false -> null
                                     end}}.

counters(inert) ->
    #{counters := C} = inert:info(),
    C;
counters(_) ->
    #{}.

burst(N, Reps, Kinds) ->
    Socks = bench_lib:udp_many(N),
    Fds = [bench_lib:fd(S) || S <- Socks],
    Sender = sender([bench_lib:addr(S) || S <- Socks]),
    R1 = [{K, burst1(K, Fds, Socks, Sender)} || _ <- lists:seq(1, Reps), K <- Kinds -- [gen]],
    ok = bench_lib:close_all(Socks),
    {R2, SendNs2} = case lists:member(gen, Kinds) of
        true -> burst_gen(N, Reps);
        false -> {[], []}
    end,
    SendNs = stop_sender(Sender) ++ SendNs2,
    summary(N, R1 ++ R2, #{sender => #{rate => bench_lib:median([N * 1.0e9 / S || S <- SendNs])}},
            []).

burst_gen(N, Reps) ->
    Ports = bench_lib:gen_udp_many(N),
    Sender = sender([bench_lib:addr(P) || P <- Ports]),
    R = [{gen, burst1(gen, [], Ports, Sender)} || _ <- lists:seq(1, Reps)],
    ok = bench_lib:close_all(Ports),
    {R, stop_sender(Sender)}.

burst1(Kind, Fds, Socks, Sender) ->
    N = length(Socks),
    case Kind of
        socket -> lists:foreach(fun(S) -> {select, _} = socket:recv(S, 0, nowait) end, Socks);
        gen -> lists:foreach(fun(P) -> ok = inet:setopts(P, [{active, once}]) end, Socks);
        _ -> lists:foreach(fun(Fd) -> ok = inert:fdset(Fd, read) end, Fds)
    end,
    T0 = bench_lib:now_ns(),
    Sender ! go,
    ok = collect(Kind, N),
    Ns = bench_lib:now_ns() - T0,
    _ = [1 = bench_lib:drain(S) || Kind =/= gen, S <- Socks],
    Ns.

%% Receive N readiness messages of one kind.
collect(_Kind, 0) ->
    ok;
collect(socket, K) ->
    receive {'$socket', _, select, _} -> collect(socket, K - 1)
    after ?LOST_MS -> error({lost_wakeups, socket, K})
    end;
collect(gen, K) ->
    receive {udp, _, _, _, _} -> collect(gen, K - 1)
    after ?LOST_MS -> error({lost_wakeups, gen, K})
    end;
collect(Inert, K) ->
    receive {inert_read, _, _} -> collect(Inert, K - 1)
    after ?LOST_MS -> error({lost_wakeups, Inert, K})
    end.

%% A process that sends one datagram to each address on every `go' and
%% keeps how long each burst took.
sender(Dests) ->
    spawn_link(fun() -> sender_loop(bench_lib:sender(), Dests, []) end).

sender_loop(Snd, Dests, Times) ->
    receive
        go ->
            T0 = bench_lib:now_ns(),
            lists:foreach(fun(D) -> ok = socket:sendto(Snd, ?PAYLOAD, D) end, Dests),
            sender_loop(Snd, Dests, [bench_lib:now_ns() - T0 | Times]);
        {stop, From} ->
            ok = socket:close(Snd),
            From ! {sent, self(), Times}
    end.

stop_sender(Pid) ->
    Pid ! {stop, self()},
    receive {sent, Pid, Times} -> Times end.

%% Median rate per contender, and the median of each per-repetition figure.
summary(N, Runs, Extra, Figures) ->
    maps:merge(
      Extra,
      maps:from_list(
        [{K, maps:merge(medians([X || {K1, X} <- Figures, K1 =:= K]),
                        #{rate => bench_lib:median(Rs), reps => Rs})}
         || K <- bench_wake:all_kinds(),
            Rs <- [[N * 1.0e9 / Ns || {K1, Ns} <- Runs, K1 =:= K]], Rs =/= []])).

medians([]) ->
    #{};
medians([M | _] = Ms) ->
    maps:from_list([{F, case [V || #{F := V} <- Ms, V =/= null] of
                            [] -> null;
                            Vs -> bench_lib:median(Vs)
                        end} || F <- maps:keys(M)]).
