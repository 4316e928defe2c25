%% @doc Some phases of `make bench' alone, for quick before/after
%% comparisons of one change (`bench/run.sh phases REPS PHASE...', not part
%% of `make bench'): each round runs the phase once for inert and once for
%% native inert (its own VM), which first alternating, with one window or
%% block each; it prints one line per phase: the median of the rounds'
%% inert / native ratios, each round's figure for both, and inert's CPU
%% per request (VM, inertd; ns) where the phase measures it. Phases: wake,
%% wake_idle (p50 of the samples, µs), poll, fdset (1,000 fds, 1 caller),
%% fanin (1,000 armed dups of one socket made ready at once, events/s),
%% echo, rearm (rates), burst (ms). INERT_EBIN and INERTD select the build
%% measured, as for `make bench'.
-module(bench_phases).

-export([main/1]).

%% @doc Entry point for `-run': `main([Reps | Phases])'. Halts the VM.
-spec main([string()]) -> no_return().
main([RepsS | Phases]) ->
    Reps = list_to_integer(RepsS),
    ok = logger:set_primary_config(level, warning),
    ok = inert:start(),
    Native = bench_native:start(),
    case Native of
        {none, Why} -> io:format("native inert: n/a (~s)~n", [Why]), halt(1);
        _ -> ok
    end,
    Config = bench_main:config(full),
    [phase(list_to_atom(P), Reps, Config, Native) || P <- Phases],
    ok = bench_native:stop(Native),
    halt(0).

%% One window or block per round.
slice(rearm, #{rearm := {C, _, Ms}}) -> {C, 1, Ms};
slice(echo, #{echo := {C, _, Ms, _}}) -> {C, 1, Ms, 0};
slice(poll, #{poll := {_, Ms}}) -> {1, Ms};
slice(fdset, _) -> [{1000, 1, 1}];
slice(fanin, _) -> [{1000, 1}];
slice(burst, #{burst := {N, _}}) -> {N, 1};
slice(wake, _) -> {4, 1000};
slice(wake_idle, _) -> {4, 300, 1}.

phase(Name, Reps, Config0, Native) ->
    Config = Config0#{Name := slice(Name, Config0)},
    Local = fun() -> bench_main:run_phase(Name, Config, [inert]) end,
    Remote = fun() -> bench_native:call(Native, bench_main, run_phase, [Name, Config, [native]]) end,
    Rounds = [case I rem 2 of
                  1 -> L = Local(), {L, Remote()};
                  0 -> N = Remote(), {Local(), N}
              end || I <- lists:seq(1, Reps)],
    Figs = [{figure(Name, L, inert), figure(Name, N, native), cpu(Name, L)} || {L, N} <- Rounds],
    io:format("~-9s inert/native ~.2f  inert ~w  native ~w  cpu ~w~n",
              [Name, bench_lib:median([A / B || {A, B, _} <- Figs]),
               [A || {A, _, _} <- Figs], [B || {_, B, _} <- Figs], [C || {_, _, C} <- Figs]]).

figure(fdset, [{_, _, M}], K) -> round(maps:get(rate, maps:get(K, M)));
figure(fanin, [{_, #{at_once := M}}], K) -> round(maps:get(rate, maps:get(K, M)));
figure(burst, M, K) -> maps:get(K, M);
figure(W, M, K) when W =:= wake; W =:= wake_idle ->
    round(bench_lib:median(maps:get(samples, maps:get(K, M))) / 100) / 10;
figure(_, M, K) -> round(maps:get(rate, maps:get(K, M))).

cpu(Name, M) when Name =:= echo; Name =:= rearm ->
    #{cpu_vm_ns := V, cpu_inertd_ns := D} = maps:get(inert, M),
    {round(V), round(D)};
cpu(fanin, [{_, #{at_once := M}}]) ->
    #{cpu_vm_ns_per_event := V, cpu_inertd_ns_per_event := D} = maps:get(inert, M),
    {round(V), round(D)};
cpu(_, _) ->
    na.
