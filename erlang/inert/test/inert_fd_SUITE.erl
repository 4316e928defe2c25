%% inert_fd (docs/contract.md, Passing file descriptors): fds over any unix socket with plain OTP, and dup and
%% open through the real inertd. Every case that receives fds checks that
%% each one is used or closed: the VM's and inertd's sockets in /proc are
%% counted before and after.
-module(inert_fd_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(inert_test_lib, [await/2, await_value/4, daemon_fds/0, flush_mailbox/0, vm_sockets/0,
                         waiting_for_answer/1, while_service_suspended/1]).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([
    fds_and_payload_cross_a_seqpacket_socket/1,
    fds_cross_a_stream_socket_with_an_empty_payload/1,
    fds_cross_a_datagram_socket/1,
    more_fds_than_expected_are_all_closed/1,
    truncated_control_data_closes_every_fd/1,
    truncated_payload_closes_every_fd/1,
    other_control_data_closes_every_fd/1,
    bad_arguments_are_errors/1,
    close_really_closes/1,
    dup_gives_a_new_fd_for_the_same_socket/1,
    dup_of_a_bad_or_closed_fd_is_ebadf/1,
    dup_with_extra_fds_is_einval_and_inertd_keeps_none/1,
    handed_fd_of_a_dead_caller_is_closed/1,
    dup_survives_an_inertd_restart/1,
    open_tcp_listens_and_is_pollable/1,
    open_udp_inet6_on_loopback/1,
    open_reuseport_binds_one_port_twice/1,
    open_errors_are_errno_atoms/1,
    open_takes_a_proplist_and_a_string_address/1
]).

suite() ->
    [{timetrap, {seconds, 60}}].

all() ->
    [
        fds_and_payload_cross_a_seqpacket_socket,
        fds_cross_a_stream_socket_with_an_empty_payload,
        fds_cross_a_datagram_socket,
        more_fds_than_expected_are_all_closed,
        truncated_control_data_closes_every_fd,
        truncated_payload_closes_every_fd,
        other_control_data_closes_every_fd,
        bad_arguments_are_errors,
        close_really_closes,
        dup_gives_a_new_fd_for_the_same_socket,
        dup_of_a_bad_or_closed_fd_is_ebadf,
        dup_with_extra_fds_is_einval_and_inertd_keeps_none,
        handed_fd_of_a_dead_caller_is_closed,
        dup_survives_an_inertd_restart,
        open_tcp_listens_and_is_pollable,
        open_udp_inet6_on_loopback,
        open_reuseport_binds_one_port_twice,
        open_errors_are_errno_atoms,
        open_takes_a_proplist_and_a_string_address
    ].

init_per_suite(Config) ->
    inert_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    inert_test_lib:end_per_suite(Config).

%% sock_dir: a short path for unix sockets (priv_dir is too long for one).
init_per_testcase(_Case, Config) ->
    inert_test_lib:fd_baseline(
      [{sock_dir, string:trim(os:cmd("mktemp -d"))} | inert_test_lib:init_per_testcase(Config)]).

%% Nothing a case received or opened is left open, here or in inertd.
end_per_testcase(_Case, Config) ->
    ok = inert_test_lib:end_per_testcase(),
    ok = file:del_dir_r(?config(sock_dir, Config)),
    ok = inert_test_lib:check_fd_baseline(Config),
    #{service := #{handovers := 0}} = inert:info(),
    ok.

%%--------------------------------------------------------------------
%% Over any unix socket
%%--------------------------------------------------------------------

fds_and_payload_cross_a_seqpacket_socket(Config) ->
    {A, B} = inert_test_lib:local_pair(seqpacket, ?config(sock_dir, Config)),
    Socks = [udp() || _ <- lists:seq(1, 3)],
    FDs = [fd(S) || S <- Socks],
    ok = inert_fd:send(A, [<<"three ">>, "fds"], FDs),
    {ok, <<"three fds">>, Got} = inert_fd:recv(B, 3, 5000),
    3 = length(Got),
    %% new fd numbers for the same sockets, in the order sent
    [] = [F || F <- Got, lists:member(F, FDs)],
    ?assertEqual([inode(F) || F <- FDs], [inode(F) || F <- Got]),
    ok = close_fds(Got),
    close_socks([A, B | Socks]).

fds_cross_a_stream_socket_with_an_empty_payload(Config) ->
    {A, B} = inert_test_lib:local_pair(stream, ?config(sock_dir, Config)),
    S = udp(),
    ok = inert_fd:send(A, <<>>, [fd(S)]),
    %% a stream carries no fds without a byte: one zero byte goes with it
    {ok, <<0>>, [FD]} = inert_fd:recv(B, 1, 5000),
    ?assertEqual(inode(fd(S)), inode(FD)),
    ok = inert_fd:close(FD),
    %% and plain data without fds
    ok = inert_fd:send(A, <<"just data">>, []),
    {ok, <<"just data">>, []} = inert_fd:recv(B, 1, 5000),
    close_socks([A, B, S]).

fds_cross_a_datagram_socket(Config) ->
    Dir = ?config(sock_dir, Config),
    {ok, A} = socket:open(local, dgram, default),
    {ok, B} = socket:open(local, dgram, default),
    PathA = filename:join(Dir, "a.sock"),
    PathB = filename:join(Dir, "b.sock"),
    _ = [file:delete(P) || P <- [PathA, PathB]],
    ok = socket:bind(A, #{family => local, path => PathA}),
    ok = socket:bind(B, #{family => local, path => PathB}),
    ok = socket:connect(A, #{family => local, path => PathB}),
    S = udp(),
    ok = inert_fd:send(A, <<"dgram">>, [fd(S), fd(S)]),
    {ok, <<"dgram">>, [F1, F2]} = inert_fd:recv(B, 2, 5000),
    ?assertEqual(inode(fd(S)), inode(F1)),
    ?assertEqual(inode(fd(S)), inode(F2)),
    ok = close_fds([F1, F2]),
    close_socks([A, B, S]).

more_fds_than_expected_are_all_closed(Config) ->
    {A, B} = inert_test_lib:local_pair(seqpacket, ?config(sock_dir, Config)),
    S = udp(),
    %% two fds where one was expected: the control buffer (aligned) holds
    %% both, so they arrive, and both are closed
    ok = inert_fd:send(A, <<"two">>, [fd(S), fd(S)]),
    Before = vm_sockets(),
    {error, too_many_fds} = inert_fd:recv(B, 1, 5000),
    ?assertEqual(Before, vm_sockets()),
    %% sixteen: the kernel keeps what fits and closes the rest (ctrunc)
    ok = inert_fd:send(A, <<"sixteen">>, lists:duplicate(16, fd(S))),
    {error, too_many_fds} = inert_fd:recv(B, 4, 5000),
    ?assertEqual(Before, vm_sockets()),
    %% the socket still works
    ok = inert_fd:send(A, <<"one">>, [fd(S)]),
    {ok, <<"one">>, [FD]} = inert_fd:recv(B, 1, 5000),
    ok = inert_fd:close(FD),
    close_socks([A, B, S]).

truncated_control_data_closes_every_fd(Config) ->
    {A, B} = inert_test_lib:local_pair(seqpacket, ?config(sock_dir, Config)),
    S = udp(),
    ok = inert_fd:send(A, <<"x">>, [fd(S), fd(S), fd(S)]),
    Before = vm_sockets(),
    %% a control buffer with room for two (16 + 8 bytes)
    {ok, Msg} = socket:recvmsg(B, 0, 24, [], 5000),
    #{flags := Flags, ctrl := [#{type := rights}]} = Msg,
    true = lists:member(ctrunc, Flags),
    ?assertEqual(Before + 2, vm_sockets()),
    {error, too_many_fds} = inert_fd:take(Msg, 3),
    ?assertEqual(Before, vm_sockets()),
    close_socks([A, B, S]).

truncated_payload_closes_every_fd(Config) ->
    {A, B} = inert_test_lib:local_pair(seqpacket, ?config(sock_dir, Config)),
    S = udp(),
    ok = inert_fd:send(A, binary:copy(<<"y">>, 100), [fd(S)]),
    Before = vm_sockets(),
    {ok, Msg} = socket:recvmsg(B, 10, 0, [], 5000),
    ?assertEqual(Before + 1, vm_sockets()),
    {error, truncated} = inert_fd:take(Msg, 1),
    ?assertEqual(Before, vm_sockets()),
    close_socks([A, B, S]).

other_control_data_closes_every_fd(Config) ->
    {A, B} = inert_test_lib:local_pair(seqpacket, ?config(sock_dir, Config)),
    %% with SO_PASSCRED every message also brings SCM_CREDENTIALS
    ok = socket:setopt(B, {socket, passcred}, true),
    S = udp(),
    ok = inert_fd:send(A, <<"creds">>, [fd(S)]),
    Before = vm_sockets(),
    {error, unexpected_control} = inert_fd:recv(B, 1, 5000),
    ?assertEqual(Before, vm_sockets()),
    close_socks([A, B, S]).

bad_arguments_are_errors(Config) ->
    {A, B} = inert_test_lib:local_pair(seqpacket, ?config(sock_dir, Config)),
    {error, einval} = inert_fd:send(A, <<"x">>, [-1]),
    {error, einval} = inert_fd:send(A, <<"x">>, [not_an_fd]),
    {error, einval} = inert_fd:send(A, <<"x">>, lists:duplicate(254, 0)),
    {error, ebadf} = inert_fd:send(A, <<"x">>, [closed_fd()]),
    {error, einval} = inert_fd:recv(B, -1),
    {error, timeout} = inert_fd:recv(B, 1, 0),
    %% Not a socket, not iodata, a bad timeout, not a message, an
    %% address that is not a string: errors, not crashes.
    [{error, einval} = inert_fd:send(NotSock, <<"x">>, []) || NotSock <- [foo, self(), {'$socket', 1}]],
    {error, einval} = inert_fd:send(A, [<<"x">> | x], []),
    {error, einval} = inert_fd:send(A, <<"x">>, [0 | x]),
    {error, einval} = inert_fd:send(A, <<"x">>, [], -5),
    [{error, einval} = inert_fd:recv(NotSock, 1) || NotSock <- [foo, self(), {'$socket', 1}]],
    {error, einval} = inert_fd:recv(B, 1, soon),
    [{error, einval} = inert_fd:take(M, 1) || M <- [foo, #{}, #{iov => x, flags => []},
                                                   #{iov => [], flags => [], ctrl => x}]],
    {error, einval} = inert_fd:take(#{iov => [], flags => []}, -1),
    [{error, einval} = inert_fd:open(S) || S <- [#{addr => [$1 | $2]}, #{addr => [[$1]]},
                                                 #{addr => [1 bsl 40]}, [{addr, [$1 | $2]}]]],
    {error, ebadf} = inert_fd:close(-1),
    {error, ebadf} = inert_fd:close(foo),
    {error, ebadf} = inert_fd:close(closed_fd()),
    close_socks([A, B]).

%% After inert_fd:close/1 nothing holds the socket: the TCP peer sees EOF.
close_really_closes(_Config) ->
    {Server, Client} = inert_test_lib:tcp_pair(),
    {ok, FD} = inet:getfd(Server),
    {ok, Dup} = inert_fd:dup(FD),
    ok = gen_tcp:close(Server),
    {error, timeout} = gen_tcp:recv(Client, 0, 100), % the duplicate holds it
    ok = inert_fd:close(Dup),
    {error, closed} = gen_tcp:recv(Client, 0, 5000),
    ok = gen_tcp:close(Client).

%%--------------------------------------------------------------------
%% dup through inertd
%%--------------------------------------------------------------------

dup_gives_a_new_fd_for_the_same_socket(_Config) ->
    {ok, Rx} = gen_udp:open(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, FD} = inet:getfd(Rx),
    {ok, Dup} = inert_fd:dup(FD),
    true = Dup =/= FD,
    ?assertEqual(inode(FD), inode(Dup)),
    %% a datagram sent to the socket is read through the duplicate
    {ok, S} = socket:open(Dup, #{dup => false}),
    {ok, #{port := Port}} = socket:sockname(S),
    {ok, Tx} = gen_udp:open(0, [binary]),
    ok = gen_udp:send(Tx, {127, 0, 0, 1}, Port, <<"via dup">>),
    {ok, {_, <<"via dup">>}} = socket:recvfrom(S, 0, [], 5000),
    ok = socket:close(S),
    ok = inert_fd:close(Dup),
    #{counters := #{fds_sent := Sent}} = inert:info(),
    true = Sent >= 1,
    close_socks([Rx, Tx]).

dup_of_a_bad_or_closed_fd_is_ebadf(_Config) ->
    {error, ebadf} = inert_fd:dup(-1),
    {error, ebadf} = inert_fd:dup(1 bsl 31),
    {error, ebadf} = inert_fd:dup(stdin),
    {error, ebadf} = inert_fd:dup(closed_fd()).

%% A dup request that brings three fds is refused; inertd closes all three.
dup_with_extra_fds_is_einval_and_inertd_keeps_none(_Config) ->
    S = udp(),
    FD = fd(S),
    {Side, _Port} = inert_srv:lookup(inert:pollid()),
    Ref = make_ref(),
    ok = socket:sendmsg(Side, #{iov => [term_to_binary({dup, self(), Ref, FD})],
                                ctrl => [#{level => socket, type => rights,
                                           data => <<FD:32/native, FD:32/native, FD:32/native>>}]}),
    receive {Ref, Reply} -> {error, einval} = Reply after 5000 -> ct:fail(no_answer) end,
    close_socks([S]).

%% The caller is killed while its fd is on the way: the service gets the
%% fd, finds its caller dead and closes it (end_per_testcase counts).
handed_fd_of_a_dead_caller_is_closed(_Config) ->
    S = udp(),
    FD = fd(S),
    #{counters := #{fds_sent := Sent0}} = inert:info(),
    Self = self(),
    Caller = while_service_suspended(
               fun() ->
                       C = spawn(fun() -> Self ! {self(), inert_fd:dup(FD)} end),
                       %% it has sent the request and waits for the answer
                       ok = await(fun() -> waiting_for_answer(C) end, 5000),
                       exit(C, kill),
                       C
               end),
    ok = await(fun() -> #{counters := #{fds_sent := Sent}} = inert:info(), Sent =:= Sent0 + 1 end, 5000),
    ok = await(fun() -> #{service := #{handovers := H}} = inert:info(), H =:= 0 end, 5000),
    receive {Caller, _} -> ct:fail(dead_caller_answered) after 0 -> ok end,
    close_socks([S]).

%% inertd killed while a dup waits: the request goes to the new inertd.
dup_survives_an_inertd_restart(_Config) ->
    S = udp(),
    #{os_pid := Old} = inert:info(),
    Self = self(),
    Caller = while_service_suspended(
               fun() ->
                       C = spawn(fun() -> Self ! {self(), inert_fd:dup(fd(S))} end),
                       ok = await(fun() -> waiting_for_answer(C) end, 5000),
                       _ = os:cmd("kill -9 " ++ integer_to_list(Old)),
                       ok = await(fun() -> not inert_test_lib:os_pid_alive(Old) end, 5000),
                       C
               end),
    receive
        {Caller, {ok, Dup}} ->
            ?assertEqual(inode(fd(S)), inode(Dup)),
            ok = inert_fd:close(Dup)
    after 10000 ->
        ct:fail(no_answer_after_restart)
    end,
    #{os_pid := New} = inert:info(),
    true = New =/= Old,
    close_socks([S]).

%%--------------------------------------------------------------------
%% open through inertd
%%--------------------------------------------------------------------

open_tcp_listens_and_is_pollable(_Config) ->
    {ok, FD} = inert_fd:open(#{type => tcp, addr => loopback, port => 0, backlog => 8}),
    {ok, L} = socket:open(FD, #{dup => false}),
    {ok, #{family := inet, addr := {127, 0, 0, 1}, port := Port}} = socket:sockname(L),
    {ok, true} = socket:getopt(L, socket, acceptconn),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    {ok, read} = inert:poll(FD, read, 5000),
    {ok, A} = socket:accept(L, 0),
    ok = socket:send(A, <<"from the handed listener">>),
    {ok, <<"from the handed listener">>} = gen_tcp:recv(C, 0, 5000),
    ok = gen_tcp:close(C),
    close_socks([A, L]),
    ok = inert_fd:close(FD),
    #{counters := #{fds_opened := Opened}} = inert:info(),
    true = Opened >= 1.

open_udp_inet6_on_loopback(_Config) ->
    case gen_udp:open(0, [inet6, {ip, {0, 0, 0, 0, 0, 0, 0, 1}}]) of
        {error, _} ->
            {skip, no_ipv6_loopback};
        {ok, Probe} ->
            ok = gen_udp:close(Probe),
            {ok, FD} = inert_fd:open(#{type => udp, family => inet6, addr => loopback}),
            {ok, S} = socket:open(FD, #{dup => false}),
            {ok, #{family := inet6, addr := {0, 0, 0, 0, 0, 0, 0, 1}}} = socket:sockname(S),
            {ok, dgram} = socket:getopt(S, socket, type),
            ok = socket:close(S),
            ok = inert_fd:close(FD)
    end.

open_reuseport_binds_one_port_twice(_Config) ->
    Spec = #{type => udp, addr => loopback, reuseport => true},
    {ok, A} = inert_fd:open(Spec),
    Port = port_of(A),
    {ok, B} = inert_fd:open(Spec#{port => Port}),
    ?assertEqual(Port, port_of(B)),
    {error, eaddrinuse} = inert_fd:open(#{type => udp, addr => loopback, port => Port}),
    ok = close_fds([A, B]).

open_errors_are_errno_atoms(_Config) ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    {error, eaddrinuse} = inert_fd:open(#{addr => loopback, port => Port}),
    %% TEST-NET-1 is on no interface
    {error, eaddrnotavail} = inert_fd:open(#{addr => {192, 0, 2, 1}}),
    [{error, einval} = inert_fd:open(Bad)
     || Bad <- [#{type => sctp}, #{family => local}, #{port => 70000}, #{port => -1},
                #{addr => {1, 2, 3}}, #{addr => {256, 0, 0, 1}}, #{addr => "not an address"},
                #{family => inet6, addr => {127, 0, 0, 1}}, #{type => udp, backlog => 5},
                #{reuseaddr => yes}, #{frob => 1}, not_a_spec, [{type, tcp} | bad]]],
    ok = gen_tcp:close(L).

open_takes_a_proplist_and_a_string_address(_Config) ->
    {ok, FD} = inert_fd:open([{type, udp}, {addr, "127.0.0.1"}, reuseaddr]),
    {ok, S} = socket:open(FD, #{dup => false}),
    {ok, #{addr := {127, 0, 0, 1}}} = socket:sockname(S),
    {ok, true} = socket:getopt(S, socket, reuseaddr),
    ok = socket:close(S),
    ok = inert_fd:close(FD),
    %% an IPv6 tuple or string implies inet6
    {ok, #{family := inet6, addr := {0, 0, 0, 0, 0, 0, 0, 1}}} = inert_fd:spec(#{addr => "::1"}),
    {ok, #{family := inet6, type := tcp, backlog := 128, port := 0}} =
        inert_fd:spec(#{addr => {0, 0, 0, 0, 0, 0, 0, 0}}).

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

udp() ->
    {ok, S} = socket:open(inet, dgram, udp),
    S.

fd(S) ->
    {ok, FD} = socket:getopt(S, otp, fd),
    FD.

close_socks(Socks) ->
    _ = [close_sock(S) || S <- Socks],
    ok.

close_sock(S) when is_port(S) -> gen_udp:close(S);
close_sock(S) -> socket:close(S).

close_fds(FDs) ->
    lists:foreach(fun(FD) -> ok = inert_fd:close(FD) end, FDs).

port_of(FD) ->
    {ok, S} = socket:open(FD, #{dup => false}),
    {ok, #{port := Port}} = socket:sockname(S),
    ok = socket:close(S),
    Port.

%% What an fd refers to, as /proc shows it ("socket:[12345]").
inode(FD) ->
    {ok, Link} = file:read_link("/proc/self/fd/" ++ integer_to_list(FD)),
    Link.

%% An fd number that is not open.
closed_fd() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    lists:max([list_to_integer(N) || N <- Names]) + 100.
