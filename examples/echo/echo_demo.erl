%% @doc `make demo': the echo server of echo_server.erl under a bounded
%% load. Clients (plain gen_tcp, one process each) send a message, wait for
%% the echo and check it byte for byte, round after round; a progress line
%% shows while they run, then a summary: requests, req/s, round-trip
%% percentiles and inertd's own counters (inert:info()).
%%
%%     erl -noshell -pa <inert ebin> -pa <this dir's beams> -eval 'echo_demo:main()'
%%
%% main/0 halts with status 0 when every byte came back, 1 otherwise;
%% run/1 returns the summary as a map, for tests.
-module(echo_demo).

-export([main/0, main/1, run/1]).

-define(DEFAULTS, #{clients => 50, rounds => 2000, size => 64, quiet => false}).

-spec main() -> no_return().
main() ->
    main([]).

%% @doc Arguments as from `erl -run': clients, rounds and size.
-spec main([string()]) -> no_return().
main(Args) ->
    Keys = lists:sublist([clients, rounds, size], length(Args)),
    Opts = maps:from_list(lists:zip(Keys, [list_to_integer(A) || A <- Args])),
    Status = try run(Opts) of
        #{ok := true} -> 0;
        _ -> 1
    catch
        Class:Reason:Stack ->
            io:format("demo failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
            1
    end,
    erlang:halt(Status).

-spec run(map()) -> map().
run(Opts0) ->
    #{clients := N, rounds := Rounds, size := Size, quiet := Quiet} = maps:merge(?DEFAULTS, Opts0),
    ok = inert:start(),
    {ok, Server} = echo_server:start(#{ip => {127, 0, 0, 1}, port => 0}),
    Port = echo_server:port(Server),
    Say = fun(F, A) -> Quiet orelse io:format(F, A) end,
    Say("inert demo: echo server on 127.0.0.1:~b (OTP socket + inert readiness, inertd os pid ~b)~n",
        [Port, maps:get(os_pid, inert:info())]),
    Say("load: ~b clients x ~b round trips x ~b bytes~n", [N, Rounds, Size]),
    Done = counters:new(1, [write_concurrency]),
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Clients = [spawn_link(fun() -> Self ! {self(), client(I, Port, Rounds, Size, Done)} end)
               || I <- lists:seq(1, N)],
    Progress = case Quiet of
        true -> undefined;
        false -> spawn(fun() -> progress(Done, N * Rounds, T0, T0) end)
    end,
    Results = [receive {C, R} -> R end || C <- Clients],
    Secs = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    _ = Progress =:= undefined orelse stop_progress(Progress),
    Lat = lists:sort(lists:append([L || {ok, L} <- Results])),
    Bad = [E || {error, _} = E <- Results],
    Total = length(Lat),
    Info = inert:info(),
    Stats = echo_server:stats(Server),
    ok = echo_server:stop(Server),
    Summary = #{ok => Bad =:= [] andalso Total =:= N * Rounds, requests => Total,
                seconds => Secs, rate => Total / Secs, p50 => percentile(Lat, 50),
                p99 => percentile(Lat, 99), max => lists:last([0 | Lat]), errors => Bad,
                server => Stats, counters => maps:get(counters, Info)},
    Quiet orelse print(Summary),
    Summary.

%% One client: Rounds round trips, each message different, each echo
%% checked. Returns the round-trip times in microseconds.
client(I, Port, Rounds, Size, Done) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port,
                              [binary, {active, false}, {nodelay, true}], 10000),
    Pad = binary:copy(<<(I rem 251)>>, max(0, Size - 8)),
    Result = rounds(C, I, 0, Rounds, Pad, Size, Done, []),
    ok = gen_tcp:close(C),
    Result.

rounds(_C, _I, Rounds, Rounds, _Pad, _Size, _Done, Acc) ->
    {ok, Acc};
rounds(C, I, K, Rounds, Pad, Size, Done, Acc) ->
    Msg = binary:part(<<I:32, K:32, Pad/binary>>, 0, Size),
    T0 = erlang:monotonic_time(microsecond),
    ok = gen_tcp:send(C, Msg),
    case gen_tcp:recv(C, Size, 10000) of
        {ok, Msg} ->
            counters:add(Done, 1, 1),
            rounds(C, I, K + 1, Rounds, Pad, Size, Done,
                   [erlang:monotonic_time(microsecond) - T0 | Acc]);
        Other ->
            {error, {client, I, round, K, Other}}
    end.

percentile([], _) -> 0;
percentile(Sorted, P) ->
    lists:nth(max(1, (length(Sorted) * P + 99) div 100), Sorted).

%% A progress line: redrawn in place on a terminal, a new line every half
%% second otherwise.
progress(Done, Total, T0, Last) ->
    Tty = element(1, io:columns()) =:= ok,
    receive
        {stop, From} -> Tty andalso io:format("~n"), From ! stopped
    after 250 ->
        Now = erlang:monotonic_time(microsecond),
        N = counters:get(Done, 1),
        Secs = (Now - T0) / 1.0e6,
        Line = io_lib:format("  ~s ~3b%  ~7b/~b round trips  ~7b req/s",
                             [bar(N, Total), N * 100 div max(1, Total), N, Total,
                              round(N / max(Secs, 0.001))]),
        Print = Tty orelse Now - Last >= 500000,
        case {Print, Tty} of
            {true, true} -> io:format("\r~s", [Line]);
            {true, false} -> io:format("~s~n", [Line]);
            {false, _} -> ok
        end,
        progress(Done, Total, T0, case Print of true -> Now; false -> Last end)
    end.

stop_progress(Pid) ->
    Pid ! {stop, self()},
    receive stopped -> ok end.

bar(N, Total) ->
    Full = N * 30 div max(1, Total),
    ["[", lists:duplicate(Full, $#), lists:duplicate(30 - Full, $.), "]"].

print(#{ok := Ok, requests := Total, seconds := Secs, rate := Rate, p50 := P50,
        p99 := P99, max := Max, errors := Errors, server := Server,
        counters := C}) ->
    io:format("~s: ~b round trips in ~.2f s, ~b req/s~n",
              [case Ok of true -> "done, every byte echoed"; false -> "FAILED" end,
               Total, Secs, round(Rate)]),
    io:format("round trip: p50 ~.3f ms, p99 ~.3f ms, max ~.3f ms~n",
              [P50 / 1000, P99 / 1000, Max / 1000]),
    io:format("server: ~b connections, ~b bytes echoed, ~b waits for read, ~b for write~n",
              [maps:get(accepted, Server), maps:get(bytes, Server),
               maps:get(read_waits, Server), maps:get(write_waits, Server)]),
    Keys = [requests, events, frames, errors, fds_received, fds_closed, dropped, armed],
    io:format("inertd counters: ~s~n",
              [lists:join(", ", [io_lib:format("~s ~b", [K, maps:get(K, C, 0)]) || K <- Keys])]),
    _ = [io:format("error: ~p~n", [E]) || E <- lists:sublist(Errors, 5)],
    ok.
