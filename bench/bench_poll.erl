%% @doc `poll/1' on an always-ready fd: how many "is it ready? yes"
%% answers a process gets per second.
%%
%%   inert    `inert:poll(Fd)' -> `{ok, read}' on a UDP socket that has a
%%            datagram pending and never reads it.
%%   socket   `socket:recv(S, 0, [peek], nowait)' -> `{ok, Data}' on the
%%            same kind of socket: OTP socket's way to ask an fd that is
%%            ready without blocking and without consuming what is there.
%%            It is one NIF call (one recvfrom(2)): the cheapest answer
%%            OTP gives to the question poll/1 answers.
%%   gen      `inet:setopts(P, [{active, once}])' and the `{udp, ...}'
%%            message on a gen_udp port with datagrams pending: readiness
%%            in gen_udp always comes with the data, so the port is
%%            refilled with 100 datagrams between timed stretches (the
%%            sends are not timed).
%%   native   as inert, in the VM of the original driver (bench_native).
%% Each contender runs for a fixed time per repetition, after a short
%% warm-up; repetitions are interleaved and the median rate is reported.
-module(bench_poll).

-export([run/2, run/3]).

-define(BATCH, 100).
-define(PAYLOAD, <<"ready">>).

%% @doc `Reps' interleaved repetitions of `Ms' milliseconds per contender;
%% returns calls/s per contender (median) and every repetition's rate.
-spec run(pos_integer(), pos_integer()) -> #{atom() => map()}.
run(Reps, Ms) ->
    run(Reps, Ms, bench_wake:contenders()).

%% @doc The same for the contenders `Kinds'.
-spec run(pos_integer(), pos_integer(), [bench_wake:kind()]) -> #{atom() => map()}.
run(Reps, Ms, Kinds) ->
    Snd = bench_lib:sender(),
    _ = [one(K, Snd, min(Ms, 100)) || K <- Kinds],            % warm-up
    Runs = [{K, one(K, Snd, Ms)} || _ <- lists:seq(1, Reps), K <- Kinds],
    ok = socket:close(Snd),
    maps:from_list(
      [{K, #{rate => bench_lib:median(Rs), reps => Rs}}
       || K <- Kinds, Rs <- [[R || {K1, R} <- Runs, K1 =:= K]]]).

one(gen, Snd, Ms) ->
    {ok, P} = gen_udp:open(0, [binary, {active, false}, {ip, {127, 0, 0, 1}},
                                 {recbuf, 1 bsl 20}]),
    Dest = bench_lib:addr(P),
    Rate = gen_loop(P, Snd, Dest, Ms * 1000000, 0, 0),
    ok = gen_udp:close(P),
    Rate;
one(Kind, Snd, Ms) ->
    S = bench_lib:udp(),
    ok = socket:sendto(Snd, ?PAYLOAD, bench_lib:addr(S)),
    Fd = bench_lib:fd(S),
    %% The datagram is in the socket's buffer when sendto returns
    %% (loopback): the fd is ready from here on.
    {ok, _} = socket:recv(S, 0, [peek], 0),
    Call = case Kind of
        inert -> fun() -> {ok, read} = inert:poll(Fd) end;
        native -> fun() -> {ok, read} = inert:poll(Fd) end;
        socket -> fun() -> {ok, _} = socket:recv(S, 0, [peek], nowait) end
    end,
    T0 = bench_lib:now_ns(),
    N = loop(Call, T0 + Ms * 1000000, 0),
    Rate = bench_lib:rate(N, bench_lib:now_ns() - T0),
    ok = socket:close(S),
    Rate.

%% Calls in stretches of ?BATCH until the deadline.
loop(Call, Deadline, N) ->
    calls(Call, ?BATCH),
    case bench_lib:now_ns() < Deadline of
        true -> loop(Call, Deadline, N + ?BATCH);
        false -> N + ?BATCH
    end.

calls(_Call, 0) -> ok;
calls(Call, K) -> _ = Call(), calls(Call, K - 1).

%% gen_udp: refill (untimed), then time ?BATCH active-once deliveries.
gen_loop(P, Snd, Dest, Budget, Spent, N) when Spent < Budget ->
    _ = [ok = socket:sendto(Snd, ?PAYLOAD, Dest) || _ <- lists:seq(1, ?BATCH)],
    T0 = bench_lib:now_ns(),
    ok = gen_once(P, ?BATCH),
    gen_loop(P, Snd, Dest, Budget, Spent + bench_lib:now_ns() - T0, N + ?BATCH);
gen_loop(_P, _Snd, _Dest, _Budget, Spent, N) ->
    bench_lib:rate(N, Spent).

gen_once(_P, 0) ->
    ok;
gen_once(P, K) ->
    ok = inet:setopts(P, [{active, once}]),
    receive
        {udp, P, _, _, _} -> gen_once(P, K - 1)
    after 5000 -> error({lost_wakeup, gen})
    end.
