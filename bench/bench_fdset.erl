%% @doc Arming rate: how many fds per second get a one-shot read interest,
%% over N distinct idle UDP sockets (nothing becomes ready).
%%
%%   inert    `inert:fdset(Fd, read)', and at the end one round trip
%%            to inertd (the time includes inertd arming them all)
%%   socket   `socket:recv(S, 0, nowait)' -> `{select, _}'
%%   gen      `inet:setopts(P, [{active, once}])' on a gen_udp port
%%   native   `inert:fdset(Fd, read)' of the original driver, in its own
%%            VM (bench_native): it returns once the VM's poll set has the
%%            fd, so no barrier
%%
%% `Callers' processes split the N fds and arm them at the same time; with
%% one caller it is the sequential rate of a single process. Each
%% contender arms and disarms everything once before the timed
%% repetitions (first use grows fd tables, maps and pollsets). Between
%% repetitions everything is disarmed (inert: the callers exit and the
%% service clears their interests; native: `inert:fdclr/1'; socket:
%% `socket:cancel/2'; gen: `{active, false}'). inert and socket use the same N sockets and
%% alternate; gen_udp ports are opened after those are closed, so the VM
%% never holds more than N of them.
-module(bench_fdset).

-export([run/3, run/4]).

%% @doc calls/s per contender (median of `Reps') for `N' fds armed by
%% `Callers' processes.
-spec run(pos_integer(), pos_integer(), pos_integer()) -> #{atom() => map()}.
run(N, Callers, Reps) ->
    run(N, Callers, Reps, bench_wake:contenders()).

%% @doc The same for the contenders `Kinds'.
-spec run(pos_integer(), pos_integer(), pos_integer(), [bench_wake:kind()]) -> #{atom() => map()}.
run(N, Callers, Reps, Kinds) ->
    Socks = bench_lib:udp_many(N),
    Fds = [bench_lib:fd(S) || S <- Socks],
    Pairs = [P || {K, _} = P <- [{inert, Fds}, {native, Fds}, {socket, Socks}],
                  lists:member(K, Kinds)],
    _ = [arm(K, Items, Callers) || {K, Items} <- Pairs],       % warm-up
    R1 = [{K, arm(K, Items, Callers)} || _ <- lists:seq(1, Reps), {K, Items} <- Pairs],
    ok = bench_lib:close_all(Socks),
    R2 = case lists:member(gen, Kinds) of
        true -> gen(N, Callers, Reps);
        false -> []
    end,
    Runs = R1 ++ R2,
    maps:from_list(
      [{K, #{rate => bench_lib:median(Rs), reps => Rs}}
       || K <- Kinds, Rs <- [[N / (Ns / 1.0e9) || {K1, Ns} <- Runs, K1 =:= K]]]).

gen(N, Callers, Reps) ->
    Ports = bench_lib:gen_udp_many(N),
    _ = arm(gen, Ports, Callers),                              % warm-up
    R2 = [{gen, arm(gen, Ports, Callers)} || _ <- lists:seq(1, Reps)],
    ok = bench_lib:close_all(Ports),
    R2.

%% Arm every item from `Callers' processes; returns the time from the
%% start signal to the last caller done (ns), after disarming.
arm(Kind, Items, Callers) ->
    Parent = self(),
    Slices = slices(Items, Callers),
    Workers = [spawn_monitor(fun() -> worker(Kind, Slice, Parent) end) || Slice <- Slices],
    _ = [receive {ready, Pid} -> ok end || {Pid, _} <- Workers],
    T0 = bench_lib:now_ns(),
    _ = [Pid ! go || {Pid, _} <- Workers],
    Ends = [receive {armed, Pid, T} -> T end || {Pid, _} <- Workers],
    _ = [Pid ! disarm || {Pid, _} <- Workers],
    _ = [receive {'DOWN', Ref, process, Pid, normal} -> ok end || {Pid, Ref} <- Workers],
    case Kind of
        inert -> bench_lib:wait_disarmed(0);
        _ -> ok
    end,
    lists:max(Ends) - T0.

worker(Kind, Items, Parent) ->
    Barrier = barrier(Kind),
    Parent ! {ready, self()},
    receive go -> ok end,
    Undo = [arm1(Kind, I) || I <- Items],
    ok = Barrier(),
    Parent ! {armed, self(), bench_lib:now_ns()},
    receive disarm -> ok end,
    lists:foreach(fun(F) -> F() end, Undo).

%% inert's fdset returns once the request is sent; inertd arms the fd
%% after. To time what socket's `{select, _}' means (the fd is in the
%% kernel's poll set), an inert worker ends with one request that inertd
%% answers, behind all of its fdsets (inertd handles them in order): an
%% fdclr of a spare fd nobody armed.
barrier(inert) ->
    Spare = bench_lib:udp(),
    Fd = bench_lib:fd(Spare),
    fun() -> Ok = inert:fdclr(Fd), ok = socket:close(Spare), Ok end;
barrier(_) ->
    fun() -> ok end.

%% Arm one item; returns how to disarm it.
arm1(inert, Fd) ->
    ok = inert:fdset(Fd, read),
    fun() -> ok end;    % exiting disarms: inert_srv tells inertd
arm1(native, Fd) ->
    ok = inert:fdset(Fd, read),
    fun() -> ok = inert:fdclr(Fd) end;
arm1(socket, S) ->
    {select, Info} = socket:recv(S, 0, nowait),
    fun() -> ok = socket:cancel(S, Info) end;
arm1(gen, P) ->
    ok = inet:setopts(P, [{active, once}]),
    fun() -> ok = inet:setopts(P, [{active, false}]) end.

slices(Items, 1) ->
    [Items];
slices(Items, K) ->
    Size = (length(Items) + K - 1) div K,
    slices_of(Items, Size).

slices_of([], _) -> [];
slices_of(L, Size) when length(L) =< Size -> [L];
slices_of(L, Size) ->
    {H, T} = lists:split(Size, L),
    [H | slices_of(T, Size)].
