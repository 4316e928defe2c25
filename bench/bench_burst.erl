%% @doc The burst: one process arms N idle UDP sockets, then itself sends
%% one datagram to each (from one unbound sender socket), then waits for
%% the N readiness messages. Two times per burst, both ending at its last
%% message:
%%   from_arm   from the return of its last arming call (`fdset')
%%   from_send  from the return of its last `sendto'
%% and how many of the N messages were already in its mailbox when its
%% last send returned (`early'); and the slots of inertd's fd table when
%% it has started (`fd_table_at_start', FDSize in /proc: inertd receives
%% an fd per fdset, and the kernel grows the table of a multi-threaded
%% process with an RCU grace period, milliseconds each time).
%%
%% Each repetition opens N fresh sockets (untimed), starts the service
%% afresh, and makes two bursts on them: `cold', the first burst a fresh
%% service sees (what a user sees the first time it arms that many fds:
%% inertd's tables, and the kernel's fd table of inertd, grow), and
%% `warm', the second. Contenders:
%%   inert        `inert:fdset(Fd, read)', `{inert_read, _, Fd}'; inertd
%%                started by `inert:start()' (io_uring where allowed)
%%   inert_epoll  the same with inertd's `-poller epoll'
%%   native       the original driver (its own VM, bench_native), the
%%                driver loaded afresh
%%   socket       `socket:recv(S, 0, nowait)', `{'$socket', S, select, _}'
%%   gen          gen_udp `{active, once}', `{udp, ...}'
%% Median over the repetitions of each figure, contenders interleaved.
-module(bench_burst).

-export([run/3]).

-define(PAYLOAD, <<"burst">>).
-define(LOST_MS, 10000).

%% @doc `Reps' repetitions of a cold and a warm burst over `N' sockets
%% for each contender of `Kinds' (inert measures both pollers).
-spec run(pos_integer(), pos_integer(), [bench_wake:kind()]) -> map().
run(N, Reps, Kinds0) ->
    Kinds = lists:append([case K of inert -> [inert, inert_epoll]; _ -> [K] end
                          || K <- Kinds0]),
    Runs = [{K, rep(K, N)} || _ <- lists:seq(1, Reps), K <- Kinds],
    case lists:member(inert, Kinds) of
        true -> ok = bench_lib:restart_inert(auto);
        false -> ok
    end,
    maps:from_list(
      [{K, #{cold => summary([C || {C, _} <- Rs]), warm => summary([W || {_, W} <- Rs])}}
       || K <- Kinds, Rs <- [[R || {K1, R} <- Runs, K1 =:= K]]]).

summary(Bursts) ->
    maps:from_list(
      [{F, bench_lib:median([maps:get(F, B) || B <- Bursts])} || F <- maps:keys(hd(Bursts))]
      ++ [{reps, Bursts}]).

%% Fresh sockets, a fresh service, a cold and a warm burst.
rep(Kind, N) ->
    {Items, _, Snd} = Rig = open(Kind, N),
    ok = fresh(Kind),
    #{fd_table := Slots} = bench_lib:proc_status(bench_lib:inertd_pid()),
    Cold = (burst(Kind, Rig))#{fd_table_at_start => Slots},
    Warm = burst(Kind, Rig),
    ok = bench_lib:close_all([Snd | Items]),
    {Cold, Warm}.

open(gen, N) ->
    Ports = bench_lib:gen_udp_many(N),
    {Ports, [bench_lib:addr(P) || P <- Ports], bench_lib:sender()};
open(_, N) ->
    Socks = bench_lib:udp_many(N),
    {Socks, [bench_lib:addr(S) || S <- Socks], bench_lib:sender()}.

fresh(inert) -> bench_lib:restart_inert(auto);
fresh(inert_epoll) -> bench_lib:restart_inert(epoll);
fresh(native) -> ok = inert:stop(), inert:start();
fresh(_) -> ok.

burst(Kind, {Items, Dests, Snd}) ->
    Arm = arm(Kind),
    lists:foreach(Arm, Items),
    TArmed = bench_lib:now_ns(),
    lists:foreach(fun(D) -> ok = socket:sendto(Snd, ?PAYLOAD, D) end, Dests),
    TSent = bench_lib:now_ns(),
    {message_queue_len, Early} = process_info(self(), message_queue_len),
    ok = collect(Kind, length(Items)),
    TLast = bench_lib:now_ns(),
    _ = [1 = bench_lib:drain(S) || Kind =/= gen, S <- Items],
    #{from_arm_ns => TLast - TArmed, from_send_ns => TLast - TSent,
      send_ns => TSent - TArmed, early => Early}.

arm(socket) -> fun(S) -> {select, _} = socket:recv(S, 0, nowait) end;
arm(gen) -> fun(P) -> ok = inet:setopts(P, [{active, once}]) end;
arm(_) -> fun(S) -> ok = inert:fdset(bench_lib:fd(S), read) end.

collect(_Kind, 0) ->
    ok;
collect(Kind, K) ->
    receive
        {inert_read, _, _} when Kind =/= socket, Kind =/= gen -> collect(Kind, K - 1);
        {'$socket', _, select, _} when Kind =:= socket -> collect(Kind, K - 1);
        {udp, _, _, _, _} when Kind =:= gen -> collect(Kind, K - 1)
    after ?LOST_MS -> error({lost_wakeups, Kind, K})
    end.
