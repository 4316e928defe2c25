%% @doc Prototypes measured against native inert in one run (`bench/run.sh
%% proto', not part of `make bench'): the re-arm load of bench_rearm (50
%% gen_tcp connections, 64-byte request/response) served by
%%   native        the re-arm server on the original driver (its own VM)
%%   inert         the same on this project's inert
%%   dup_kept      readiness from ERTS's poll set through a socket object
%%                 on a dup of each connection's fd, kept for the
%%                 connection's life (bench_echo_srv)
%%   dup_per_wait  the same with a dup made and closed for every wait
%%   gen           gen_tcp {active, once}
%% Windows alternate contender by contender, `Reps' rounds; the table has
%% the median rate and its ratio to native.
-module(bench_proto).

-export([main/1]).

-define(KINDS, [native, inert, dup_kept, dup_per_wait, gen]).

%% @doc Entry point for `-run': `main([Reps])'. Halts the VM.
-spec main([string()]) -> no_return().
main([RepsS]) ->
    Reps = list_to_integer(RepsS),
    ok = logger:set_primary_config(level, warning),
    ok = inert:start(),
    Native = bench_native:start(),
    Kinds = [K || K <- ?KINDS, K =/= native orelse element(1, Native) =:= peer],
    Rounds = [[{K, rate(K, Native)} || K <- Kinds] || _ <- lists:seq(1, Reps)],
    ok = bench_native:stop(Native),
    Median = fun(K) -> bench_lib:median([R || Round <- Rounds, {K1, R} <- Round, K1 =:= K]) end,
    N = case lists:member(native, Kinds) of
        true -> Median(native);
        false -> none
    end,
    io:format("| re-arm, 50 connections | req/s | / native | every round |~n|---|--:|--:|---|~n"),
    [io:format("| ~s | ~b | ~s | ~w |~n",
               [K, round(Median(K)), ratio(Median(K), N),
                [round(R) || Round <- Rounds, {K1, R} <- Round, K1 =:= K]])
     || K <- Kinds],
    halt(0).

rate(native, {peer, _, _} = Native) ->
    maps:get(rate, bench_native:call(Native, bench_echo, throughput, [rearm, 50, 1500]));
rate(inert, _) ->
    maps:get(rate, bench_echo:throughput(rearm, 50, 1500));
rate(K, _) ->
    maps:get(rate, bench_echo:throughput(K, 50, 1500)).

ratio(_, none) -> "n/a";
ratio(A, B) -> io_lib:format("~.2f", [A / B]).
