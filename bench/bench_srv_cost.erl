%% @doc What `inert_srv' spends per event, apart from everything else:
%% decoding a frame of N `{inert_read, Pid, FD, Gen}' entries
%% (`binary_to_term/2' with `[safe]'), the ownership table update of each
%% (`inert_table:delivered/5' itself, on a table made by
%% `inert_table:new/0', as the service makes it), and the message to the caller. Median of `Reps' runs after one warm-up.
%%
%%   erl -noshell -pa erlang/inert/_build/default/lib/inert/ebin \
%%       -pa bench/out/ebin -eval 'bench_srv_cost:main(), halt().'
-module(bench_srv_cost).

-export([main/0, run/2]).

-spec main() -> ok.
main() ->
    #{decode_us := D, ets_us := E, send_us := S} = run(10000, 7),
    io:format("inert_srv per event (10,000-entry frame, median of 7): "
              "decode ~.3f us, ownership table ~.3f us, send ~.3f us, total ~.3f us~n",
              [D, E, S, D + E + S]).

-spec run(pos_integer(), pos_integer()) -> #{atom() => float()}.
run(N, Reps) ->
    Sink = spawn_link(fun Loop() -> receive stop -> ok; _ -> Loop() end end),
    _ = once(N, Sink),
    Runs = [once(N, Sink) || _ <- lists:seq(1, Reps)],
    Sink ! stop,
    maps:from_list([{K, bench_lib:median([maps:get(K, R) || R <- Runs])}
                    || K <- [decode_us, ets_us, send_us]]).

once(N, Sink) ->
    Tab = inert_table:new(),
    Frame = term_to_binary([{inert_read, Sink, FD, FD + 1} || FD <- lists:seq(1, N)]),
    _ = [{ok, none, []} = inert_table:claim(Tab, inert_table:fdset(FD, Sink, read, FD + 1))
         || FD <- lists:seq(1, N)],
    {TD, Entries} = timer:tc(fun() -> binary_to_term(Frame, [safe]) end),
    {TE, ok} = timer:tc(fun() -> delete_all(Tab, Entries) end),
    0 = inert_table:size(Tab),                    % every record went
    {TS, ok} = timer:tc(fun() -> send_all(Entries) end),
    ok = inert_table:delete(Tab),
    #{decode_us => TD / N, ets_us => TE / N, send_us => TS / N}.

delete_all(_Tab, []) ->
    ok;
delete_all(Tab, [{inert_read, Pid, FD, Gen} | Rest]) ->
    true = inert_table:delivered(Tab, FD, Pid, read, Gen),
    delete_all(Tab, Rest).

send_all([]) ->
    ok;
send_all([{inert_read, Pid, FD, _} | Rest]) ->
    Pid ! {inert_read, self(), FD},
    send_all(Rest).
