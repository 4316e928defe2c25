%% @doc A TCP echo server on OTP's `socket' module with inert readiness.
%%
%% No call here ever waits inside the socket module: accept, recv and send
%% are made with a timeout of 0 once inert has said the fd is ready
%% (`{inert_read, PollId, FD}'), and a send that would block waits for
%% `{inert_write, PollId, FD}' before it goes on with the rest. The fds
%% come from `socket:getopt(S, otp, fd)'. One process accepts; each
%% connection has its own process, which owns its socket and its fd's
%% interest in inert.
%%
%%     {ok, Server} = echo_server:start(#{ip => {127,0,0,1}, port => 0}),
%%     Port = echo_server:port(Server),
%%     ...
%%     echo_server:stop(Server).
%%
%% It needs the inert service (`inert:start()').
-module(echo_server).

-export([start/1, port/1, stats/1, stop/1]).

%% counters: accepted, bytes echoed, waits for readability, waits for
%% writability (a send would have blocked)
-define(ACCEPTED, 1).
-define(BYTES, 2).
-define(READ_WAITS, 3).
-define(WRITE_WAITS, 4).

-spec start(#{ip => inet:ip4_address(), port => inet:port_number(), backlog => pos_integer()}) ->
    {ok, pid()} | {error, term()}.
start(Opts) ->
    Parent = self(),
    Ref = make_ref(),
    Pid = spawn_link(fun() -> init(Parent, Ref, Opts) end),
    receive
        {Ref, ok} -> {ok, Pid};
        {Ref, {error, _} = Error} -> unlink(Pid), Error
    end.

%% @doc The TCP port the server listens on.
-spec port(pid()) -> inet:port_number().
port(Server) ->
    call(Server, port).

%% @doc accepted, bytes, read_waits and write_waits so far.
-spec stats(pid()) -> #{atom() => non_neg_integer()}.
stats(Server) ->
    call(Server, stats).

%% @doc Close the listener and every connection.
-spec stop(pid()) -> ok.
stop(Server) ->
    call(Server, stop).

call(Server, Req) ->
    Ref = erlang:monitor(process, Server),
    Server ! {call, self(), Ref, Req},
    receive
        {Ref, Reply} -> erlang:demonitor(Ref, [flush]), Reply;
        {'DOWN', Ref, process, Server, Reason} -> exit({echo_server, Reason})
    end.

%%--------------------------------------------------------------------
%% The acceptor
%%--------------------------------------------------------------------

init(Parent, Ref, Opts) ->
    process_flag(trap_exit, true),
    case listen(Opts) of
        {ok, L, Port} ->
            {ok, FD} = socket:getopt(L, otp, fd),
            Parent ! {Ref, ok},
            accept(#{parent => Parent, lsock => L, fd => FD, port => Port,
                     stats => counters:new(4, [write_concurrency])});
        {error, _} = Error ->
            Parent ! {Ref, Error}
    end.

listen(Opts) ->
    Addr = #{family => inet, addr => maps:get(ip, Opts, {127, 0, 0, 1}),
             port => maps:get(port, Opts, 0)},
    {ok, L} = socket:open(inet, stream, tcp),
    ok = socket:setopt(L, {socket, reuseaddr}, true),
    case socket:bind(L, Addr) of
        ok ->
            ok = socket:listen(L, maps:get(backlog, Opts, 1024)),
            {ok, #{port := Port}} = socket:sockname(L),
            {ok, L, Port};
        {error, _} = Error ->
            socket:close(L),
            Error
    end.

%% Take every connection waiting, then wait for inert to report more.
accept(#{lsock := L, fd := FD, stats := Stats} = St) ->
    case socket:accept(L, 0) of
        {ok, S} ->
            counters:add(Stats, ?ACCEPTED, 1),
            Pid = spawn_link(fun() -> receive {go, S} -> connection(S, Stats) end end),
            ok = socket:setopt(S, otp, controlling_process, Pid),
            Pid ! {go, S},
            accept(St);
        {error, timeout} ->
            ok = inert:fdset(FD, read),
            await_listener(St);
        {error, Reason} ->
            exit({accept, Reason})
    end.

await_listener(#{fd := FD, parent := Parent} = St) ->
    receive
        {inert_read, _PollId, FD} ->
            accept(St);
        {call, From, Ref, Req} ->
            case handle(Req, St) of
                stop -> From ! {Ref, ok};
                Reply -> From ! {Ref, Reply}, await_listener(St)
            end;
        {'EXIT', Parent, Reason} ->
            _ = shutdown(St),
            exit(Reason);
        {'EXIT', _Connection, _} ->
            await_listener(St)
    end.

handle(port, #{port := Port}) ->
    Port;
handle(stats, #{stats := Stats}) ->
    #{accepted => counters:get(Stats, ?ACCEPTED), bytes => counters:get(Stats, ?BYTES),
      read_waits => counters:get(Stats, ?READ_WAITS),
      write_waits => counters:get(Stats, ?WRITE_WAITS)};
handle(stop, St) ->
    shutdown(St).

%% Close the listener, and every connection: they are the linked
%% processes other than the parent.
shutdown(#{lsock := L, fd := FD, parent := Parent}) ->
    _ = inert:fdclr(FD),
    _ = socket:close(L),
    {links, Links} = process_info(self(), links),
    _ = [exit(P, shutdown) || P <- Links, is_pid(P), P =/= Parent],
    stop.

%%--------------------------------------------------------------------
%% A connection
%%--------------------------------------------------------------------

connection(S, Stats) ->
    ok = socket:setopt(S, {tcp, nodelay}, true),
    {ok, FD} = socket:getopt(S, otp, fd),
    echo(S, FD, Stats).

%% Echo whatever is waiting; when nothing is, wait for inert to say so.
echo(S, FD, Stats) ->
    case socket:recv(S, 0, 0) of
        {ok, Data} ->
            counters:add(Stats, ?BYTES, byte_size(Data)),
            send(S, FD, Data, Stats),
            echo(S, FD, Stats);
        {error, timeout} ->
            counters:add(Stats, ?READ_WAITS, 1),
            ok = inert:fdset(FD, read),
            receive {inert_read, _PollId, FD} -> echo(S, FD, Stats) end;
        {error, _Closed} ->
            %% closed, econnreset: the client is gone
            socket:close(S)
    end.

%% Send it all, waiting for writability only when the kernel takes no
%% more.
send(S, FD, Data, Stats) ->
    case socket:send(S, Data, 0) of
        ok ->
            ok;
        {error, {timeout, Rest}} ->
            await_writable(FD, Stats),
            send(S, FD, Rest, Stats);
        {error, timeout} ->
            await_writable(FD, Stats),
            send(S, FD, Data, Stats);
        {error, _Closed} ->
            exit(normal)
    end.

await_writable(FD, Stats) ->
    counters:add(Stats, ?WRITE_WAITS, 1),
    ok = inert:fdset(FD, write),
    receive {inert_write, _PollId, FD} -> ok end.
