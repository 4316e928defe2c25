%% @doc The re-arm pattern, as production users of inert serve
%% connections (helium's erlang-libp2p): `Clients' gen_tcp connections,
%% each served by a process holding a passive gen_tcp socket that arms
%% `inert:fdset(FD)' on `inet:getfd/1', and on `{inert_read, _, FD}' does
%% one `gen_tcp:recv/3', answers and arms again (bench_echo_srv, kind
%% `rearm'). The clients are bench_echo's: 64-byte request/response, one
%% in flight per client. Contenders:
%%   inert    the server above on this project's inert
%%   native   the same server on the original driver (its own VM,
%%            bench_native)
%%   gen      the gen_tcp {active, once} server of bench_echo_srv
%% Throughput (req/s, median of `Reps' windows of `Ms' ms, contenders
%% interleaved), and CPU per request (VM, inertd) in each window.
-module(bench_rearm).

-export([run/4]).

%% @doc Throughput per contender of `Kinds' (those of inert, native, gen).
-spec run(pos_integer(), pos_integer(), pos_integer(), [bench_wake:kind()]) ->
    #{bench_wake:kind() => map()}.
run(Clients, Reps, Ms, Kinds0) ->
    Kinds = [K || K <- Kinds0, K =/= socket],
    Runs = [{K, bench_echo:throughput(server(K), Clients, Ms)}
            || _ <- lists:seq(1, Reps), K <- Kinds],
    maps:from_list(
      [{K, #{rate => bench_lib:median([R || #{rate := R} <- Ws]),
             reps => [R || #{rate := R} <- Ws],
             cpu_vm_ns => bench_lib:median([V || #{cpu_vm_ns := V} <- Ws]),
             cpu_inertd_ns => bench_lib:median([D || #{cpu_inertd_ns := D} <- Ws])}}
       || K <- Kinds, Ws <- [[W || {K1, W} <- Runs, K1 =:= K]]]).

server(gen) -> gen;
server(_) -> rearm.           % inert, native
