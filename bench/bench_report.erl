%% @doc The report of a run: the rows of the table with ratios to the
%% original driver (native inert) and to the OTP socket baseline, and the
%% targets, written as
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

%% @doc The rows of the table: `{id, figure, unit, inert, native, socket,
%% gen, native_ratio, ratio, gen_ratio, target, met}' as proplists.
-spec rows(map()) -> [[{atom(), term()}]].
rows(#{wake := W, wake_idle := WI, wake_gap_ms := Gap, poll := P, fdset := F, fanin := Fan,
       echo := E, echo_clients := Clients, rearm := RA, rearm_conns := Conns,
       burst := B, burst_n := BN, scale := S}) ->
    Cpu = fun(K) -> case W of
                        #{K := #{cpu_vm_ns := V, cpu_inertd_ns := D, rounds := N}} ->
                            us((V + D) / N);
                        _ -> null
                    end end,
    Sw = fun(K, M) -> case {M, W} of
                          {#{K := #{vm_ctxt_switches := V, inertd_ctxt_switches := D,
                                    rounds := N}}, _} -> (V + D) / N;
                          _ -> null
                      end end,
    SwPair = fun(K) -> case {Sw(K, WI), Sw(K, W)} of
                           {null, _} -> null;
                           {_, null} -> null;
                           {A, Bk} -> iolist_to_binary(io_lib:format("~.1f / ~.1f", [A, Bk]))
                       end end,
    wake_rows(wake_idle, lists:concat(["wake latency, ", Gap, " ms idle before the send"]), WI)
    ++ wake_rows(wake, "wake latency, back to back", W)
    ++ [row(wake_cpu, "CPU per back-to-back wake round (VM + inertd)", "µs",
            [Cpu(K) || K <- kinds()], none),
        row(wake_switches, "context switches per wake round, idle / back to back "
                "(VM + inertd)", "",
            [SwPair(K) || K <- kinds()], none),
        row(poll_rate, "poll/1 on an always-ready fd", "calls/s", rates(P), {native, ge, 0.9})]
    ++ [row(list_to_atom(lists:concat([fdset_, N, "_x", C])),
            lists:concat(["fdset rate, ", thousands(N), " fds, ", C, " caller", plural(C)]),
            "calls/s", rates(M),
            case C of 1 -> [{ratio, ge, 0.5}, {native, ge, 1.0}]; _ -> none end)
        || {N, C, M} <- F]
    ++ lists:append([fanin_rows(N, AtOnce, Burst)
                     || {N, #{at_once := AtOnce, burst := Burst}} <- Fan])
    ++ [row(echo_rate, "echo, " ++ integer_to_list(Clients) ++ " clients x 64 B",
            "req/s", rates(E), [{ratio, ge, 0.75}, {native, ge, 0.9}]),
        row(echo_cpu, "CPU per request (VM + inertd), echo, " ++ integer_to_list(Clients) ++
                " clients", "µs", per_request(E), none),
        row(echo_cpu_inertd, "of which inertd", "µs", per_request_inertd(E), none),
        row(echo_rtt_p50, "echo, 1 client, round trip p50", "µs",
            [case E of
                 #{K := #{rtt_ns := Rtt}} -> us(proplists:get_value(p50, Rtt));
                 _ -> null
             end || K <- kinds()], none),
        row(rearm_rate, "re-arm: " ++ integer_to_list(Conns) ++ " gen_tcp connections x 64 B"
                " request/response, passive sockets, fdset → inert_read → recv → send → fdset"
                " (gen: {active, once})", "req/s", rates(RA), {native, ge, 0.9}),
        row(rearm_cpu, "CPU per request (VM + inertd), re-arm", "µs", per_request(RA), none),
        row(rearm_cpu_inertd, "of which inertd", "µs", per_request_inertd(RA), none)]
    ++ burst_rows(BN, B)
    ++ scale_rows(S).

%% CPU µs per request (VM + inertd) of a throughput result.
per_request(M) ->
    [case M of
         #{K := #{cpu_vm_ns := V, cpu_inertd_ns := D}} -> us(V + D);
         _ -> null
     end || K <- kinds()].

%% The inertd part of it (n/a where there is no daemon).
per_request_inertd(M) ->
    [case {K, M} of
         {inert, #{K := #{cpu_inertd_ns := D}}} -> us(D);
         _ -> null
     end || K <- kinds()].

%% The burst: cold (first on a fresh service) and warm, inert on both
%% pollers; the inert column of the epoll rows is inert on epoll.
burst_rows(N, B) ->
    Label = "burst: " ++ thousands(N) ++ " UDP sockets armed by one process, then one datagram"
        " to each from it; ",
    Get = fun(K, Phase, F) -> case B of
                                  #{K := #{Phase := #{F := X}}} -> X / 1.0e6;
                                  _ -> null
                              end end,
    Cols = fun(Inert, Phase, F) -> [Get(K, Phase, F) || K <- [Inert, native, socket, gen]] end,
    lists:append(
      [[row(list_to_atom(lists:concat([burst_, Phase, "_", Inert])),
            Label ++ What ++ ", last fdset → last message" ++ Poller, "ms",
            Cols(Inert, Phase, from_arm_ns),
            case Phase of cold -> {native, le, 1.5}; warm -> none end),
        row(list_to_atom(lists:concat([burst_, Phase, "_send_", Inert])),
            Label ++ What ++ ", of which after its last send" ++ Poller, "ms",
            Cols(Inert, Phase, from_send_ns), none)]
       || {Phase, What} <- [{cold, "first burst on a fresh service"}, {warm, "second burst"}],
          {Inert, Poller} <- [{inert, ""}, {inert_epoll, " (inertd -poller epoll)"}]])
    ++ [row(burst_fd_table, "inertd's fd table when it has started (slots, FDSize)", "count",
            [case B of
                 #{inert := #{cold := #{fd_table_at_start := Slots}}} -> Slots;
                 _ -> null
             end, null, null, null], none)].

%% At once (target at 10,000: 0.5x), inertd's batching, burst.
fanin_rows(N, AtOnce, Burst) ->
    [row(list_to_atom("fanin_once_" ++ integer_to_list(N)),
         "fan-in at once, " ++ thousands(N) ++ " fds", "events/s", rates(AtOnce),
         case N >= 10000 of true -> {ratio, ge, 0.5}; false -> none end),
     row(list_to_atom("fanin_frame_" ++ integer_to_list(N)),
         "inertd events per frame, fan-in at once, " ++ thousands(N) ++ " fds", "",
         [maps:get(events_per_frame, maps:get(inert, AtOnce)), null, null, null], none),
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
    Probe = fun(K, Sz, F) -> case S of
                                 #{K := #{Sz := #{F := X}}} -> X;
                                 _ -> null
                             end end,
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
         [ratio(Probe(K, large, cpu_ns_per_round), Probe(K, small, cpu_ns_per_round))
          || K <- kinds()],
         {inert, le, 1.2}),
     row(fanin_large, "fan-in at once, " ++ thousands(Large) ++ " fds", "events/s",
         rates(FL), none),
     row(fanin_growth, "fan-in time per event at " ++ thousands(Large) ++ " / at " ++
             thousands(Small), "x",
         [ratio(rate(FS, K), rate(FL, K)) || K <- kinds()], none),
     row(fanin_frame_large, "inertd events per frame, fan-in at once, " ++ thousands(Large) ++
             " fds", "",
         [maps:get(events_per_frame, maps:get(inert, FL)), null, null, null], none),
     row(rss_large, "inertd RSS" ++ At(Large) ++ " (none armed: " ++
             fmt(maps:get(rss0, SI) / ?MIB, "MiB") ++ " MiB)", "MiB",
         [maps:get(rss_large, SI) / ?MIB, null, null, null], none),
     row(bytes_per_fd, "bytes per armed fd (inert: inertd RSS; others: VM RSS)", "B",
         [maps:get(bytes_per_fd, SI) | [case S of
                                            #{K := #{vm_rss_growth_per_fd := X}} -> X;
                                            _ -> null
                                        end || K <- [native, socket, gen]]], none),
     row(rss_100k, "inertd RSS projected to 100,000 armed fds", "MiB",
         [maps:get(rss_100k, SI) / ?MIB, null, null, null], {inert, le, 64}),
     row(idle_wakeups, "inertd context switches in " ++
             fmt(maps:get(ms, Idle) / 1000, "") ++ " s idle (after 1 s of quiet: " ++
             integer_to_list(maps:get(settle_ctxt_switches, Idle)) ++ ")" ++ At(Large), "count",
         [maps:get(inertd_ctxt_switches, Idle), null, null, null], {inert, le, 0})].


%% p50 (target: 1.6x the socket baseline), p90, p99 (target: 2x).
wake_rows(Id, Label, W) ->
    Pct = fun(K, Pc) -> case W of
                            #{K := #{samples := S}} -> us(hd(bench_lib:percentiles(S, [Pc])));
                            _ -> null
                        end end,
    [row(list_to_atom(lists:concat([Id, "_p", Pc])), lists:concat([Label, ", p", Pc]), "µs",
         [Pct(K, Pc) || K <- kinds()], Target)
     || {Pc, Target} <- [{50, {ratio, le, 1.6}}, {90, none}, {99, {ratio, le, 2.0}}]].

%% A target is `none', one of {ratio, Op, V} (inert / socket), {native,
%% Op, V} (inert / native) or {inert, Op, V} (the inert figure), or a
%% list of them.
row(Id, Figure, Unit, [I, N, S, G], Target) ->
    Targets = case Target of
        none -> [];
        L when is_list(L) -> L;
        T -> [T]
    end,
    Ratios = #{ratio => ratio(I, S), native => ratio(I, N), inert => I},
    [{id, Id}, {figure, unicode:characters_to_binary(Figure)},
     {unit, unicode:characters_to_binary(Unit)},
     {inert, I}, {native, N}, {socket, S}, {gen, G}, {native_ratio, ratio(I, N)},
     {ratio, ratio(I, S)}, {gen_ratio, ratio(G, S)},
     {target, case Targets of
                  [] -> null;
                  _ -> unicode:characters_to_binary(lists:join("; ", [target_text(T) || T <- Targets]))
              end},
     {met, case Targets of
               [] -> null;
               _ -> [cmp(Op, maps:get(Of, Ratios), V) || {Of, Op, V} <- Targets]
           end}].

ratio(A, B) when is_number(A), is_number(B), B /= 0 -> A / B;
ratio(_, _) -> null.

cmp(_, null, _) -> null;
cmp(le, X, V) -> X =< V;
cmp(ge, X, V) -> X >= V.

target_text({ratio, le, V}) -> text("inert / socket ≤ ~p", [V]);
target_text({ratio, ge, V}) -> text("inert / socket ≥ ~p", [V]);
target_text({native, le, V}) -> text("inert / native ≤ ~p", [V]);
target_text({native, ge, V}) -> text("inert / native ≥ ~p", [V]);
target_text({inert, le, 0}) -> text("inert = 0", []);
target_text({inert, le, V}) -> text("inert ≤ ~p", [V]).

text(Fmt, Args) -> unicode:characters_to_binary(io_lib:format(Fmt, Args)).

kinds() -> bench_wake:all_kinds().

us(null) -> null;
us(Ns) -> Ns / 1000.

%% The table, with the machine and the command above it.
table(#{machine := M, mode := Mode, wall_s := Wall, background_cpu := [B0, B1],
        noise := Noise, native := Native}, Rows) ->
    Cmd = case Mode of <<"full">> -> "make bench"; _ -> "make bench-smoke" end,
    Phases = lists:join(", ", [io_lib:format("~s ~b%", [P, round(X * 100)])
                               || {P, X} <- lists:sort(maps:to_list(Noise))]),
    Head = io_lib:format(
             "Machine: ~b CPUs (~s), ~s, OTP ~s, ~s; VM schedulers ~b, soft RLIMIT_NOFILE ~b; "
             "inert ~s; native inert: ~ts.~nCommand: `~s` (~s run, ~.1f s), ~s. CPU busy with "
             "other processes just before / after the run: ~b% / ~b%; during each phase: ~s.~n~n",
             [maps:get(nproc, M), maps:get(cpu, M), maps:get(kernel, M), maps:get(otp, M),
              maps:get(go, M), maps:get(schedulers, M), maps:get(fd_limit, M),
              maps:get(inert, M), Native, Cmd, Mode, Wall, utc_date(),
              round(B0 * 100), round(B1 * 100), Phases]),
    Hdr = "| figure | unit | inert | native inert | OTP socket | gen_* active once "
          "| inert / native | inert / socket | gen / socket | target | met |\n"
          "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|\n",
    NoNative = case Native of <<"n/a", _/binary>> -> "n/a (baseline not built)"; _ -> "n/a" end,
    Lines = [io_lib:format("| ~ts | ~ts | ~s | ~ts | ~s | ~s | ~s | ~s | ~s | ~ts | ~s |~n",
                           [V(figure), V(unit), fmt(V(inert), V(unit)),
                            case V(native) of null -> NoNative; X -> fmt(X, V(unit)) end,
                            fmt(V(socket), V(unit)), fmt(V(gen), V(unit)),
                            fmt(V(native_ratio), "x"), fmt(V(ratio), "x"), fmt(V(gen_ratio), "x"),
                            case V(target) of null -> ""; T -> T end,
                            met_text(V(met))])
             || Row <- Rows, V <- [fun(K) -> proplists:get_value(K, Row) end]],
    unicode:characters_to_binary([Head, Hdr, Lines]).

met_text(null) -> "";
met_text(L) ->
    lists:join("; ", [case M of true -> "**met**"; false -> "not met"; null -> "n/a" end
                      || M <- L]).

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
fmt(X, "ms") -> io_lib:format("~.2f", [float(X)]);
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
