%% @doc `make io-demo', part 1: a TCP echo server whose connections are
%% each served through an I/O handle (inert_io), and a load of gen_tcp
%% clients.
%%
%% The server accepts with OTP's `socket' module, opens a handle on each
%% connection's fd (`socket:getopt(S, otp, fd)') with `{packet, 4}'
%% framing and closes its own socket: from then on inertd alone reads and
%% writes the connection. The handle goes to a process of the
%% connection's own (`inert_io:controlling_process/2'), which asks for
%% one packet at a time (`{active, once}') and sends it back with
%% `inert_io:send/2'. Between two asks inertd reads no more than the
%% handle's buffer holds: a client that sends faster than the server
%% echoes is slowed by TCP, not by a growing mailbox.
%%
%%     ok = inert:start(),
%%     {ok, Server} = io_echo:start(),
%%     Port = io_echo:port(Server),
%%     ... gen_tcp:connect({127,0,0,1}, Port, [binary, {packet, 4}]) ...
%%     ok = io_echo:stop(Server).
%%
%% run/1 is the scenario: K clients x M round trips, each echo checked.
-module(io_echo).

-export([start/0, port/1, stats/1, stop/1]).
-export([run/1, main/0]).

-define(DEFAULTS, #{clients => 20, rounds => 500, size => 100, quiet => false}).

%%--------------------------------------------------------------------
%% The server
%%--------------------------------------------------------------------

%% @doc Listen on 127.0.0.1, a port the kernel picks.
-spec start() -> {ok, pid()} | {error, term()}.
start() ->
    Parent = self(),
    Ref = make_ref(),
    Pid = spawn_link(fun() -> init(Parent, Ref) end),
    receive
        {Ref, ok} -> {ok, Pid};
        {Ref, {error, _} = Error} -> unlink(Pid), Error
    end.

-spec port(pid()) -> inet:port_number().
port(Server) -> call(Server, port).

%% @doc accepted connections, packets echoed and their bytes (without
%% the length headers) so far.
-spec stats(pid()) -> #{accepted | echoed | bytes := non_neg_integer()}.
stats(Server) -> call(Server, stats).

%% @doc Close the listener and every connection's handle.
-spec stop(pid()) -> ok.
stop(Server) -> call(Server, stop).

call(Server, Req) ->
    Ref = erlang:monitor(process, Server),
    Server ! {call, self(), Ref, Req},
    receive
        {Ref, Reply} -> erlang:demonitor(Ref, [flush]), Reply;
        {'DOWN', Ref, process, Server, Reason} -> exit({io_echo, Reason})
    end.

init(Parent, Ref) ->
    case listen() of
        {ok, L, Port} ->
            Parent ! {Ref, ok},
            Self = self(),
            Echoed = counters:new(2, [write_concurrency]),
            {Acceptor, _} = spawn_monitor(fun() -> accept(Self, L, Echoed) end),
            loop(#{lsock => L, port => Port, acceptor => Acceptor, conns => #{},
                   accepted => 0, echoed => Echoed});
        {error, _} = Error ->
            Parent ! {Ref, Error}
    end.

listen() ->
    {ok, L} = socket:open(inet, stream, tcp),
    Addr = #{family => inet, addr => {127, 0, 0, 1}, port => 0},
    case socket:bind(L, Addr) of
        ok ->
            ok = socket:listen(L, 128),
            {ok, #{port := Port}} = socket:sockname(L),
            {ok, L, Port};
        {error, _} = Error ->
            socket:close(L),
            Error
    end.

%% The server process keeps the connections and answers calls.
loop(#{conns := Conns, accepted := A} = St) ->
    receive
        {conn, Pid} ->
            M = erlang:monitor(process, Pid),
            loop(St#{conns := Conns#{Pid => M}, accepted := A + 1});
        {'DOWN', _, process, Pid, _} ->
            loop(St#{conns := maps:remove(Pid, Conns)});
        {call, From, Ref, Req} ->
            handle_call(Req, From, Ref, St)
    end.

handle_call(port, From, Ref, #{port := Port} = St) ->
    From ! {Ref, Port}, loop(St);
handle_call(stats, From, Ref, #{accepted := A, echoed := E} = St) ->
    From ! {Ref, #{accepted => A, echoed => counters:get(E, 1), bytes => counters:get(E, 2)}},
    loop(St);
handle_call(stop, From, Ref, #{lsock := L, acceptor := Acceptor} = St) ->
    %% the acceptor's accept returns {error, closed}: it ends
    ok = socket:close(L),
    receive {'DOWN', _, process, Acceptor, _} -> ok end,
    #{conns := Conns} = collect_conns(St),
    [Pid ! stop || Pid <- maps:keys(Conns)],
    [receive {'DOWN', M, process, Pid, _} -> ok end || {Pid, M} <- maps:to_list(Conns)],
    From ! {Ref, ok}.

%% The connections the acceptor announced before it ended.
collect_conns(#{conns := Conns} = St) ->
    receive {conn, Pid} -> collect_conns(St#{conns := Conns#{Pid => erlang:monitor(process, Pid)}})
    after 0 -> St
    end.

%% The acceptor: a handle on each new connection's fd, handed to a
%% process of the connection's own; the VM's socket is closed (inertd
%% holds its own duplicate of the fd).
accept(Server, L, Echoed) ->
    case socket:accept(L) of
        {ok, S} ->
            {ok, FD} = socket:getopt(S, otp, fd),
            case inert_io:open(FD, [{packet, 4}, {active, false}]) of
                {ok, H} ->
                    ok = socket:close(S),
                    Pid = spawn(fun() -> receive {go, H} -> echo(H, Echoed) end end),
                    case inert_io:controlling_process(H, Pid) of
                        ok ->
                            Pid ! {go, H},
                            Server ! {conn, Pid};
                        {error, _} ->   % the client has gone already
                            exit(Pid, kill),
                            ok = inert_io:close(H)
                    end;
                {error, Reason} ->
                    logger:warning("io_echo: no handle for a connection: ~p", [Reason]),
                    ok = socket:close(S)
            end,
            accept(Server, L, Echoed);
        {error, closed} ->   % stop/1 closed the listener
            ok;
        {error, Reason} ->     % econnaborted, emfile, ...: try again shortly
            logger:warning("io_echo: accept failed: ~p", [Reason]),
            receive after 100 -> accept(Server, L, Echoed) end
    end.

%% One packet at a time: ask, echo, ask again.
echo(H, Echoed) ->
    ok = inert_io:setopts(H, [{active, once}]),
    receive
        {inert_io, H, Packet} ->
            case inert_io:send(H, Packet) of
                ok ->
                    counters:add(Echoed, 1, 1),
                    counters:add(Echoed, 2, byte_size(Packet)),
                    echo(H, Echoed);
                {error, _} -> inert_io:close(H)
            end;
        {inert_io_closed, H} ->  % the client closed: the handle has ended
            ok;
        {inert_io_error, H, _Reason} ->
            inert_io:close(H);
        stop ->
            inert_io:close(H)
    end.

%%--------------------------------------------------------------------
%% The scenario
%%--------------------------------------------------------------------

-spec main() -> no_return().
main() ->
    erlang:halt(case run(#{}) of #{ok := true} -> 0; _ -> 1 end).

%% @doc Clients (gen_tcp, `{packet, 4}', one process each) each make
%% `rounds' round trips of `size' bytes; a summary map, printed unless
%% `quiet'.
-spec run(map()) -> map().
run(Opts) ->
    #{clients := N, rounds := Rounds, size := Size, quiet := Quiet} = maps:merge(?DEFAULTS, Opts),
    ok = inert:start(),
    {ok, Server} = start(),
    Port = port(Server),
    Quiet orelse io:format("io_echo: echo server on 127.0.0.1:~b, each connection an inert_io "
                           "handle ({packet, 4}, {active, once})~n", [Port]),
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Clients = [spawn_link(fun() -> Self ! {self(), client(I, Port, Rounds, Size)} end)
               || I <- lists:seq(1, N)],
    Results = [receive {C, R} -> R end || C <- Clients],
    Secs = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    Errors = [E || E <- Results, E =/= ok],
    Stats = stats(Server),
    ok = stop(Server),
    After = maps:get(counters, inert:info()),
    Done = (N - length(Errors)) * Rounds,
    Summary = #{ok => Errors =:= [], round_trips => Done, seconds => Secs,
                rate => Done / max(Secs, 1.0e-6), errors => Errors, server => Stats,
                counters => After},
    Quiet orelse print(N, Rounds, Size, Summary),
    Summary.

%% Rounds round trips, each packet different, each echo checked.
client(I, Port, Rounds, Size) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port,
                              [binary, {packet, 4}, {active, false}, {nodelay, true}], 10000),
    Result = rounds(C, I, 0, Rounds, binary:copy(<<(I rem 251)>>, max(0, Size - 8))),
    ok = gen_tcp:close(C),
    Result.

rounds(_C, _I, Rounds, Rounds, _Pad) ->
    ok;
rounds(C, I, K, Rounds, Pad) ->
    Packet = <<I:32, K:32, Pad/binary>>,
    ok = gen_tcp:send(C, Packet),
    case gen_tcp:recv(C, 0, 10000) of
        {ok, Packet} -> rounds(C, I, K + 1, Rounds, Pad);
        Other -> {error, {client, I, round, K, Other}}
    end.

print(N, Rounds, Size, #{ok := Ok, round_trips := Done, seconds := Secs, rate := Rate,
                         server := #{accepted := A, echoed := E, bytes := B}, counters := C, errors := Errors}) ->
    io:format("load: ~b clients x ~b round trips x ~b bytes~n", [N, Rounds, max(Size, 8)]),
    case Ok of
        true -> io:format("done, every packet echoed: ~b round trips in ~.2f s, ~b req/s~n",
                          [Done, Secs, round(Rate)]);
        false -> io:format("FAILED: ~p~n", [Errors])
    end,
    io:format("server: ~b connections, ~b packets echoed (~b bytes)~n", [A, E, B]),
    io:format("inertd counters: ~s~n",
              [lists:join(", ", [io_lib:format("~s ~b", [K, V]) || {K, V} <- lists:sort(maps:to_list(C))])]).
