%% @doc Passing fds to a VM, two ways (docs/contract.md, "Passing file descriptors").
%%
%% 1. A listening socket made by another OS process. `listener_from/2'
%%    starts the Go program handoff/ (`-sock Path'), accepts its connection
%%    on a unix socket and receives the listener with `inert_fd:recv/3';
%%    `serve/3' polls it with inert and serves connections on it.
%%
%% 2. socketfd's scenario (seeds/socketfd-README.txt): one UDP socket,
%%    opened by inertd, and five workers each holding its own duplicate
%%    from `inert_fd:dup/1', waiting on it with inert and together
%%    receiving every datagram sent: `udp_workers/2'.
%%
%%     erl -noshell -pa <inert ebin> -pa <these beams> -run fdpass main <handoff binary>
%%
%% `main/1' runs both and halts with status 0 when all went as expected.
-module(fdpass).

-export([main/1, listener_from/2, serve/3, udp_workers/2]).

-spec main([string()]) -> no_return().
main([Handoff]) ->
    Status = try
        ok = inert:start(),
        ok = listener_demo(Handoff),
        ok = udp_demo(),
        0
    catch
        Class:Reason:Stack ->
            io:format("fdpass failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
            1
    end,
    erlang:halt(Status).

listener_demo(Handoff) ->
    Dir = string:trim(os:cmd("mktemp -d")),
    {Addr, FD} = listener_from(Handoff, Dir),
    ok = file:del_dir(Dir),
    io:format("VM: received the listener on ~s from the Go program as fd ~b~n", [Addr, FD]),
    {ok, {IP, Port}} = parse(Addr),
    Self = self(),
    Server = spawn_link(fun() -> Self ! {self(), serve(FD, 10, fun hello/2)} end),
    Replies = [client(IP, Port) || _ <- lists:seq(1, 10)],
    receive {Server, ok} -> ok end,
    io:format("VM: served ~b connections on it with inert: ~p~n", [length(Replies), hd(Replies)]),
    ok.

udp_demo() ->
    {Counts, Sent} = udp_workers(5, 1000),
    io:format("VM: five workers, each on its own dup of one UDP socket, received ~b of ~b datagrams: ~w~n",
              [lists:sum(Counts), Sent, Counts]),
    Sent = lists:sum(Counts),
    ok.

%%--------------------------------------------------------------------
%% 1. A listener from a Go program
%%--------------------------------------------------------------------

%% @doc Run the Go program `Handoff' and receive the listening socket it
%% hands over a unix socket in `Dir'. Returns its address (the payload)
%% and the fd, which the caller owns.
-spec listener_from(file:filename(), file:filename()) -> {string(), inert_fd:fd()}.
listener_from(Handoff, Dir) ->
    Path = filename:join(Dir, "vm.sock"),
    {ok, L} = socket:open(local, stream, default),
    ok = socket:bind(L, #{family => local, path => Path}),
    ok = socket:listen(L),
    Go = open_port({spawn_executable, Handoff},
                   [{args, ["-sock", Path]}, exit_status, stderr_to_stdout, binary]),
    {ok, C} = socket:accept(L, 10000),
    {ok, Addr, [FD]} = inert_fd:recv(C, 1, 10000),
    ok = socket:close(C),
    ok = socket:close(L),
    ok = file:delete(Path),
    0 = exit_status(Go, []),
    {binary_to_list(Addr), FD}.

exit_status(Port, Out) ->
    receive
        {Port, {data, D}} -> exit_status(Port, [Out, D]);
        {Port, {exit_status, 0}} -> 0;
        {Port, {exit_status, S}} -> io:format("~s", [Out]), S
    after 10000 -> error({handoff_timeout, iolist_to_binary(Out)})
    end.

%% @doc Serve `N' connections on the listening socket `FD' and return:
%% the fd is wrapped in a socket of the VM's own (`socket:open/2' makes a
%% duplicate that closing the socket closes), the bare fd closed at once,
%% and every accept waits for inert's `{inert_read, PollId, FD}'.
-spec serve(inert_fd:fd(), non_neg_integer(), fun((socket:socket(), pos_integer()) -> term())) -> ok.
serve(FD, N, Handler) ->
    {ok, L} = socket:open(FD, #{dup => true}),
    ok = inert_fd:close(FD),
    {ok, LFD} = socket:getopt(L, otp, fd),
    ok = accept(L, LFD, 1, N, Handler),
    socket:close(L).

accept(_L, _LFD, K, N, _Handler) when K > N ->
    ok;
accept(L, LFD, K, N, Handler) ->
    case socket:accept(L, 0) of
        {ok, S} ->
            _ = Handler(S, K),
            _ = socket:close(S),
            accept(L, LFD, K + 1, N, Handler);
        {error, timeout} ->
            ok = inert:fdset(LFD, read),
            receive {inert_read, _PollId, LFD} -> accept(L, LFD, K, N, Handler) end
    end.

hello(S, K) ->
    socket:send(S, io_lib:format("hello ~b from the VM~n", [K])).

client(IP, Port) ->
    {ok, C} = gen_tcp:connect(IP, Port, [binary, {active, false}], 5000),
    Reply = recv_all(C, []),
    ok = gen_tcp:close(C),
    Reply.

recv_all(C, Acc) ->
    case gen_tcp:recv(C, 0, 5000) of
        {ok, B} -> recv_all(C, [Acc, B]);
        {error, closed} -> iolist_to_binary(Acc)
    end.

parse(Addr) ->
    [Host, Port] = string:split(Addr, ":", trailing),
    {ok, IP} = inet:parse_address(Host),
    {ok, {IP, list_to_integer(Port)}}.

%%--------------------------------------------------------------------
%% 2. socketfd's scenario: one UDP socket, a duplicate per worker
%%--------------------------------------------------------------------

%% @doc inertd opens a UDP socket on 127.0.0.1; `Workers' processes each
%% get their own duplicate (`inert_fd:dup/1') and wait on it with inert;
%% `Count' datagrams are sent to the socket and the workers between them
%% receive every one. Returns how many each worker received, and how many
%% were sent. Every fd is closed on return.
%%
%% The sender sends in windows of 100 and waits for the workers to report
%% them, so that a UDP receive buffer never overflows.
-spec udp_workers(pos_integer(), pos_integer()) -> {[non_neg_integer()], pos_integer()}.
udp_workers(Workers, Count) ->
    {ok, FD} = inert_fd:open(#{type => udp, addr => loopback, port => 0}),
    {ok, S} = socket:open(FD, #{dup => false}),
    {ok, #{port := Port}} = socket:sockname(S),
    ok = socket:close(S), % the socket, not the fd: dup => false
    Self = self(),
    Pids = [spawn_link(fun() -> worker(FD, Self) end) || _ <- lists:seq(1, Workers)],
    _ = [receive {ready, P} -> ok after 10000 -> error(stuck(P, ready)) end || P <- Pids],
    ok = inert_fd:close(FD), % every worker has its own duplicate now
    {ok, Tx} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}]),
    ok = send_windows(Tx, Port, 0, Count),
    ok = gen_udp:close(Tx),
    _ = [P ! stop || P <- Pids],
    {[receive {done, P, N} -> N after 10000 -> error(stuck(P, done)) end || P <- Pids], Count}.

%% A worker that did not report in time, where it is, and where the inert
%% service is (the worker waits on it).
stuck(P, Awaited) ->
    Where = fun(Pid) -> catch erlang:process_info(Pid, [current_stacktrace, message_queue_len]) end,
    {worker_did_not_report, Awaited, {worker, Where(P)}, {inert, Where(whereis(inert))}}.

send_windows(_Tx, _Port, Sent, Count) when Sent >= Count ->
    ok;
send_windows(Tx, Port, Sent, Count) ->
    Window = min(100, Count - Sent),
    _ = [ok = gen_udp:send(Tx, {127, 0, 0, 1}, Port, <<(Sent + I):32>>)
         || I <- lists:seq(1, Window)],
    _ = [receive got -> ok after 10000 -> error({lost_datagrams, Sent, I}) end
         || I <- lists:seq(1, Window)],
    send_windows(Tx, Port, Sent + Window, Count).

worker(FD, Coordinator) ->
    {ok, WFD} = inert_fd:dup(FD),
    {ok, S} = socket:open(WFD, #{dup => false}),
    Coordinator ! {ready, self()},
    receive_loop(S, WFD, Coordinator, 0).

%% Take every datagram waiting (recvfrom with timeout 0), then wait for
%% inert. All workers wake up for a datagram; one gets it.
receive_loop(S, WFD, Coordinator, N) ->
    case socket:recvfrom(S, 0, [], 0) of
        {ok, {_Source, <<_:32>>}} ->
            Coordinator ! got,
            receive_loop(S, WFD, Coordinator, N + 1);
        {error, timeout} ->
            ok = inert:fdset(WFD, read),
            receive
                {inert_read, _PollId, WFD} ->
                    receive_loop(S, WFD, Coordinator, N);
                stop ->
                    ok = inert:fdclr(WFD),
                    ok = socket:close(S),
                    ok = inert_fd:close(WFD),
                    Coordinator ! {done, self(), N}
            end
    end.
