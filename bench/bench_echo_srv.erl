%% @doc Bench-only TCP echo servers on 127.0.0.1, one per contender, each
%% written the way a user of that API would write it: one acceptor
%% process, one process per connection that echoes what it reads.
%%
%%   inert    OTP `socket' with timeout-0 calls (`accept(L, 0)',
%%            `recv(S, 0, 0)'); when a call would block, `inert:fdset/2'
%%            and wait for `{inert_read, PollId, Fd}'.
%%   socket   OTP `socket' with `nowait': `{select, _}', then wait for
%%            `{'$socket', S, select, Handle}'.
%%   gen      `gen_tcp' with `{active, once}'.
%%   native   the inert server, on the original driver (in its own VM,
%%            bench_native).
%%   rearm    what production users of inert do (helium's
%%            erlang-libp2p): `gen_tcp' passive sockets, a process per
%%            connection that arms `inert:fdset(FD)' on `inet:getfd/1',
%%            and on `{inert_read, _, FD}' does one `gen_tcp:recv(S, 0)',
%%            answers, and arms again; on either inert (bench_rearm).
%%   dup_kept, dup_per_wait  prototypes of readiness without inertd
%%            (bench_proto): the rearm server, waiting instead on a
%%            `socket' object made on a dup of the connection's fd
%%            (`socket:open(FD, #{dup => true})'), whose `recv' peek
%%            `nowait' has ERTS's own poll set report readability; the
%%            dup kept for the connection's life, or made for each wait
%%            and closed after it.
%%   io       an I/O handle (inert_io) in `{active, true}' on the
%%            accepted socket's fd: inertd reads and writes it; the
%%            connection process echoes each `{inert_io, H, Data}' with
%%            `inert_io:send/2'. No re-arm per request.
%% Replies are written with a plain blocking send (64 bytes always fit).
-module(bench_echo_srv).

-export([start/1, stop/1]).

-export_type([server/0, kind/0]).

-type kind() :: inert | native | socket | gen | rearm | io | dup_kept | dup_per_wait.
-type server() :: {kind(), pid(), inet:port_number()}.

%% @doc Start the echo server of a contender; returns its port.
-spec start(kind()) -> server().
start(Kind) ->
    Parent = self(),
    Pid = spawn(fun() -> listen(Kind, Parent) end),
    receive
        {listening, Pid, Port} -> {Kind, Pid, Port}
    after 5000 -> error({echo_server_start, Kind})
    end.

%% @doc Stop a server: the listener and every connection close.
-spec stop(server()) -> ok.
stop({_, Pid, _}) ->
    Ref = monitor(process, Pid),
    exit(Pid, kill),
    receive {'DOWN', Ref, process, Pid, _} -> ok end.

listen(Gen, Parent) when Gen =:= gen; Gen =:= rearm; Gen =:= dup_kept;
                          Gen =:= dup_per_wait ->
    {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false},
                                 {reuseaddr, true}, {nodelay, true}, {backlog, 128}]),
    {ok, Port} = inet:port(L),
    Parent ! {listening, self(), Port},
    gen_accept(L, case Gen of
                      gen -> fun gen_echo/1;
                      rearm -> fun rearm_start/1;
                      dup_kept -> fun dup_kept_start/1;
                      dup_per_wait -> fun dup_per_wait_start/1
                  end);
listen(Kind, Parent) ->
    {ok, L} = socket:open(inet, stream, tcp),
    ok = socket:setopt(L, {socket, reuseaddr}, true),
    ok = socket:bind(L, #{family => inet, addr => {127, 0, 0, 1}, port => 0}),
    ok = socket:listen(L, 128),
    {ok, #{port := Port}} = socket:sockname(L),
    Parent ! {listening, self(), Port},
    case Kind of
        socket -> socket_accept(L);
        io -> io_accept(L);
        _ -> inert_accept(L, bench_lib:fd(L))       % inert, native
    end.

%% Connection processes are linked to the acceptor: killing it closes all.
handoff(S, Loop) ->
    ok = socket:setopt(S, {tcp, nodelay}, true),
    Pid = spawn_link(fun() -> receive {go, S} -> Loop(S) end end),
    ok = socket:setopt(S, {otp, controlling_process}, Pid),
    Pid ! {go, S}.

%%--------------------------------------------------------------------
%% inert + socket with timeout 0
%%--------------------------------------------------------------------

inert_accept(L, LFd) ->
    case socket:accept(L, 0) of
        {ok, S} ->
            handoff(S, fun(C) -> inert_echo(C, bench_lib:fd(C)) end),
            inert_accept(L, LFd);
        {error, timeout} ->
            ok = inert:fdset(LFd, read),
            receive {inert_read, _, LFd} -> inert_accept(L, LFd) end
    end.

inert_echo(S, Fd) ->
    case socket:recv(S, 0, 0) of
        {ok, Data} ->
            ok = socket:send(S, Data),
            inert_echo(S, Fd);
        {error, timeout} ->
            ok = inert:fdset(Fd, read),
            receive {inert_read, _, Fd} -> inert_echo(S, Fd) end;
        {error, _} ->
            socket:close(S)
    end.

%%--------------------------------------------------------------------
%% socket with nowait / select messages
%%--------------------------------------------------------------------

socket_accept(L) ->
    case socket:accept(L, nowait) of
        {ok, S} ->
            handoff(S, fun socket_echo/1),
            socket_accept(L);
        {select, _} ->
            receive {'$socket', L, select, _} -> socket_accept(L) end
    end.

socket_echo(S) ->
    case socket:recv(S, 0, nowait) of
        {ok, Data} ->
            ok = socket:send(S, Data),
            socket_echo(S);
        {select, {_, Data}} ->
            ok = socket:send(S, Data),
            socket_wait(S);
        {select, _} ->
            socket_wait(S);
        {error, _} ->
            socket:close(S)
    end.

socket_wait(S) ->
    receive {'$socket', S, select, _} -> socket_echo(S) end.

%%--------------------------------------------------------------------
%% inert_io {active, true}
%%--------------------------------------------------------------------

io_accept(L) ->
    {ok, S} = socket:accept(L),
    handoff(S, fun io_start/1),
    io_accept(L).

io_start(S) ->
    {ok, H} = inert_io:open(bench_lib:fd(S), [{active, true}]),
    ok = socket:close(S),
    io_echo(H).

io_echo(H) ->
    receive
        {inert_io, H, Data} ->
            ok = inert_io:send(H, Data),
            io_echo(H);
        {inert_io_closed, H} ->
            ok;
        {inert_io_error, H, _} ->
            inert_io:close(H)
    end.

%%--------------------------------------------------------------------
%% gen_tcp {active, once}
%%--------------------------------------------------------------------

gen_accept(L, Loop) ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn_link(fun() -> receive {go, C} -> Loop(C) end end),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! {go, S},
    gen_accept(L, Loop).

gen_echo(S) ->
    ok = inet:setopts(S, [{active, once}]),
    receive
        {tcp, S, Data} ->
            ok = gen_tcp:send(S, Data),
            gen_echo(S);
        {tcp_closed, S} ->
            ok;
        {tcp_error, S, _} ->
            gen_tcp:close(S)
    end.

%%--------------------------------------------------------------------
%% gen_tcp passive, re-armed with inert:fdset after every request
%%--------------------------------------------------------------------

rearm_start(S) ->
    {ok, Fd} = inet:getfd(S),
    rearm_wait(S, Fd).

rearm_wait(S, Fd) ->
    ok = inert:fdset(Fd),
    receive
        {inert_read, _, Fd} ->
            case gen_tcp:recv(S, 0, 5000) of
                {ok, Data} ->
                    ok = gen_tcp:send(S, Data),
                    rearm_wait(S, Fd);
                {error, _} ->
                    gen_tcp:close(S)
            end
    end.

%%--------------------------------------------------------------------
%% Prototypes: gen_tcp passive, readiness from a socket object on a dup
%%--------------------------------------------------------------------

%% The dup lives as long as the connection: a close of the gen_tcp
%% socket alone would leave the connection open (the dup holds it).
dup_kept_start(S) ->
    {ok, Fd} = inet:getfd(S),
    {ok, D} = socket:open(Fd, #{dup => true}),
    dup_kept_wait(S, D).

dup_kept_wait(S, D) ->
    case readable(D) of
        ok ->
            case gen_tcp:recv(S, 0, 5000) of
                {ok, Data} ->
                    ok = gen_tcp:send(S, Data),
                    dup_kept_wait(S, D);
                {error, _} ->
                    _ = socket:close(D),
                    gen_tcp:close(S)
            end;
        {error, _} ->
            _ = socket:close(D),
            gen_tcp:close(S)
    end.

%% A dup for each wait, closed once it said readable: what closing the
%% connection's fd in the VM needs to really close it.
dup_per_wait_start(S) ->
    {ok, Fd} = inet:getfd(S),
    dup_per_wait(S, Fd).

dup_per_wait(S, Fd) ->
    {ok, D} = socket:open(Fd, #{dup => true}),
    Ready = readable(D),
    ok = socket:close(D),
    case Ready of
        ok ->
            case gen_tcp:recv(S, 0, 5000) of
                {ok, Data} ->
                    ok = gen_tcp:send(S, Data),
                    dup_per_wait(S, Fd);
                {error, _} ->
                    gen_tcp:close(S)
            end;
        {error, _} ->
            gen_tcp:close(S)
    end.

%% Wait until D has data to read (a peek that does not take it).
readable(D) ->
    case socket:recv(D, 0, [peek], nowait) of
        {ok, _} ->
            ok;
        {select, {select_info, _, Handle}} ->
            receive {'$socket', D, select, Handle} -> ok end;
        {error, _} = Error ->
            Error
    end.
