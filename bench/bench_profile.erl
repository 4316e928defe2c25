%% @doc Load generators for profiling the inert path (bench/profile.sh):
%% one scenario runs for a given time while perf/strace watch inertd from
%% outside, or with `eprof' on the VM side (inert_srv and the callers).
%%
%%   wake    back-to-back wake rounds of one process (bench_wake, inert)
%%   fanin   fan-in at once over N dups of one socket, repeated
%%   fdset   N fdset calls by one process, disarm (the process exits), repeat
%%   pipeline  what fdset does, since fdset no longer waits for
%%           inertd's answer (kept so that profile.sh's names still run)
%%   echo    the inert echo server with 50 clients (bench_echo_srv)
%%   rearm   the re-arm server (gen_tcp passive, fdset after each
%%           request; bench_echo_srv) with 50 clients
%%
%% It writes `inertd.pid' and `beam.pid' into the output directory, waits
%% `?SETTLE_MS' so that a profiler can attach, then runs.
-module(bench_profile).

-export([main/1]).

-define(SETTLE_MS, 1500).

%% @doc `-run bench_profile main Scenario Seconds OutDir [eprof]'.
-spec main([string()]) -> no_return().
main([Scenario, Secs, OutDir | Opts]) ->
    ok = logger:set_primary_config(level, warning),
    ok = inert:start(),
    Pid = bench_lib:inertd_pid(),
    ok = file:write_file(filename:join(OutDir, "inertd.pid"), integer_to_list(Pid)),
    ok = file:write_file(filename:join(OutDir, "beam.pid"), os:getpid()),
    timer:sleep(?SETTLE_MS),
    Deadline = erlang:monotonic_time(millisecond) + list_to_integer(Secs) * 1000,
    Run = fun() -> run(list_to_atom(Scenario), Deadline) end,
    {N, What} = case Opts of
        ["eprof"] -> eprof(Run, filename:join(OutDir, "eprof-" ++ Scenario ++ ".txt"));
        [] -> Run()
    end,
    #{counters := C} = inert:info(),
    io:format("~s: ~b ~s in ~s s; inertd counters ~p~n", [Scenario, N, What, Secs, C]),
    halt(0).

run(wake, Deadline) ->
    Src = {bench_lib:sender(), 0},
    Rig = bench_wake:setup(inert),
    {repeat(fun() -> _ = bench_wake:rounds(Rig, Src, 100, false), 100 end, Deadline),
     "wake rounds"};
run(fanin, Deadline) ->
    Hub = bench_lib:udp(),
    Dups = bench_lib:udp_dups(Hub, 1000),
    Fds = [bench_lib:fd(D) || D <- Dups],
    Snd = bench_lib:sender(),
    Dest = bench_lib:addr(Hub),
    {repeat(fun() ->
                    lists:foreach(fun(Fd) -> ok = inert:fdset(Fd, read) end, Fds),
                    ok = socket:sendto(Snd, <<"x">>, Dest),
                    _ = [receive {inert_read, _, _} -> ok end || _ <- Fds],
                    1 = bench_lib:drain(Hub),
                    length(Fds)
            end, Deadline), "events (and as many fdset calls)"};
run(fdset, Deadline) ->
    Socks = bench_lib:udp_many(1000),
    Fds = [bench_lib:fd(S) || S <- Socks],
    {repeat(fun() ->
                    {P, Ref} = spawn_monitor(fun() ->
                                                     [ok = inert:fdset(F, read) || F <- Fds]
                                             end),
                    receive {'DOWN', Ref, process, P, normal} -> ok end,
                    ok = bench_lib:wait_disarmed(0),
                    length(Fds)
            end, Deadline), "fdset calls"};
run(pipeline, Deadline) ->
    Socks = bench_lib:udp_many(1000),
    Fds = [bench_lib:fd(S) || S <- Socks],
    {repeat(fun() ->
                    {P, Ref} = spawn_monitor(fun() -> pipeline(Fds) end),
                    receive {'DOWN', Ref, process, P, normal} -> ok end,
                    ok = bench_lib:wait_disarmed(0),
                    length(Fds)
            end, Deadline), "fdset requests, pipelined"};
run(rearm, Deadline) ->
    {N, _} = echo(rearm, Deadline),
    {N, "re-arm round trips"};
run(echo, Deadline) ->
    echo(inert, Deadline).

echo(Kind, Deadline) ->
    Srv = bench_echo_srv:start(Kind),
    {_, _, Port} = Srv,
    Parent = self(),
    Pids = [spawn_link(fun() -> echo_client(Port, Deadline, Parent) end)
            || _ <- lists:seq(1, 50)],
    N = lists:sum([receive {done, P, K} -> K end || P <- Pids]),
    ok = bench_echo_srv:stop(Srv),
    {N, "echo round trips"}.

%% fdset no longer waits for inertd's answer, so requests pipelined
%% are fdset calls: claim in the ownership table, send, return.
pipeline(Fds) ->
    _ = [ok = inert:fdset(Fd, read) || Fd <- Fds],
    ok.

repeat(F, Deadline) ->
    repeat(F, Deadline, 0).

repeat(F, Deadline, N) ->
    case erlang:monotonic_time(millisecond) < Deadline of
        true -> repeat(F, Deadline, N + F());
        false -> N
    end.

echo_client(Port, Deadline, Parent) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {nodelay, true}]),
    Payload = binary:copy(<<"e">>, 64),
    N = repeat(fun() ->
                       ok = gen_tcp:send(C, Payload),
                       {ok, _} = gen_tcp:recv(C, 64, 5000),
                       1
               end, Deadline),
    ok = gen_tcp:close(C),
    Parent ! {done, self(), N}.

%% eprof over every process (the callers, inert_srv, the echo server).
eprof(Run, File) ->
    {ok, _} = eprof:start(),
    Srv = whereis(inert),
    profiling = eprof:start_profiling([self(), Srv], {'_', '_', '_'}, [set_on_spawn]),
    R = Run(),
    profiling_stopped = eprof:stop_profiling(),
    ok = eprof:log(File),
    eprof:analyze(total, [{sort, time}]),
    stopped = eprof:stop(),
    R.
