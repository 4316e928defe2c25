%% @doc The report of a run: the rows of the table with ratios to the OTP
%% socket baseline and the targets of issue 4, written as
%%   OutDir/results.json   every figure, machine, rows (machine-readable)
%%   OutDir/table.md       the Markdown table
%%   OutDir/wake_K.dat     wake-latency samples of contender K, as a CDF
%% and, when a BENCHMARKS.md is given, the table spliced into it between
%% the `bench:results' markers.
-module(bench_report).

-export([write/3, rows/1]).

-define(BEGIN, "<!-- bench:results:begin -->").
-define(END, "<!-- bench:results:end -->").
-define(MIB, 1048576).

%% @doc Write every output of a run.
-spec write(map(), file:filename(), file:filename() | none) -> ok.
write(R, OutDir, Md) ->
    _ = [ok = bench_lib:write_cdf(filename:join(OutDir, lists:concat([Name, "_", K, ".dat"])), S)
         || {Name, W} <- [{wake, maps:get(wake, R)}, {wake_idle, maps:get(wake_idle, R)}],
            {K, #{samples := S}} <- maps:to_list(W)],
    Rows = rows(R),
    Table = table(R, Rows),
    ok = file:write_file(filename:join(OutDir, "table.md"), Table),
    Json = bench_json:encode(#{machine => maps:get(machine, R), mode => maps:get(mode, R),
                               wall_s => maps:get(wall_s, R),
                               rows => [maps:from_list(Row) || Row <- Rows],
                               raw => raw(R)}),
    ok = file:write_file(filename:join(OutDir, "results.json"), Json),
    io:put_chars(Table),
    splice(Md, Table).

%% @doc The rows of the table: `{id, figure, unit, inert, socket, gen,
%% ratio, target, met}' as proplists.
-spec rows(map()) -> [[{atom(), term()}]].
rows(#{wake := W, wake_idle := WI, wake_gap_ms := Gap, poll := P, fdset := F, fanin := Fan,
       echo := E, echo_clients := Clients, scale := S}) ->
    Cpu = fun(K) -> #{cpu_vm_ns := V, cpu_inertd_ns := D, rounds := N} = maps:get(K, W),
                    us((V + D) / N) end,
    Sw = fun(K, M) -> #{vm_ctxt_switches := V, inertd_ctxt_switches := D, rounds := N} =
                          maps:get(K, M),
                      (V + D) / N end,
    wake_rows(wake_idle, lists:concat(["wake latency, ", Gap, " ms idle before the send"]), WI)
    ++ wake_rows(wake, "wake latency, back to back", W)
    ++ [row(wake_cpu, "CPU per back-to-back wake round (VM + inertd)", "µs",
            [Cpu(K) || K <- kinds()], none),
        row(wake_switches, "context switches per wake round, idle / back to back "
                "(VM + inertd)", "",
            [iolist_to_binary(io_lib:format("~.1f / ~.1f", [Sw(K, WI), Sw(K, W)]))
             || K <- kinds()], none),
        row(poll_rate, "poll/1 on an always-ready fd", "calls/s", rates(P), none)]
    ++ [row(list_to_atom(lists:concat([fdset_, N, "_x", C])),
            lists:concat(["fdset rate, ", thousands(N), " fds, ", C, " caller", plural(C)]),
            "calls/s", rates(M), case C of 1 -> {ratio, ge, 0.5}; _ -> none end)
        || {N, C, M} <- F]
    ++ lists:append([fanin_rows(N, AtOnce, Burst)
                     || {N, #{at_once := AtOnce, burst := Burst}} <- Fan])
    ++ [row(echo_rate, "echo, " ++ integer_to_list(Clients) ++ " clients x 64 B",
            "req/s", rates(E), {ratio, ge, 0.75}),
        row(echo_rtt_p50, "echo, 1 client, round trip p50", "µs",
            [us(proplists:get_value(p50, maps:get(rtt_ns, maps:get(K, E)))) || K <- kinds()], none)]
    ++ scale_rows(S).

%% At once (target at 10,000: 0.5x), inertd's batching, burst.
fanin_rows(N, AtOnce, Burst) ->
    [row(list_to_atom("fanin_once_" ++ integer_to_list(N)),
         "fan-in at once, " ++ thousands(N) ++ " fds", "events/s", rates(AtOnce),
         case N >= 10000 of true -> {ratio, ge, 0.5}; false -> none end),
     row(list_to_atom("fanin_frame_" ++ integer_to_list(N)),
         "inertd events per frame, fan-in at once, " ++ thousands(N) ++ " fds", "",
         [maps:get(events_per_frame, maps:get(inert, AtOnce)), null, null], none),
     row(list_to_atom("fanin_burst_" ++ integer_to_list(N)),
         "fan-in burst, " ++ thousands(N) ++ " fds (sender alone: " ++
             fmt(rate(Burst, sender), "events/s") ++ ")",
         "events/s", rates(Burst), none)].

%% The `rate' of every contender in a result map (null when absent).
rates(M) ->
    [rate(M, K) || K <- kinds()].

rate(M, K) ->
    case M of
        #{K := #{rate := X}} -> X;
        _ -> null
    end.

%% With many fds armed: one of them fires (probe), or all fire (fan-in).
scale_rows(#{small := Small, large := Large, inert := SI,
             fanin := #{small := FS, large := FL}} = S) ->
    Probe = fun(K, Sz, F) -> maps:get(F, maps:get(Sz, maps:get(K, S))) end,
    At = fun(N) -> " with " ++ thousands(N) ++ " fds armed" end,
    Idle = maps:get(idle, SI),
    [row(probe_p50_small, "wake p50 (back to back), one fires" ++ At(Small), "µs",
         [us(Probe(K, small, p50_ns)) || K <- kinds()], none),
     row(probe_p50_large, "wake p50 (back to back), one fires" ++ At(Large), "µs",
         [us(Probe(K, large, p50_ns)) || K <- kinds()], none),
     row(probe_cpu_small, "CPU per event (VM + inertd), one fires" ++ At(Small), "µs",
         [us(Probe(K, small, cpu_ns_per_round)) || K <- kinds()], none),
     row(probe_cpu_large, "CPU per event (VM + inertd), one fires" ++ At(Large), "µs",
         [us(Probe(K, large, cpu_ns_per_round)) || K <- kinds()], none),
     row(per_event_growth, "per-event cost (CPU per event) at " ++ thousands(Large) ++
             " / at " ++ thousands(Small), "x",
         [Probe(K, large, cpu_ns_per_round) / Probe(K, small, cpu_ns_per_round) || K <- kinds()],
         {inert, le, 1.2}),
     row(fanin_large, "fan-in at once, " ++ thousands(Large) ++ " fds", "events/s",
         rates(FL), none),
     row(fanin_growth, "fan-in time per event at " ++ thousands(Large) ++ " / at " ++
             thousands(Small), "x",
         [case {rate(FS, K), rate(FL, K)} of
              {A, B} when is_number(A), is_number(B) -> A / B;
              _ -> null
          end || K <- kinds()], none),
     row(fanin_frame_large, "inertd events per frame, fan-in at once, " ++ thousands(Large) ++
             " fds", "",
         [maps:get(events_per_frame, maps:get(inert, FL)), null, null], none),
     row(rss_large, "inertd RSS" ++ At(Large) ++ " (none armed: " ++
             fmt(maps:get(rss0, SI) / ?MIB, "MiB") ++ " MiB)", "MiB",
         [maps:get(rss_large, SI) / ?MIB, null, null], none),
     row(bytes_per_fd, "bytes per armed fd (inert: inertd RSS; others: VM RSS)", "B",
         [maps:get(bytes_per_fd, SI) | [maps:get(vm_rss_growth_per_fd, maps:get(K, S))
                                        || K <- [socket, gen]]], none),
     row(rss_100k, "inertd RSS projected to 100,000 armed fds", "MiB",
         [maps:get(rss_100k, SI) / ?MIB, null, null], {inert, le, 64}),
     row(idle_wakeups, "inertd context switches in " ++
             fmt(maps:get(ms, Idle) / 1000, "") ++ " s idle (after 1 s of quiet: " ++
             integer_to_list(maps:get(settle_ctxt_switches, Idle)) ++ ")" ++ At(Large), "count",
         [maps:get(inertd_ctxt_switches, Idle), null, null], {inert, le, 0})].


%% p50 (target: 1.6x the socket baseline), p90, p99 (target: 2x).
wake_rows(Id, Label, W) ->
    Pct = fun(K, Pc) ->
                  us(hd(bench_lib:percentiles(maps:get(samples, maps:get(K, W)), [Pc])))
          end,
    [row(list_to_atom(lists:concat([Id, "_p", Pc])), lists:concat([Label, ", p", Pc]), "µs",
         [Pct(K, Pc) || K <- kinds()], Target)
     || {Pc, Target} <- [{50, {ratio, le, 1.6}}, {90, none}, {99, {ratio, le, 2.0}}]].

row(Id, Figure, Unit, [I, S, G], Target) ->
    Ratio = ratio(I, S),
    [{id, Id}, {figure, list_to_binary(Figure)}, {unit, unicode:characters_to_binary(Unit)},
     {inert, I}, {socket, S}, {gen, G}, {ratio, Ratio}, {gen_ratio, ratio(G, S)},
     {target, target_text(Target)}, {met, met(Target, I, Ratio)}].

ratio(A, B) when is_number(A), is_number(B), B /= 0 -> A / B;
ratio(A, B) when is_binary(A), is_binary(B) -> null;
ratio(_, _) -> null.

met(none, _, _) -> null;
met({ratio, Op, V}, _, R) -> cmp(Op, R, V);
met({inert, Op, V}, I, _) -> cmp(Op, I, V).

cmp(_, null, _) -> null;
cmp(le, X, V) -> X =< V;
cmp(ge, X, V) -> X >= V.

target_text(none) -> null;
target_text({ratio, le, V}) -> text("inert / socket ≤ ~p", [V]);
target_text({ratio, ge, V}) -> text("inert / socket ≥ ~p", [V]);
target_text({inert, le, 0}) -> text("inert = 0", []);
target_text({inert, le, V}) -> text("inert ≤ ~p", [V]).

text(Fmt, Args) -> unicode:characters_to_binary(io_lib:format(Fmt, Args)).

kinds() -> bench_wake:contenders().

us(Ns) -> Ns / 1000.

%% The table, with the machine and the command above it.
table(#{machine := M, mode := Mode, wall_s := Wall, background_cpu := [B0, B1],
        noise := Noise}, Rows) ->
    Cmd = case Mode of <<"full">> -> "make bench"; _ -> "make bench-smoke" end,
    Phases = lists:join(", ", [io_lib:format("~s ~b%", [P, round(X * 100)])
                               || {P, X} <- lists:sort(maps:to_list(Noise))]),
    Head = io_lib:format(
             "Machine: ~b CPUs (~s), ~s, OTP ~s, ~s; VM schedulers ~b, soft RLIMIT_NOFILE ~b; "
             "inert ~s.~nCommand: `~s` (~s run, ~.1f s), ~s. CPU busy with other processes "
             "just before / after the run: ~b% / ~b%; during each phase: ~s.~n~n",
             [maps:get(nproc, M), maps:get(cpu, M), maps:get(kernel, M), maps:get(otp, M),
              maps:get(go, M), maps:get(schedulers, M), maps:get(fd_limit, M),
              maps:get(inert, M), Cmd, Mode, Wall, utc_date(),
              round(B0 * 100), round(B1 * 100), Phases]),
    Hdr = "| figure | unit | inert | OTP socket | gen_* active once | inert / socket "
          "| gen / socket | target | met |\n|---|---|--:|--:|--:|--:|--:|---|---|\n",
    Lines = [io_lib:format("| ~ts | ~ts | ~s | ~s | ~s | ~s | ~s | ~ts | ~s |~n",
                           [V(figure), V(unit), fmt(V(inert), V(unit)), fmt(V(socket), V(unit)),
                            fmt(V(gen), V(unit)), fmt(V(ratio), "x"), fmt(V(gen_ratio), "x"),
                            case V(target) of null -> ""; T -> T end,
                            case V(met) of true -> "**met**"; false -> "not met"; null -> "" end])
             || Row <- Rows, V <- [fun(K) -> proplists:get_value(K, Row) end]],
    unicode:characters_to_binary([Head, Hdr, Lines]).

utc_date() ->
    {{Y, Mo, D}, {H, Mi, _}} = calendar:universal_time(),
    io_lib:format("~4..0b-~2..0b-~2..0b ~2..0b:~2..0b UTC", [Y, Mo, D, H, Mi]).

fmt(null, _) -> "n/a";
fmt(B, _) when is_binary(B) -> B;
fmt(X, "B") when X < 0 -> "< 0 (noise)";
fmt(X, "x") -> io_lib:format("~.2f", [float(X)]);
fmt(X, <<"x">>) -> fmt(X, "x");
fmt(X, U) when is_binary(U) -> fmt(X, unicode:characters_to_list(U));
fmt(X, "count") -> integer_to_list(round(X));
fmt(X, "B") -> thousands(round(X));
fmt(X, [$µ | _]) -> io_lib:format("~.1f", [float(X)]);
fmt(X, "MiB") -> io_lib:format("~.1f", [float(X)]);
fmt(X, "") when is_integer(X) -> integer_to_list(X);
fmt(X, "") -> io_lib:format("~.2f", [float(X)]);
fmt(X, _) -> thousands(round(X)).

thousands(N) when N < 0 -> "-" ++ thousands(-N);
thousands(N) when N < 1000 -> integer_to_list(N);
thousands(N) -> thousands(N div 1000) ++ io_lib:format(",~3..0b", [N rem 1000]).

plural(1) -> "";
plural(_) -> "s".

%% Everything measured, minus the raw samples (they are in the .dat files).
raw(R) ->
    Sum = fun(_, M = #{samples := S}) ->
                  [P50, P90, P99] = bench_lib:percentiles(S, [50, 90, 99]),
                  (maps:remove(samples, M))#{p50_ns => P50, p90_ns => P90, p99_ns => P99}
          end,
    (maps:without([machine], R))#{
      wake => maps:map(Sum, maps:get(wake, R)),
      wake_idle => maps:map(Sum, maps:get(wake_idle, R)),
      fdset => [#{fds => N, callers => C, result => M} || {N, C, M} <- maps:get(fdset, R)],
      fanin => [#{fds => N, result => M} || {N, M} <- maps:get(fanin, R)]}.

%% Put the table between the markers of BENCHMARKS.md.
splice(none, _) ->
    ok;
splice(Md, Table) ->
    case file:read_file(Md) of
        {ok, Bin} -> splice(Md, Bin, Table);
        {error, Reason} -> io:format("~s: ~p; not updated~n", [Md, Reason])
    end.

splice(Md, Bin, Table) ->
    case string:split(Bin, ?BEGIN) of
        [Pre, Rest] ->
            case string:split(Rest, ?END) of
                [_, Post] ->
                    ok = file:write_file(Md, [Pre, ?BEGIN, "\n", Table, ?END, Post]);
                _ ->
                    io:format("~s: no ~s marker; not updated~n", [Md, ?END])
            end;
        _ ->
            io:format("~s: no ~s marker; not updated~n", [Md, ?BEGIN])
    end.
