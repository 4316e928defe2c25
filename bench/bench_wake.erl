%% @doc Wake latency: an armed UDP fd is made readable (one datagram from
%% 127.0.0.1), and the time until the readiness message reaches the
%% process that armed it.
%%
%% One round, for each contender (T0 just before the send, T1 when the
%% message is received; arming and reading the datagram are not timed):
%%   inert    `inert:fdset(Fd, read)', send, `{inert_read, PollId, Fd}',
%%            then `socket:recv(S, 0, 0)'
%%   socket   `socket:recv(S, 0, nowait)' -> `{select, _}', send,
%%            `{'$socket', S, select, H}', then `socket:recv(S, 0, nowait)'
%%   gen      `inet:setopts(P, [{active, once}])' on a gen_udp port, send,
%%            `{udp, P, Ip, Port, Data}'
%%   native   as inert, in the VM of the original driver (bench_native)
%% The contenders run in interleaved blocks so that a noisy stretch of the
%% machine hits all of them alike. VM and inertd CPU time is summed per
%% contender from /proc (schedstat of every thread), and so are the
%% context switches of both (every sleep and wake-up of a thread).
-module(bench_wake).

-export([run/3, run/4, setup/1, rounds/4, teardown/1, contenders/0, all_kinds/0]).

-export_type([kind/0, rig/0, source/0]).

%% `native': the original driver's `inert', in its own VM (bench_native).
-type kind() :: inert | native | socket | gen.
%% `{inert, Handle}': inert on a private service (prim_inert:start/0).
-type rig() :: {kind() | {inert, pid()}, socket:socket() | port(), map(), integer()}.
%% The sending socket and the idle gap (ms) before each send.
-type source() :: {socket:socket(), non_neg_integer()}.

-define(PAYLOAD, <<"wake-up!">>).
-define(LOST_MS, 5000).

%% @doc The contenders measured in the VM of this project's inert.
-spec contenders() -> [kind()].
contenders() ->
    [inert, socket, gen].

%% @doc Every contender, in the order they are reported.
-spec all_kinds() -> [kind()].
all_kinds() ->
    [inert, native, socket, gen].

%% @doc run/4 for this VM's contenders.
-spec run(pos_integer(), pos_integer(), non_neg_integer()) -> #{kind() => map()}.
run(Blocks, PerBlock, Gap) ->
    run(Blocks, PerBlock, Gap, contenders()).

%% @doc `Blocks' interleaved blocks of `PerBlock' rounds per contender of
%% `Kinds', after a warm-up block, with `Gap' ms idle before each send.
%% Returns per contender the samples (ns) and the CPU time the VM and
%% inertd spent on them.
-spec run(pos_integer(), pos_integer(), non_neg_integer(), [kind()]) -> #{kind() => map()}.
run(Blocks, PerBlock, Gap, Kinds) ->
    Src = {bench_lib:sender(), Gap},
    Rigs = [setup(K) || K <- Kinds],
    _ = [rounds(R, Src, min(PerBlock, 200), false) || R <- Rigs],
    Daemon = bench_lib:inertd_pid(),
    Acc0 = maps:from_list([{K, #{samples => [], cpu_vm_ns => 0, cpu_inertd_ns => 0,
                                 inertd_ctxt_switches => 0, vm_ctxt_switches => 0}}
                           || K <- Kinds]),
    Acc = lists:foldl(
            fun(_, A) ->
                    lists:foldl(fun(Rig, A1) -> block(Rig, Src, PerBlock, Daemon, A1) end,
                                A, Rigs)
            end, Acc0, lists:seq(1, Blocks)),
    _ = [teardown(R) || R <- Rigs],
    ok = socket:close(element(1, Src)),
    maps:map(fun(_, M = #{samples := S}) -> M#{rounds => length(S)} end, Acc).

block({Kind, _, _, _} = Rig, Src, N, Daemon, Acc) ->
    #{ctxt_switches := C0} = bench_lib:proc_status(Daemon),
    #{ctxt_switches := VC0} = bench_lib:proc_status(self),
    Vm0 = bench_lib:cpu_ns(self),
    D0 = bench_lib:cpu_ns(Daemon),
    S = rounds(Rig, Src, N, true),
    Vm1 = bench_lib:cpu_ns(self),
    D1 = bench_lib:cpu_ns(Daemon),
    #{ctxt_switches := C1} = bench_lib:proc_status(Daemon),
    #{ctxt_switches := VC1} = bench_lib:proc_status(self),
    #{samples := Old, cpu_vm_ns := V, cpu_inertd_ns := D,
      inertd_ctxt_switches := C, vm_ctxt_switches := VC} = maps:get(Kind, Acc),
    Acc#{Kind => #{samples => S ++ Old, cpu_vm_ns => V + Vm1 - Vm0,
                   cpu_inertd_ns => D + D1 - D0, inertd_ctxt_switches => C + C1 - C0,
                   vm_ctxt_switches => VC + VC1 - VC0}}.

%% @doc A receiving socket (or gen_udp port) for one contender.
-spec setup(kind() | {inert, pid()}) -> rig().
setup(gen) ->
    P = bench_lib:gen_udp(),
    {gen, P, bench_lib:addr(P), -1};
setup(Kind) ->                  % inert, {inert, Handle}, native, socket
    S = bench_lib:udp(),
    {Kind, S, bench_lib:addr(S), bench_lib:fd(S)}.

%% @doc Close a rig.
-spec teardown(rig()) -> ok.
teardown({_, S, _, _}) ->
    bench_lib:close_all([S]).

%% @doc `N' timed rounds; the samples (ns) are returned when `Keep'.
-spec rounds(rig(), source(), non_neg_integer(), boolean()) -> [integer()].
rounds(Rig, Src, N, Keep) ->
    rounds(Rig, Src, N, Keep, []).

rounds(_Rig, _Src, 0, _Keep, Acc) ->
    Acc;
rounds(Rig, Src, N, Keep, Acc) ->
    Ns = round1(Rig, Src),
    rounds(Rig, Src, N - 1, Keep, case Keep of true -> [Ns | Acc]; false -> Acc end).

round1({{inert, Handle}, S, Dest, Fd}, Src) ->
    round_inert(fun() -> prim_inert:fdset(Handle, Fd, read) end, S, Dest, Fd, Src);
round1({Inert, S, Dest, Fd}, Src) when Inert =:= inert; Inert =:= native ->
    round_inert(fun() -> inert:fdset(Fd, read) end, S, Dest, Fd, Src);
round1({socket, S, Dest, _}, {Snd, Gap}) ->
    {select, _} = socket:recv(S, 0, nowait),
    ok = gap(Gap),
    T0 = bench_lib:now_ns(),
    ok = socket:sendto(Snd, ?PAYLOAD, Dest),
    receive
        {'$socket', S, select, _} -> ok
    after ?LOST_MS -> error({lost_wakeup, socket})
    end,
    T1 = bench_lib:now_ns(),
    {ok, _} = socket:recv(S, 0, nowait),
    T1 - T0;
round1({gen, P, Dest, _}, {Snd, Gap}) ->
    ok = inet:setopts(P, [{active, once}]),
    ok = gap(Gap),
    T0 = bench_lib:now_ns(),
    ok = socket:sendto(Snd, ?PAYLOAD, Dest),
    receive
        {udp, P, _, _, _} -> ok
    after ?LOST_MS -> error({lost_wakeup, gen})
    end,
    bench_lib:now_ns() - T0.

round_inert(Fdset, S, Dest, Fd, {Snd, Gap}) ->
    ok = Fdset(),
    ok = gap(Gap),
    T0 = bench_lib:now_ns(),
    ok = socket:sendto(Snd, ?PAYLOAD, Dest),
    receive
        {inert_read, _, Fd} -> ok
    after ?LOST_MS -> error({lost_wakeup, inert})
    end,
    T1 = bench_lib:now_ns(),
    {ok, _} = socket:recv(S, 0, 0),
    T1 - T0.

%% Idle time between arming and the send: 0 (back to back) or
%% milliseconds in `receive after', long enough for every thread of the VM
%% and of inertd to stop spinning and sleep.
gap(0) -> ok;
gap(Ms) -> receive after Ms -> ok end.
