%% @doc Scale and idle: as many armed fds as the fd limit allows.
%%
%% inert: a holder process arms 1,000 idle UDP sockets (they never become
%% ready) and ten more arm the bulk, up to the large count, on the same
%% daemon; between blocks of back-to-back wake-latency rounds on one more
%% socket (bench_wake) the bulk is armed or released, in the order small,
%% large, large, small, small, ... so that both counts see the same
%% machine and the same daemon (which CPU its thread runs on sticks for a
%% while and changes the latency by a factor of 3). The per-event cost is
%% the CPU time (VM + inertd) per round, the latency is reported beside
%% it. inertd's RSS is read with nothing, 1,000 and the large count armed
%% (the first time), giving bytes per armed fd and a projection to
%% 100,000; with everything armed and nothing happening, inertd's context
%% switches (voluntary + nonvoluntary, all threads) are counted over the
%% idle window. The baselines arm the same counts in the VM one after the
%% other (socket: `recv nowait'; gen: gen_udp `{active, once}') and report
%% the VM's RSS growth; native (the original driver, in its own VM:
%% bench_native) arms them with its `inert:fdset/2' like a baseline. Last, fan-in at once (bench_fanin) over 1,000 and
%% over the large count: the per-event cost when they all fire.
-module(bench_scale).

-export([run/4, run/5, max_fds/1]).

-define(SMALL, 1000).
-define(GAP_MS, 0).

%% @doc How many fds the VM may arm: the soft RLIMIT_NOFILE (inertd
%% inherits it) less what the VM already uses and a margin, at most `Cap'.
-spec max_fds(pos_integer()) -> pos_integer().
max_fds(Cap) ->
    min(Cap, bench_lib:fd_limit() - bench_lib:open_fds() - 1000).

%% @doc 1,000 (`small') and `Total' (`large') fds armed. Probe rounds:
%% `Blocks' pairs of blocks of `PerBlock'; `IdleMs' idle window; `FanReps'
%% fan-in repetitions.
-spec run(pos_integer(), {pos_integer(), pos_integer()}, pos_integer(), pos_integer()) ->
    #{atom() => term()}.
run(Total, Probe, IdleMs, FanReps) ->
    run(Total, Probe, IdleMs, FanReps, bench_wake:contenders()).

%% @doc The same for the contenders `Kinds'.
-spec run(pos_integer(), {pos_integer(), pos_integer()}, pos_integer(), pos_integer(),
          [bench_wake:kind()]) -> #{atom() => term()}.
run(Total, Probe, IdleMs, FanReps, Kinds) ->
    Small = min(?SMALL, Total div 4),
    Large = Total,
    Sides = [{K, case K of
                     inert -> inert(Small, Large, Probe, IdleMs);
                     _ -> vm_side(K, Small, Large, Probe)
                 end} || K <- Kinds],
    Fanin = #{small => bench_fanin:at_once(Small, FanReps, Kinds),
              large => bench_fanin:at_once(Large, FanReps, Kinds)},
    maps:merge(maps:from_list(Sides), #{fanin => Fanin, small => Small, large => Large}).

inert(Small, Large, {Blocks, PerBlock}, IdleMs) ->
    D = bench_lib:inertd_pid(),
    Rss0 = rss(D),
    Base = bench_lib:udp_many(Small - 1),
    Bulk = bench_lib:udp_many(Large - Small),
    Arm = fun(S) -> ok = inert:fdset(bench_lib:fd(S), read) end,
    BaseHolder = holder(),
    ok = hold(BaseHolder, Arm, Base),
    RssS = rss(D),
    Snd = bench_lib:sender(),
    Rig = bench_wake:setup(inert),
    _ = bench_wake:rounds(Rig, {Snd, ?GAP_MS}, 200, false),
    %% small, large, large, small, small, large, ...: the bulk is armed
    %% and released on the same daemon between blocks.
    Order = lists:append([case I rem 2 of 1 -> [small, large]; 0 -> [large, small] end
                          || I <- lists:seq(1, Blocks)]),
    Ctx = #{bulk => Bulk, arm => Arm, daemon => D, small => Small},
    {Acc, BulkHolders, RssL} = lists:foldl(
                       fun(Size, {A, Holders, Rss}) ->
                               {Holders1, Rss1} = bulk(Size, Holders, Ctx, Rss),
                               {_, B} = block({Size, Rig, D}, Snd, PerBlock, maps:get(Size, A, #{})),
                               {A#{Size => B}, Holders1, Rss1}
                       end, {#{}, [], undefined}, Order ++ [large]),
    #{counters := #{armed := Armed, heap_bytes := Heap, sys_bytes := Sys}} = inert:info(),
    Idle = idle([D], IdleMs),
    ok = bench_wake:teardown(Rig),
    ok = socket:close(Snd),
    _ = bulk(small, [BaseHolder | BulkHolders], Ctx#{small := 0}, RssL),
    ok = bench_lib:close_all(Base ++ Bulk),
    ok = bench_lib:wait_disarmed(0),
    PerFd = (RssL - RssS) / (Large - Small),
    (maps:map(fun(_, A) -> summary(A) end, Acc))#{
      armed_seen => Armed, go_heap_bytes => Heap, go_sys_bytes => Sys,
      rss0 => Rss0, rss_small => RssS, rss_large => RssL, bytes_per_fd => PerFd,
      rss_100k => RssL + PerFd * (100000 - Large), idle => Idle}.

%% Arm the bulk (10 holders at once) for `large', release it for `small';
%% the RSS is read the first time the bulk is armed.
bulk(large, [], #{bulk := Bulk, arm := Arm, daemon := D}, Rss) ->
    Holders = [{holder(), Slice} || Slice <- slices(Bulk, 10)],
    _ = [H ! {arm, Arm, Slice, self()} || {H, Slice} <- Holders],
    _ = [receive {held, H} -> ok end || {H, _} <- Holders],
    {[H || {H, _} <- Holders], case Rss of undefined -> rss(D); _ -> Rss end};
bulk(small, Holders, #{small := Small}, Rss) when Holders =/= [] ->
    _ = [release(H) || H <- Holders],
    ok = bench_lib:wait_disarmed(Small),
    {[], Rss};
bulk(_, Holders, _Ctx, Rss) ->
    {Holders, Rss}.

slices(L, K) ->
    Size = (length(L) + K - 1) div K,
    [lists:sublist(L, I, Size) || I <- lists:seq(1, length(L), Size)].

%% The baselines: everything lives in the VM; its RSS growth per armed fd.
vm_side(Kind, Small, Large, {Blocks, PerBlock}) ->
    Items = case Kind of
        gen -> bench_lib:gen_udp_many(Large - 1);
        _ -> bench_lib:udp_many(Large - 1)          % socket, native
    end,
    Arm = case Kind of
        socket -> fun(S) -> {select, _} = socket:recv(S, 0, nowait) end;
        gen -> fun(P) -> ok = inet:setopts(P, [{active, once}]) end;
        native -> fun(S) -> ok = inert:fdset(bench_lib:fd(S), read) end
    end,
    {First, Rest} = lists:split(Small - 1, Items),
    Holder = holder(),
    Rss0 = rss(self),
    ok = hold(Holder, Arm, First),
    SmallM = probe(Kind, Blocks * PerBlock),
    ok = hold(Holder, Arm, Rest),
    LargeM = probe(Kind, Blocks * PerBlock),
    RssN = rss(self),
    _ = Kind =:= native andalso
        hold(Holder, fun(S) -> ok = inert:fdclr(bench_lib:fd(S)) end, Items),
    release(Holder),
    ok = bench_lib:close_all(Items),
    #{small => SmallM, large => LargeM, vm_rss_growth_per_fd => (RssN - Rss0) / (Large - 1)}.

probe(Kind, Rounds) ->
    Snd = bench_lib:sender(),
    Rig = bench_wake:setup(Kind),
    _ = bench_wake:rounds(Rig, {Snd, ?GAP_MS}, 100, false),
    {_, A} = block({Kind, Rig, none}, Snd, Rounds, #{}),
    ok = bench_wake:teardown(Rig),
    ok = socket:close(Snd),
    summary(A).

%% One block of probe rounds, adding samples and CPU time (VM + daemon).
block({_, Rig, Daemon} = R, Snd, N, Acc) ->
    D0 = cpu(Daemon),
    V0 = bench_lib:cpu_ns(self),
    S = bench_wake:rounds(Rig, {Snd, ?GAP_MS}, N, true),
    V1 = bench_lib:cpu_ns(self),
    D1 = cpu(Daemon),
    {R, #{samples => S ++ maps:get(samples, Acc, []),
          vm_ns => V1 - V0 + maps:get(vm_ns, Acc, 0),
          daemon_ns => D1 - D0 + maps:get(daemon_ns, Acc, 0)}}.

summary(#{samples := S, vm_ns := V, daemon_ns := D}) ->
    N = length(S),
    [P50, P99] = bench_lib:percentiles(S, [50, 99]),
    #{p50_ns => P50, p99_ns => P99, mean_ns => lists:sum(S) / N, rounds => N,
      cpu_ns_per_round => (V + D) / N, cpu_vm_ns_per_round => V / N,
      cpu_inertd_ns_per_round => D / N}.

%% Context switches of inertd (and, for comparison, of the VM) while
%% nothing happens: `Ms' after one second of quiet, in which the Go
%% runtime winds down (counted apart, as `settle_ctxt_switches').
idle(Daemons, Ms) ->
    Sw = fun() -> lists:sum([maps:get(ctxt_switches, bench_lib:proc_status(D)) || D <- Daemons])
         end,
    Cpu = fun() -> lists:sum([bench_lib:cpu_ns(D) || D <- Daemons]) end,
    S0 = Sw(),
    timer:sleep(1000),
    {D0, C0, #{ctxt_switches := V0}} = {Sw(), Cpu(), bench_lib:proc_status(self)},
    timer:sleep(Ms),
    {D1, C1, #{ctxt_switches := V1}} = {Sw(), Cpu(), bench_lib:proc_status(self)},
    #{ms => Ms, inertd_ctxt_switches => D1 - D0, inertd_cpu_ns => C1 - C0,
      settle_ctxt_switches => D0 - S0, vm_ctxt_switches => V1 - V0}.

cpu(none) -> 0;
cpu(Pid) -> bench_lib:cpu_ns(Pid).

rss(Pid) ->
    maps:get(rss, bench_lib:proc_status(Pid)).

%% A process that arms fds when asked and holds them until released.
holder() ->
    spawn(fun Loop() ->
                  receive
                      {arm, F, Items, From} ->
                          lists:foreach(F, Items),
                          From ! {held, self()},
                          Loop();
                      {release, From} ->
                          From ! {released, self()}
                  end
          end).

hold(Holder, F, Items) ->
    Holder ! {arm, F, Items, self()},
    receive {held, Holder} -> ok end.

release(Holder) ->
    Ref = monitor(process, Holder),
    Holder ! {release, self()},
    receive {'DOWN', Ref, process, Holder, _} -> ok end,
    receive {released, Holder} -> ok after 0 -> ok end.
