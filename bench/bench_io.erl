%% @doc The I/O handle (inert_io) under the request/response load of
%% bench_echo: 50 gen_tcp clients, 64-byte round trips, against
%%   io          inert_io `{active, true}' (this project's inertd),
%%   native      native inert + gen_tcp passive recv (bench_echo_srv
%%               `rearm' in the original driver's VM, bench_native),
%%   rearm       the same on this project's inert,
%%   gen         gen_tcp `{active, once}'.
%% Repetitions are interleaved; the median of each is printed with the
%% ratios to native. Not part of `make bench': run
%% `sh bench/run_io.sh' (after `make build').
-module(bench_io).

-export([main/1]).

-spec main([string()]) -> no_return().
main([RepsS, MsS]) ->
    {Reps, Ms} = {list_to_integer(RepsS), list_to_integer(MsS)},
    ok = inert:start(),
    Native = bench_native:start(),
    Kinds = [io, native, rearm, gen],
    Runs = [{K, rate(K, Ms, Native)} || _ <- lists:seq(1, Reps), K <- Kinds],
    Med = [{K, bench_lib:median([R || {K1, R} <- Runs, K1 =:= K, is_number(R)])} || K <- Kinds],
    N = proplists:get_value(native, Med),
    io:format("echo, 50 clients x 64 bytes, ~b x ~b ms, req/s (median) and / native:~n", [Reps, Ms]),
    _ = [io:format("  ~-6w ~10.1f  ~s~n", [K, float(R), ratio(R, N)]) || {K, R} <- Med, is_number(R)],
    io:format("  every run: ~p~n", [Runs]),
    ok = bench_native:stop(Native),
    halt(0).

rate(native, Ms, Native) ->
    case bench_native:call(Native, bench_echo, throughput, [rearm, 50, Ms]) of
        none -> none;
        #{rate := R} -> R
    end;
rate(K, Ms, _Native) ->
    #{rate := R} = bench_echo:throughput(K, 50, Ms),
    R.

ratio(_, N) when not is_number(N) -> "n/a";
ratio(R, N) -> io_lib:format("~.2f", [R / N]).
