%% inert_io: I/O handles on fds read and written by the real inertd, on
%% TCP, UDP and unix sockets on 127.0.0.1 and on a named pipe. The
%% handle's side of each pair is an OTP socket whose fd is handed over and
%% then closed in the VM; the peer is a plain gen_tcp/gen_udp/socket.
%% Every case leaves no socket open here or in inertd, and no handle.
-module(inert_io_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(inert_test_lib, [await/3, await_value/4]).

%% The chunk of the pty flow-control case's sends.
-define(PTY_CHUNK, 4096).

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([
    tcp_bytes_arrive_in_order_active_true/1,
    active_once_delivers_one_message_then_waits/1,
    active_n_sends_passive_when_it_runs_out/1,
    passive_recv_takes_exact_lengths_and_times_out/1,
    a_dead_recv_caller_takes_no_data/1,
    packet_framing_both_ways/1,
    udp_each_datagram_is_one_message/1,
    seqpacket_datagrams_then_eof/1,
    passive_handle_makes_inertd_stop_reading/1,
    buffer_smaller_than_a_read_still_flows/1,
    data_on_its_way_to_the_handle_counts_against_the_credit_it_grants/1,
    send_blocks_on_a_full_queue_and_times_out/1,
    eof_comes_after_every_byte_active_and_passive/1,
    owner_death_closes_the_handle/1,
    kill_9_of_inertd_ends_handles_with_inertd_down/1,
    controlling_process_moves_the_messages/1,
    switching_active_under_flowing_data_loses_and_repeats_nothing/1,
    controlling_process_under_flowing_data_leaves_nothing_late_with_the_old_owner/1,
    concurrent_senders_arrive_each_in_its_order_with_none_lost/1,
    close_writes_every_send_that_returned_ok_first/1,
    data_goes_straight_only_to_an_owner_whose_messages_keep_send_order/1,
    bad_input_is_an_error_not_a_crash/1,
    named_pipe_both_ends/1,
    flood_of_100_mb_into_a_passive_handle_stays_bounded/1,
    round_trip_and_flow_control_under_each_poller/1,
    pty_bytes_arrive_in_order_both_ways/1,
    pty_passive_consumer_blocks_the_writer_until_it_reads/1,
    pty_datagram_sends_arrive_whole_however_the_tty_takes_them/1
]).

suite() ->
    [{timetrap, {seconds, 120}}].

all() ->
    [tcp_bytes_arrive_in_order_active_true,
     active_once_delivers_one_message_then_waits,
     active_n_sends_passive_when_it_runs_out,
     passive_recv_takes_exact_lengths_and_times_out,
     a_dead_recv_caller_takes_no_data,
     packet_framing_both_ways,
     udp_each_datagram_is_one_message,
     seqpacket_datagrams_then_eof,
     passive_handle_makes_inertd_stop_reading,
     buffer_smaller_than_a_read_still_flows,
     data_on_its_way_to_the_handle_counts_against_the_credit_it_grants,
     send_blocks_on_a_full_queue_and_times_out,
     eof_comes_after_every_byte_active_and_passive,
     owner_death_closes_the_handle,
     kill_9_of_inertd_ends_handles_with_inertd_down,
     controlling_process_moves_the_messages,
     switching_active_under_flowing_data_loses_and_repeats_nothing,
     controlling_process_under_flowing_data_leaves_nothing_late_with_the_old_owner,
     concurrent_senders_arrive_each_in_its_order_with_none_lost,
     close_writes_every_send_that_returned_ok_first,
     data_goes_straight_only_to_an_owner_whose_messages_keep_send_order,
     bad_input_is_an_error_not_a_crash,
     named_pipe_both_ends,
     round_trip_and_flow_control_under_each_poller,
     {group, pty},
     {group, slow}].

groups() ->
    [{pty, [], [pty_bytes_arrive_in_order_both_ways,
                pty_passive_consumer_blocks_the_writer_until_it_reads,
                pty_datagram_sends_arrive_whole_however_the_tty_takes_them]},
     {slow, [], [flood_of_100_mb_into_a_passive_handle_stays_bounded]}].

init_per_suite(Config) ->
    inert_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    inert_test_lib:end_per_suite(Config).

init_per_group(slow, Config) ->
    inert_test_lib:slow_group(Config);
init_per_group(pty, Config) ->
    Config.

end_per_group(_, _Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    inert_test_lib:fd_baseline(
      [{sock_dir, string:trim(os:cmd("mktemp -d"))} | inert_test_lib:init_per_testcase(Config)]).

end_per_testcase(_Case, Config) ->
    ok = inert_test_lib:end_per_testcase(),
    ok = await_value(no_io_handles_in_inertd, fun io_handles/0, 0, 5000),
    true = fd_sum_holds(),
    ok = await_value(no_handle_processes, fun() -> supervisor:which_children(inert_io_sup) end,
                     [], 5000),
    ok = file:del_dir_r(?config(sock_dir, Config)),
    ok = inert_test_lib:check_fd_baseline(Config).

%%--------------------------------------------------------------------
%% Cases
%%--------------------------------------------------------------------

%% 1 MB of random bytes written by the peer arrive whole and in order
%% as {inert_io, H, Data} messages; what the handle sends arrives at the
%% peer.
tcp_bytes_arrive_in_order_active_true(_Config) ->
    {H, Peer} = tcp_handle([{active, true}]),
    Bytes = crypto:strong_rand_bytes(1000000),
    Writer = spawn_link(fun() -> ok = gen_tcp:send(Peer, Bytes) end),
    ?assertEqual(Bytes, collect(H, byte_size(Bytes))),
    true = fd_sum_holds(),
    ok = inert_io:send(H, [<<"and ">>, "back"]),
    ?assertEqual({ok, <<"and back">>}, gen_tcp:recv(Peer, 8, 5000)),
    unlink(Writer),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% {active, once}: one message, then nothing until the owner asks again.
active_once_delivers_one_message_then_waits(_Config) ->
    {H, Peer} = tcp_handle([{active, once}]),
    ok = gen_tcp:send(Peer, <<"one">>),
    ?assertEqual(<<"one">>, next_data(H)),
    ok = gen_tcp:send(Peer, <<"two">>),
    ok = await_held(H, 3),
    ok = inert_test_lib:refute_message({inert_io, H, '_'}),
    ok = inert_io:setopts(H, [{active, once}]),
    ?assertEqual(<<"two">>, next_data(H)),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% {active, N}: N messages, then {inert_io_passive, H}; {active, N}
%% adds to the count; a recv works once passive.
active_n_sends_passive_when_it_runs_out(_Config) ->
    {H, Peer} = dgram_handle(udp, [{active, 2}]),
    [ok = peer_send(Peer, M) || M <- [<<"a">>, <<"b">>, <<"c">>]],
    ?assertEqual(<<"a">>, next_data(H)),
    ?assertEqual(<<"b">>, next_data(H)),
    receive {inert_io_passive, H} -> ok after 5000 -> ct:fail(no_passive_message) end,
    ok = await_held(H, 1),
    ok = inert_test_lib:refute_message({inert_io, H, '_'}),
    ?assertEqual({ok, <<"c">>}, inert_io:recv(H, 0, 5000)),
    ok = inert_io:setopts(H, [{active, 1}]),
    ok = inert_io:setopts(H, [{active, 1}]),
    [ok = peer_send(Peer, M) || M <- [<<"d">>, <<"e">>]],
    ?assertEqual(<<"d">>, next_data(H)),
    ?assertEqual(<<"e">>, next_data(H)),
    receive {inert_io_passive, H} -> ok after 5000 -> ct:fail(no_second_passive_message) end,
    ok = inert_io:close(H),
    ok = peer_close(Peer).

%% Passive: recv(H, N) gives exactly N bytes however they were written;
%% recv(H, 0) whatever is there; a recv with nothing there times out.
passive_recv_takes_exact_lengths_and_times_out(_Config) ->
    {H, Peer} = tcp_handle([]),
    ?assertEqual({error, timeout}, inert_io:recv(H, 0, 100)),
    ok = gen_tcp:send(Peer, <<"abc">>),
    ok = gen_tcp:send(Peer, <<"defgh">>),
    ?assertEqual({ok, <<"ab">>}, inert_io:recv(H, 2, 5000)),
    ?assertEqual({ok, <<"cdefg">>}, inert_io:recv(H, 5, 5000)),
    ?assertEqual({error, timeout}, inert_io:recv(H, 2, 200)),
    ?assertEqual({ok, <<"h">>}, inert_io:recv(H, 0, 5000)),
    %% A recv longer than the buffer is served: the credit follows it.
    Big = crypto:strong_rand_bytes(1000000),
    spawn_link(fun() -> ok = gen_tcp:send(Peer, Big) end),
    ?assertEqual({ok, Big}, inert_io:recv(H, byte_size(Big), 10000)),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% A process killed while it waits in recv/3 takes nothing with it: the
%% next data goes to the next caller (before, the handle answered the
%% dead caller and the bytes were lost).
a_dead_recv_caller_takes_no_data(_Config) ->
    {H, Peer} = tcp_handle([]),
    Waiter = spawn(fun() -> inert_io:recv(H, 0, infinity) end),
    ok = await(waiter_in_recv, fun() -> waiting_on(H, Waiter) end, 5000),
    exit(Waiter, kill),
    %% The handle's monitor of the waiter fires (its 'DOWN' is queued
    %% ahead of anything after this round trip).
    ok = await(handle_saw_the_waiter_die,
               fun() -> _ = sys:get_state(H),
                        {monitors, Ms} = process_info(H, monitors),
                        not lists:member({process, Waiter}, Ms) end, 5000),
    _ = sys:get_state(H),
    ok = gen_tcp:send(Peer, <<"for the living">>),
    ?assertEqual({ok, <<"for the living">>}, inert_io:recv(H, 0, 5000)),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% Whether Pid waits in its call to the handle H (then its request is
%% in H's queue, ahead of the round trip made here).
waiting_on(H, Pid) ->
    case process_info(Pid, current_function) of
        {current_function, {gen, do_call, 4}} -> _ = sys:get_state(H), true;
        _ -> false
    end.

%% {packet, 4} and {packet, 2}: messages and recv give whole packets
%% without the header however the bytes were cut, and send adds it.
packet_framing_both_ways(_Config) ->
    {H, Peer} = tcp_handle([{packet, 4}, {active, true}]),
    Wire = <<5:32, "hello", 0:32, 3:32, "abc">>,
    [begin ok = gen_tcp:send(Peer, [B]), timer:sleep(1) end || <<B>> <= Wire],
    ?assertEqual(<<"hello">>, next_data(H)),
    ?assertEqual(<<>>, next_data(H)),
    ?assertEqual(<<"abc">>, next_data(H)),
    ok = inert_io:send(H, <<"back">>),
    ?assertEqual({ok, <<4:32, "back">>}, gen_tcp:recv(Peer, 8, 5000)),
    ok = inert_io:setopts(H, [{active, false}, {packet, 2}]),
    ok = gen_tcp:send(Peer, <<2:16, "hi", 1:16>>),
    ?assertEqual({ok, <<"hi">>}, inert_io:recv(H, 0, 5000)),
    ?assertEqual({error, einval}, inert_io:recv(H, 3, 5000)),
    ok = gen_tcp:send(Peer, <<"!">>),
    ?assertEqual({ok, <<"!">>}, inert_io:recv(H, 0, 5000)),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% UDP: each datagram is one message, an empty one included, and each
%% send one datagram.
udp_each_datagram_is_one_message(_Config) ->
    {H, Peer} = dgram_handle(udp, [{type, datagram}, {active, true}]),
    Msgs = [<<"x">>, <<>>, crypto:strong_rand_bytes(1400), <<"last">>],
    [ok = peer_send(Peer, M) || M <- Msgs],
    ?assertEqual(Msgs, [next_data(H) || _ <- Msgs]),
    ok = inert_io:send(H, <<"one">>),
    ok = inert_io:send(H, <<"two">>),
    ?assertEqual([<<"one">>, <<"two">>], [peer_recv(Peer) || _ <- [1, 2]]),
    ?assertEqual({error, emsgsize}, inert_io:send(H, binary:copy(<<0>>, 60001))),
    ok = inert_io:close(H),
    ok = peer_close(Peer).

%% A unix SOCK_SEQPACKET pair: datagrams, then the peer's close is the
%% end of file.
seqpacket_datagrams_then_eof(Config) ->
    {A, B} = inert_test_lib:local_pair(seqpacket, ?config(sock_dir, Config)),
    H = open_socket(A, [{type, datagram}, {active, true}]),
    ok = socket:send(B, <<"first">>),
    ok = socket:send(B, <<"second">>),
    ?assertEqual(<<"first">>, next_data(H)),
    ?assertEqual(<<"second">>, next_data(H)),
    ok = inert_io:send(H, <<"reply">>),
    ?assertEqual({ok, <<"reply">>}, socket:recv(B, 0, 5000)),
    ok = socket:close(B),
    receive {inert_io_closed, H} -> ok after 5000 -> ct:fail(no_closed_message) end,
    ok = inert_test_lib:refute_message({inert_io_error, H, '_'}),
    ?assertEqual({error, closed}, inert_io:send(H, <<"x">>)).

%% Flow control: with a passive handle nobody reads (buffer 64 KiB),
%% inertd stops reading, the socket buffers fill and the peer's send
%% blocks; once the owner reads, every byte comes, in order.
passive_handle_makes_inertd_stop_reading(_Config) ->
    {H, Peer} = tcp_handle([{buffer, 65536}, {read_size, 16384}]),
    Total = 64 * 1024 * 1024,
    Self = self(),
    Producer = spawn_link(fun() -> produce(Peer, Total, Self) end),
    Written = receive {blocked, Producer, N} -> N
              after 20000 -> ct:fail(producer_never_blocked) end,
    ct:pal("the producer blocked after ~b bytes of ~b", [Written, Total]),
    ?assert(Written < Total),
    %% Now read it all: the bytes are the producer's counter, in order.
    ok = drain(H, Total, 0),
    receive {done, Producer} -> ok after 20000 -> ct:fail(producer_not_done) end,
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% Data inertd has read and that is still on its way to the handle's
%% process counts against the read credit that process grants: with four
%% entries waiting in its mailbox (it is suspended meanwhile), taking the
%% first must not make it grant credit for the bytes of the other three.
%% (When the service took the bytes off the credit as it relayed them,
%% the first entry made room for 3,072 bytes more: the handle then held
%% up to its buffer plus that, more than its bound.)
data_on_its_way_to_the_handle_counts_against_the_credit_it_grants(_Config) ->
    Buffer = 4096,
    ReadSize = 1024,
    {H, Peer} = tcp_handle([{buffer, Buffer}, {read_size, ReadSize}]),
    ok = sys:suspend(H),
    try
        [begin
             ok = gen_tcp:send(Peer, binary:copy(<<I>>, ReadSize)),
             ok = await_value({data_entries_waiting_in_the_handle, I},
                              fun() -> data_waiting(H) end, I, 5000)
         end || I <- lists:seq(1, Buffer div ReadSize)]
    after
        ok = sys:resume(H)
    end,
    %% Answered once the four entries are handled.
    Held = held(H),
    Credit = credit_left(H),
    ct:pal("held ~b, credit left with inertd ~b", [Held, Credit]),
    ?assertEqual(Buffer, Held),
    ?assert(Held + Credit =< Buffer),
    ?assertEqual({ok, << <<I:8>> || I <- lists:seq(1, 4), _ <- lists:seq(1, ReadSize) >>},
                 inert_io:recv(H, Buffer, 5000)),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

data_waiting(H) ->
    {messages, Msgs} = process_info(H, messages),
    length([M || {'$inert_io', _, {data, _}} = M <- Msgs]).

%% The read credit inertd has left, as the handle counts it.
credit_left(H) ->
    [{H, _Sock, _Ref, C, _Type, _Packet, _SQ, _Owner}] = ets:lookup(inert_io_window, H),
    inert_io_window:credit(C).

%% A buffer smaller than one read: inertd's credit goes below 0 after a
%% read, and the handle's next grant makes up for it (before, the handle
%% counted the overdraft as 0 and gave no more credit: the bytes after
%% the first read never came).
buffer_smaller_than_a_read_still_flows(_Config) ->
    {H, Peer} = tcp_handle([{buffer, 100}, {read_size, 4096}]),
    Bytes = crypto:strong_rand_bytes(100000),
    Writer = spawn_link(fun() -> ok = gen_tcp:send(Peer, Bytes) end),
    ?assertEqual(Bytes, recv_all(H, byte_size(Bytes), [])),
    unlink(Writer),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

recv_all(_H, N, Acc) when N =< 0 -> iolist_to_binary(lists:reverse(Acc));
recv_all(H, N, Acc) ->
    {ok, B} = inert_io:recv(H, 0, 5000),
    recv_all(H, N - byte_size(B), [B | Acc]).

%% send/2 waits while inertd's send queue is full (the peer reads
%% nothing), and gives {error, timeout} at send_timeout; inertd's queue
%% never exceeds send_queue. Once the peer reads, the bytes sent with ok
%% arrive, in order.
send_blocks_on_a_full_queue_and_times_out(_Config) ->
    {H, Peer} = tcp_handle([{send_queue, 65536}, {send_timeout, 300}]),
    Chunk = binary:copy(<<"0123456789abcdef">>, 4096), % 64 KiB
    Sent = send_until_timeout(H, Chunk, 0),
    ct:pal("~b bytes sent with ok before a send timed out", [Sent]),
    ?assert(Sent < 256 * 1024 * 1024),
    %% The peer gets at least every byte sent with ok (a timed-out send
    %% may have written a prefix of its chunk), in order.
    {ok, Got} = gen_tcp:recv(Peer, Sent, 20000),
    ?assertEqual(binary:copy(Chunk, Sent div byte_size(Chunk)), Got),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% End of file comes after every byte: active, the data messages then
%% {inert_io_closed, H}; passive, the data then {error, closed}.
eof_comes_after_every_byte_active_and_passive(_Config) ->
    {H1, P1} = tcp_handle([{active, true}]),
    ok = gen_tcp:send(P1, <<"bye">>),
    ok = gen_tcp:close(P1),
    ?assertEqual(<<"bye">>, collect(H1, 3)),
    receive {inert_io_closed, H1} -> ok after 5000 -> ct:fail(no_closed_message) end,
    ok = inert_test_lib:refute_message({inert_io, H1, '_'}),
    {H2, P2} = tcp_handle([]),
    ok = gen_tcp:send(P2, <<"last bytes">>),
    ok = gen_tcp:close(P2),
    ?assertEqual({ok, <<"last">>}, inert_io:recv(H2, 4, 5000)),
    %% Fewer than asked for are left: they come, then closed.
    ?assertEqual({ok, <<" bytes">>}, inert_io:recv(H2, 100, 5000)),
    ?assertEqual({error, closed}, inert_io:recv(H2, 0, 5000)),
    ?assertEqual({error, closed}, inert_io:recv(H2, 0, 5000)).

%% The owner dies: inertd closes its fd (the peer sees end of file) and
%% the handle's process is gone.
owner_death_closes_the_handle(_Config) ->
    {Server, Peer} = socket_tcp_pair(),
    Self = self(),
    Owner = spawn(fun() ->
        {ok, FD} = socket:getopt(Server, otp, fd),
        {ok, H} = inert_io:open(FD, [{active, true}]),
        Self ! {handle, H},
        receive {inert_io, H, _} -> exit(owner_gone) end
    end),
    H = receive {handle, X} -> X after 5000 -> ct:fail(no_handle) end,
    ok = socket:close(Server),
    MRef = monitor(process, H),
    ok = gen_tcp:send(Peer, <<"kills the owner">>),
    receive {'DOWN', MRef, process, H, _} -> ok after 5000 -> ct:fail(handle_outlived_owner) end,
    false = is_process_alive(Owner),
    ?assertEqual({error, closed}, gen_tcp:recv(Peer, 0, 5000)),
    ?assertEqual({error, closed}, inert_io:send(H, <<"x">>)),
    ok = gen_tcp:close(Peer).

%% kill -9 of inertd: an active handle gets {inert_io_error, H,
%% inertd_down} and {inert_io_closed, H}; a passive one's recv returns
%% {error, inertd_down}; neither hangs. Handles are not reopened: a new
%% one opens on the new inertd.
kill_9_of_inertd_ends_handles_with_inertd_down(_Config) ->
    {H1, P1} = tcp_handle([{active, true}]),
    {H2, P2} = tcp_handle([]),
    ok = gen_tcp:send(P1, <<"before">>),
    ?assertEqual(<<"before">>, next_data(H1)),
    #{os_pid := Old} = inert:info(),
    Waiter = self(),
    Recv = spawn_link(fun() -> Waiter ! {recv, inert_io:recv(H2, 0, infinity)} end),
    _ = os:cmd("kill -9 " ++ integer_to_list(Old)),
    receive {inert_io_error, H1, inertd_down} -> ok after 10000 -> ct:fail(no_error_message) end,
    receive {inert_io_closed, H1} -> ok after 5000 -> ct:fail(no_closed_message) end,
    receive {recv, R} -> ?assertEqual({error, inertd_down}, R)
    after 10000 -> ct:fail({recv_hangs, Recv}) end,
    ok = await(new_inertd, fun() -> case inert:info() of
                                         #{os_pid := New, service := #{daemon := up}} -> New =/= Old;
                                         _ -> false
                                     end end, 10000),
    {H3, P3} = tcp_handle([{active, true}]),
    ok = gen_tcp:send(P3, <<"after">>),
    ?assertEqual(<<"after">>, next_data(H3)),
    ok = inert_io:close(H3),
    [ok = gen_tcp:close(P) || P <- [P1, P2, P3]].

%% controlling_process: the new owner gets the messages and the old one
%% none; only the owner may hand it over.
controlling_process_moves_the_messages(_Config) ->
    {H, Peer} = tcp_handle([{active, false}]),
    Self = self(),
    New = spawn_link(fun() ->
        receive go -> ok end,
        ok = inert_io:setopts(H, [{active, once}]),
        receive {inert_io, H, D} -> Self ! {new_owner_got, D} after 5000 -> Self ! nothing end,
        receive stop -> ok end
    end),
    ?assertEqual({error, not_owner},
                 inert_test_lib:in_other_process(fun() -> inert_io:controlling_process(H, self()) end)),
    ok = inert_io:controlling_process(H, New),
    ?assertEqual({error, not_owner}, inert_io:controlling_process(H, self())),
    New ! go,
    ok = gen_tcp:send(Peer, <<"for the new owner">>),
    receive {new_owner_got, D} -> ?assertEqual(<<"for the new owner">>, D)
    after 5000 -> ct:fail(new_owner_got_nothing) end,
    ok = inert_test_lib:refute_message({inert_io, H, '_'}),
    MRef = monitor(process, H),
    unlink(New),
    New ! stop,
    receive {'DOWN', MRef, process, H, _} -> ok after 5000 -> ct:fail(handle_outlived_new_owner) end,
    ok = gen_tcp:close(Peer).

%% Data flowing in while the owner switches between {active, true}
%% (the data goes straight from the service to the owner) and passive
%% recv/3 (it is held by the handle's process): once setopts/2 returns,
%% no message comes any more, so the messages already received, then
%% what recv/3 gives, are the stream in order, nothing lost or twice.
switching_active_under_flowing_data_loses_and_repeats_nothing(_Config) ->
    {H, Peer} = tcp_handle([{active, true}, {read_size, 1500}]),
    Bytes = crypto:strong_rand_bytes(4 * 1024 * 1024),
    Writer = spawn_link(fun() -> ok = gen_tcp:send(Peer, Bytes) end),
    Got = switch_collect(H, byte_size(Bytes), 0, []),
    ?assertEqual(byte_size(Bytes), byte_size(Got)),
    ?assert(Got =:= Bytes),
    unlink(Writer),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% Rounds of: up to 16 KB as messages, then passive (every message that
%% came before setopts/2 returned is taken, then recv/3 a few times),
%% then active again.
switch_collect(_H, Total, Got, Acc) when Got >= Total ->
    iolist_to_binary(lists:reverse(Acc));
switch_collect(H, Total, Got, Acc) ->
    {Active, N1} = take_messages(H, min(Total - Got, 16384), 0, []),
    ok = inert_io:setopts(H, [{active, false}]),
    {Late, N2} = mailbox_data(H, [], 0),
    {Passive, N3} = recv_some(H, min(Total - Got - N1 - N2, 3 * 4096), 0, []),
    ok = inert_io:setopts(H, [{active, true}]),
    switch_collect(H, Total, Got + N1 + N2 + N3, [Passive, Late, Active | Acc]).

take_messages(_H, Want, N, Acc) when N >= Want -> {lists:reverse(Acc), N};
take_messages(H, Want, N, Acc) ->
    receive {inert_io, H, D} -> take_messages(H, Want, N + byte_size(D), [D | Acc])
    after 10000 -> ct:fail({data_missing, Want - N})
    end.

mailbox_data(H, Acc, N) ->
    receive {inert_io, H, D} -> mailbox_data(H, [D | Acc], N + byte_size(D))
    after 0 -> {lists:reverse(Acc), N}
    end.

recv_some(_H, Want, N, Acc) when N >= Want -> {lists:reverse(Acc), N};
recv_some(H, Want, N, Acc) ->
    {ok, D} = inert_io:recv(H, min(4096, Want - N), 10000),
    recv_some(H, Want, N + byte_size(D), [D | Acc]).

%% The owner hands the handle over while data flows in {active, true}:
%% what it received until controlling_process/2 returned, and then what
%% the new owner receives, are the stream in order; the old owner gets
%% nothing after the call returned.
controlling_process_under_flowing_data_leaves_nothing_late_with_the_old_owner(_Config) ->
    {H, Peer} = tcp_handle([{active, true}, {read_size, 1500}]),
    Bytes = crypto:strong_rand_bytes(2 * 1024 * 1024),
    Self = self(),
    New = spawn_link(fun() ->
        receive {go, N} -> Self ! {new_owner_got, collect(H, N)} end
    end),
    Writer = spawn_link(fun() -> ok = gen_tcp:send(Peer, Bytes) end),
    {Before, N1} = take_messages(H, 512 * 1024, 0, []),
    ok = inert_io:controlling_process(H, New),
    {Late, N2} = mailbox_data(H, [], 0),
    New ! {go, byte_size(Bytes) - N1 - N2},
    After = receive {new_owner_got, D} -> D after 20000 -> ct:fail(new_owner_got_nothing) end,
    ?assert(iolist_to_binary([Before, Late, After]) =:= Bytes),
    %% Everything has arrived at the new owner: a message for the old
    %% one would have been sent before that, and be here.
    ok = inert_test_lib:refute_message({inert_io, H, '_'}),
    unlink(Writer),
    unlink(New),
    MRef = monitor(process, H),
    exit(New, kill),
    receive {'DOWN', MRef, process, H, _} -> ok after 5000 -> ct:fail(handle_outlived_new_owner) end,
    ok = gen_tcp:close(Peer).

%% Eight processes send on one {packet, 2} handle at once, with a send
%% queue small enough that sends wait for room (and queue in the
%% handle's process) as often as they go straight to inertd: the peer
%% gets every packet once, each sender's in its order.
concurrent_senders_arrive_each_in_its_order_with_none_lost(_Config) ->
    {H, Peer} = tcp_handle([{packet, 2}, {send_queue, 4096}]),
    ok = inet:setopts(Peer, [{packet, 2}]),
    Senders = 8,
    Each = 400,
    Self = self(),
    Pids = [spawn_link(fun() ->
                [ok = inert_io:send(H, <<Id:8, Seq:32, (binary:copy(<<Id>>, 200))/binary>>)
                 || Seq <- lists:seq(1, Each)],
                Self ! {sent, Id}
            end) || Id <- lists:seq(1, Senders)],
    Got = [begin {ok, P} = gen_tcp:recv(Peer, 0, 10000), P end
           || _ <- lists:seq(1, Senders * Each)],
    [receive {sent, Id} -> ok after 10000 -> ct:fail({sender_not_done, Id}) end
     || Id <- lists:seq(1, Senders)],
    [?assertEqual({Id, lists:seq(1, Each)},
                  {Id, [Seq || <<I:8, Seq:32, _/binary>> <- Got, I =:= Id]})
     || Id <- lists:seq(1, Senders)],
    _ = [unlink(P) || P <- Pids],
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%% close/1 right after many sends that returned ok: the peer reads all
%% of them, then the end of the stream.
close_writes_every_send_that_returned_ok_first(_Config) ->
    {H, Peer} = tcp_handle([]),
    Chunks = [crypto:strong_rand_bytes(1000) || _ <- lists:seq(1, 300)],
    [ok = inert_io:send(H, C) || C <- Chunks],
    ok = inert_io:close(H),
    ?assertEqual({ok, iolist_to_binary(Chunks)}, gen_tcp:recv(Peer, 300 * 1000, 10000)),
    ?assertEqual({error, closed}, gen_tcp:recv(Peer, 0, 5000)),
    ok = gen_tcp:close(Peer).

%% The data of an {active, true} handle goes straight from the service
%% to an owner with its message queue on the heap, and through the
%% handle's process to one with it off the heap (where messages of two
%% senders may be appended out of order); both get every byte in order,
%% then the end.
data_goes_straight_only_to_an_owner_whose_messages_keep_send_order(_Config) ->
    [begin
         Self = self(),
         Owner = spawn_opt(fun() ->
             {H, Peer} = tcp_handle([{active, true}]),
             Self ! {handle, self(), H},
             Bytes = crypto:strong_rand_bytes(256 * 1024),
             ok = gen_tcp:send(Peer, Bytes),
             Got = collect(H, byte_size(Bytes)),
             Route = route(H),
             ok = gen_tcp:close(Peer),
             Closed = receive {inert_io_closed, H} -> closed after 5000 -> no_end end,
             Self ! {done, self(), Got =:= Bytes, Route, Closed}
         end, [link, {message_queue_data, Mqd}]),
         receive {handle, Owner, _} -> ok after 5000 -> ct:fail(no_handle) end,
         receive
             {done, Owner, InOrder, Route, Closed} ->
                 ?assertEqual({Mqd, true, Want, closed}, {Mqd, InOrder, Route, Closed})
         after 20000 ->
             ct:fail({owner_not_done, Mqd})
         end
     end || {Mqd, Want} <- [{on_heap, direct}, {off_heap, through_the_handle}]],
    ok.

%% Whether the handle's data goes straight to its owner now.
route(H) ->
    [{H, _Sock, _Ref, C, _Type, _Packet, _SQ, _Owner}] = ets:lookup(inert_io_window, H),
    case atomics:get(C, 3) band 1 of
        1 -> direct;
        0 -> through_the_handle
    end.

%% Bad arguments and calls on an ended handle return errors; nothing
%% crashes, and nothing is left open.
bad_input_is_an_error_not_a_crash(_Config) ->
    ?assertEqual({error, ebadf}, inert_io:open(-1, [])),
    ?assertEqual({error, ebadf}, inert_io:open(foo, [])),
    {Server, Peer} = socket_tcp_pair(),
    {ok, FD} = socket:getopt(Server, otp, fd),
    [?assertEqual({error, einval}, inert_io:open(FD, Opts))
     || Opts <- [[{active, maybe}], [{packet, 3}], [{type, datagram}, {packet, 4}],
                 [{read_size, 0}], [{send_queue, 1 bsl 40}], [bogus], not_a_list, [{buffer, -1}]]],
    {ok, H} = inert_io:open(FD, [{active, true}]),
    ok = socket:close(Server),
    ?assertEqual({error, einval}, inert_io:recv(H, 0, 100)),
    ?assertEqual({error, einval}, inert_io:recv(H, -1, 100)),
    ?assertEqual({error, einval}, inert_io:send(H, [foo])),
    ?assertEqual({error, einval}, inert_io:setopts(H, [{active, maybe}])),
    ?assertEqual({error, einval}, inert_io:setopts(H, [{read_size, 10}])),
    ?assertEqual({error, einval}, inert_io:controlling_process(H, not_a_pid)),
    ?assertEqual({error, einval}, inert_io:send(not_a_handle, <<>>)),
    ok = inert_io:close(H),
    ok = inert_io:close(H),
    ?assertEqual({error, closed}, inert_io:send(H, <<"x">>)),
    ?assertEqual({error, closed}, inert_io:recv(H, 0, 100)),
    ?assertEqual({error, closed}, inert_io:setopts(H, [{active, true}])),
    ?assertEqual({error, closed}, gen_tcp:recv(Peer, 0, 5000)),
    ok = gen_tcp:close(Peer).

%% A named pipe (no C needed: mkfifo, then file:open of each end; the VM
%% fd numbers come from /proc): bytes written through the write end's
%% handle arrive in order at the read end's handle, and closing the
%% write end is the read end's end of file.
named_pipe_both_ends(Config) ->
    Path = filename:join(?config(sock_dir, Config), "fifo"),
    "" = os:cmd("mkfifo " ++ Path),
    Self = self(),
    Reader = spawn_link(fun() -> {ok, F} = file:open(Path, [read, raw, binary]), Self ! {rd, self()},
                                 receive stop -> ok = file:close(F), Self ! {rd_closed, self()} end end),
    {ok, W} = file:open(Path, [write, raw, binary]),
    receive {rd, Reader} -> ok after 5000 -> ct:fail(fifo_not_opened) end,
    {RdFD, WrFD} = fifo_fds(Path),
    {ok, Rd} = inert_io:open(RdFD, [{active, true}]),
    {ok, Wr} = inert_io:open(WrFD, []),
    ok = file:close(W),
    Bytes = crypto:strong_rand_bytes(300000),
    ok = inert_io:send(Wr, Bytes),
    ?assertEqual(Bytes, collect(Rd, byte_size(Bytes))),
    ok = inert_io:close(Wr),
    receive {inert_io_closed, Rd} -> ok after 5000 -> ct:fail(no_eof_on_the_read_end) end,
    Reader ! stop,
    receive {rd_closed, Reader} -> ok after 5000 -> ct:fail(fifo_reader_stuck) end.

%% io_uring and epoll alike: bytes both ways, and a passive handle makes
%% inertd stop reading (the peer's send times out), then all of it comes.
round_trip_and_flow_control_under_each_poller(_Config) ->
    inert_test_lib:under_each_poller([io_uring, epoll], fun(Poller) ->
        {H, Peer} = tcp_handle([{buffer, 4096}]),
        ok = inert_io:send(H, <<"ping">>),
        ?assertEqual({ok, <<"ping">>}, gen_tcp:recv(Peer, 4, 5000)),
        Self = self(),
        Total = 32 * 1024 * 1024,
        Producer = spawn_link(fun() -> produce(Peer, Total, Self) end),
        receive {blocked, Producer, N} -> ct:pal("~p: blocked after ~b bytes", [Poller, N])
        after 20000 -> ct:fail({producer_never_blocked, Poller}) end,
        ok = drain(H, Total, 0),
        receive {done, Producer} -> ok after 20000 -> ct:fail(producer_not_done) end,
        ok = inert_io:close(H),
        ok = gen_tcp:close(Peer)
    end).

%% A pty pair opened by inertd (raw mode), a handle on each side, the
%% VM's fds closed: 300 kB of random bytes sent through the peer's
%% handle arrive whole and in order at the controlling side's handle,
%% and 300 kB the other way; closing the peer's handle (the last fd of
%% the peer) ends the controlling side's handle with the kernel's eio,
%% after which it is closed.
pty_bytes_arrive_in_order_both_ways(_Config) ->
    {Ctl, Peer} = pty_handles([{active, true}], [{active, true}]),
    ToCtl = crypto:strong_rand_bytes(300000),
    ok = inert_io:send(Peer, ToCtl),
    ?assertEqual(ToCtl, collect(Ctl, byte_size(ToCtl))),
    ToPeer = crypto:strong_rand_bytes(300000),
    ok = inert_io:send(Ctl, ToPeer),
    ?assertEqual(ToPeer, collect(Peer, byte_size(ToPeer))),
    ok = inert_io:close(Peer),
    receive {inert_io_error, Ctl, eio} -> ok after 5000 -> ct:fail(no_eio_after_the_peer_closed) end,
    receive {inert_io_closed, Ctl} -> ok after 5000 -> ct:fail(no_closed_message) end,
    ok = inert_test_lib:refute_message({inert_io, Ctl, '_'}),
    ?assertEqual({error, closed}, inert_io:send(Ctl, <<"x">>)).

%% Flow control on a pty: the peer's handle is passive and nobody reads
%% it, so inertd stops reading the peer once the handle's buffer is
%% full (it holds at most buffer + one read), the pty's buffer fills,
%% the controlling side takes no more, inertd's send queue fills and a
%% send through the controlling side's handle times out. Once the
%% owner reads, the flow resumes: a last send returns ok, and what
%% arrives is every byte sent with ok, in order, then possibly a
%% prefix of the timed-out chunk, then the last send. Under io_uring
%% and epoll alike.
pty_passive_consumer_blocks_the_writer_until_it_reads(_Config) ->
    inert_test_lib:under_each_poller([io_uring, epoll], fun pty_flow_control/1).

pty_flow_control(Poller) ->
    Buffer = 4096,
    ReadSize = 1024,
    {W, R} = pty_handles([{send_queue, 16384}, {send_timeout, 300}],
                         [{buffer, Buffer}, {read_size, ReadSize}]),
    Sent = send_counter_until_timeout(W, 0),
    Held = held(R),
    ct:pal("pty, ~p: ~b bytes sent with ok before a send timed out; the passive handle holds ~b",
           [Poller, Sent, Held]),
    ?assert(Held =< Buffer + ReadSize),
    ?assert(Sent > Held),
    Self = self(),
    Trailer = <<"the flow resumed">>,
    ok = inert_io:setopts(W, [{send_timeout, 10000}]),
    Last = spawn_link(fun() -> Self ! {last_send, self(), inert_io:send(W, Trailer)} end),
    Got = recv_until_suffix(R, Trailer, <<>>, erlang:monotonic_time(millisecond) + 20000),
    receive {last_send, Last, LastSend} -> ?assertEqual(ok, LastSend)
    after 10000 -> ct:fail(last_send_not_answered) end,
    Body = binary:part(Got, 0, byte_size(Got) - byte_size(Trailer)),
    ?assert(byte_size(Body) >= Sent, {Sent, byte_size(Body)}),
    ?assert(byte_size(Body) < Sent + ?PTY_CHUNK, {Sent, byte_size(Body)}),
    ?assertEqual(counter_bytes(0, byte_size(Body)), Body),
    ok = inert_io:close(W),
    ok = inert_io:close(R).

%% A handle in datagram mode on a fd that is not a datagram socket (a
%% pty's controlling side: one message per read, one write per send):
%% the tty takes part of a long send at a time, and the rest is written
%% after it, so 20 sends of 60,000 bytes arrive whole and in order at
%% the peer's handle (before, inertd counted a short write of a
%% datagram as the whole of it and dropped the rest).
pty_datagram_sends_arrive_whole_however_the_tty_takes_them(_Config) ->
    {W, R} = pty_handles([{type, datagram}], [{active, true}]),
    Sends = [crypto:strong_rand_bytes(60000) || _ <- lists:seq(1, 20)],
    [ok = inert_io:send(W, B) || B <- Sends],
    All = iolist_to_binary(Sends),
    ?assertEqual(All, collect(R, byte_size(All))),
    ok = inert_io:close(W),
    ok = inert_io:close(R).

%% A producer writes 100 MB into a TCP socket whose handle is passive:
%% inertd's resident memory and the handle process's memory stay
%% bounded while the producer is blocked and while the owner drains it
%% all (the numbers are printed for the record).
flood_of_100_mb_into_a_passive_handle_stays_bounded(_Config) ->
    {H, Peer} = tcp_handle([]),
    #{os_pid := OsPid} = inert:info(),
    RSS0 = proc_kb(OsPid, "VmRSS"),
    Total = 100 * 1024 * 1024,
    Self = self(),
    Producer = spawn_link(fun() -> produce(Peer, Total, Self) end),
    Written = receive {blocked, Producer, N} -> N
              after 20000 -> ct:fail(producer_never_blocked) end,
    HMem = handle_memory(H),
    RSS1 = proc_kb(OsPid, "VmRSS"),
    ct:pal("blocked: producer wrote ~b of ~b bytes; inertd VmRSS ~b kB (was ~b kB); "
           "handle process ~b bytes (heap and the binaries it holds)", [Written, Total, RSS1, RSS0, HMem]),
    {ok, PeakHandle} = drain_measuring(H, Total, 0, HMem),
    HWM = proc_kb(OsPid, "VmHWM"),
    receive {done, Producer} -> ok after 20000 -> ct:fail(producer_not_done) end,
    ct:pal("drained 100 MB: inertd VmHWM ~b kB, VmRSS ~b kB; handle process peak ~b bytes",
           [HWM, proc_kb(OsPid, "VmRSS"), PeakHandle]),
    ?assert(PeakHandle < 8 * 1024 * 1024),
    ?assert(HWM - RSS0 < 64 * 1024),
    ok = inert_io:close(H),
    ok = gen_tcp:close(Peer).

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

%% A pty pair opened by inertd in raw mode, a handle on each side
%% ({Controlling, Peer}), the VM's two fds closed (inertd's copies are
%% the only ones).
pty_handles(CtlOpts, PeerOpts) ->
    {ok, CtlFD, #{peer := PeerFD}} = inert_fd:open(#{type => pty, termios => #{raw => true}}),
    {ok, Ctl} = inert_io:open(CtlFD, CtlOpts),
    {ok, Peer} = inert_io:open(PeerFD, PeerOpts),
    ok = inert_fd:close(CtlFD),
    ok = inert_fd:close(PeerFD),
    {Ctl, Peer}.

%% Send ?PTY_CHUNK bytes of the counter stream at a time through H
%% until a send times out; the bytes sent with ok (a failure past 16 MB).
send_counter_until_timeout(_H, Sent) when Sent >= 16 * 1024 * 1024 ->
    ct:fail({writer_never_blocked, {sent, Sent}});
send_counter_until_timeout(H, Sent) ->
    case inert_io:send(H, counter_bytes(Sent, ?PTY_CHUNK)) of
        ok -> send_counter_until_timeout(H, Sent + ?PTY_CHUNK);
        {error, timeout} -> Sent
    end.

%% Bytes [Offset, Offset + Len) of a stream of 32-bit big-endian
%% counters (Offset a multiple of 4).
counter_bytes(Offset, Len) ->
    First = Offset div 4,
    Whole = << <<I:32>> || I <- lists:seq(First, First + (Len + 3) div 4 - 1) >>,
    binary:part(Whole, 0, Len).

%% recv from H until what came ends with Suffix (which the counter
%% stream cannot contain: it has no zero byte), before Deadline.
recv_until_suffix(H, Suffix, Acc, Deadline) ->
    case binary:longest_common_suffix([Acc, Suffix]) =:= byte_size(Suffix) of
        true ->
            Acc;
        false ->
            Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
            case inert_io:recv(H, 0, Left) of
                {ok, B} -> recv_until_suffix(H, Suffix, <<Acc/binary, B/binary>>, Deadline);
                Other -> ct:fail({no_suffix, Suffix, Other, {got, byte_size(Acc)}})
            end
    end.

%% Wait until the handle holds N bytes it has not delivered (read from
%% its state: the frame record), so that a refute_message after it
%% means something.
await_held(H, N) ->
    await_value({handle_holds, N}, fun() -> held(H) end, N, 5000).

held(H) ->
    [F] = [E || E <- tuple_to_list(sys:get_state(H)), is_tuple(E), element(1, E) =:= frame],
    inert_io_frame:size(F).

%% fds_received + fds_opened = fds_closed + fds_sent + armed + io_handles
%% holds in every info answer (PROTOCOL.md).
fd_sum_holds() ->
    #{counters := C} = inert:info(),
    #{fds_received := R, fds_opened := O, fds_closed := Cl, fds_sent := S, armed := A,
      io_handles := IO} = C,
    R + O =:= Cl + S + A + IO.

io_handles() ->
    case inert:info() of
        #{counters := #{io_handles := N}} -> N;
        _ -> unknown
    end.

socket_tcp_pair() ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    {ok, Port} = inet:port(L),
    {ok, S} = socket:open(inet, stream, tcp),
    ok = socket:connect(S, #{family => inet, addr => {127,0,0,1}, port => Port}),
    {ok, Peer} = gen_tcp:accept(L, 5000),
    ok = gen_tcp:close(L),
    {S, Peer}.

%% A handle on the VM side of a TCP pair (its socket closed in the VM:
%% inertd's copy is the only one), and the peer.
tcp_handle(Opts) ->
    {S, Peer} = socket_tcp_pair(),
    {open_socket(S, Opts), Peer}.

open_socket(S, Opts) ->
    {ok, FD} = socket:getopt(S, otp, fd),
    {ok, H} = inert_io:open(FD, Opts),
    ok = socket:close(S),
    H.

%% A handle on a connected UDP socket, and its peer (also connected).
dgram_handle(udp, Opts) ->
    {ok, A} = socket:open(inet, dgram, udp),
    {ok, B} = socket:open(inet, dgram, udp),
    Lo = #{family => inet, addr => {127,0,0,1}, port => 0},
    ok = socket:bind(A, Lo),
    ok = socket:bind(B, Lo),
    {ok, AA} = socket:sockname(A),
    {ok, BA} = socket:sockname(B),
    ok = socket:connect(A, BA),
    ok = socket:connect(B, AA),
    {open_socket(A, [{type, datagram} | Opts]), B}.

peer_send(B, M) -> socket:send(B, M).
peer_recv(B) -> {ok, M} = socket:recv(B, 0, 5000), M.
peer_close(B) -> socket:close(B).

next_data(H) ->
    receive {inert_io, H, D} -> D after 5000 -> ct:fail(no_data_message) end.

%% The data messages of H up to N bytes, joined.
collect(H, N) -> collect(H, N, []).
collect(_H, N, Acc) when N =< 0 -> iolist_to_binary(lists:reverse(Acc));
collect(H, N, Acc) ->
    receive {inert_io, H, D} -> collect(H, N - byte_size(D), [D | Acc])
    after 10000 -> ct:fail({data_missing, N})
    end.

%% Write Total bytes of a 32-bit counter (4 bytes each) to Peer; tell
%% Parent once a send cannot go on for 500 ms (blocked), and when done.
produce(Peer, Total, Parent) ->
    {ok, FD} = inet:getfd(Peer),
    {ok, S} = socket:open(FD, #{dup => true}),
    produce(S, 0, Total, Parent, false),
    ok = socket:close(S).

produce(_S, Done, Total, Parent, _Told) when Done >= Total ->
    Parent ! {done, self()};
produce(S, Done, Total, Parent, Told) ->
    Chunk = << <<I:32>> || I <- lists:seq(Done div 4, Done div 4 + 16383) >>,
    Told1 = send_all(S, Chunk, Done, Parent, Told),
    produce(S, Done + 65536, Total, Parent, Told1).

send_all(S, Bin, Done, Parent, Told) ->
    case socket:send(S, Bin, 500) of
        ok ->
            Told;
        {error, {timeout, Rest}} ->
            _ = Told orelse (Parent ! {blocked, self(), Done + byte_size(Bin) - byte_size(Rest)}),
            send_all(S, Rest, Done + byte_size(Bin) - byte_size(Rest), Parent, true);
        {error, timeout} ->
            _ = Told orelse (Parent ! {blocked, self(), Done}),
            send_all(S, Bin, Done, Parent, true)
    end.

%% recv until Total bytes, checking the counter.
drain(_H, Total, Total) -> ok;
drain(H, Total, Got) ->
    {ok, B} = inert_io:recv(H, 0, 20000),
    ok = check_counter(B, Got),
    drain(H, Total, Got + byte_size(B)).

drain_measuring(_H, Total, Total, Peak) -> {ok, Peak};
drain_measuring(H, Total, Got, Peak) ->
    {ok, B} = inert_io:recv(H, 0, 20000),
    ok = check_counter(B, Got),
    M = handle_memory(H),
    drain_measuring(H, Total, Got + byte_size(B), max(Peak, M)).

%% B starts at byte offset Got of the counter stream.
check_counter(B, Got) ->
    Skip = (4 - Got rem 4) rem 4,
    case B of
        <<_:Skip/binary, Rest/binary>> ->
            First = (Got + Skip) div 4,
            Whole = byte_size(Rest) div 4,
            Want = << <<I:32>> || I <- lists:seq(First, First + Whole - 1) >>,
            case binary:part(Rest, 0, Whole * 4) of
                Want -> ok;
                _ -> ct:fail({bytes_out_of_order_at, Got})
            end;
        _ ->
            ok
    end.

%% What the handle process holds: its own memory and the off-heap
%% binaries it references (the data it buffers).
handle_memory(H) ->
    [{memory, M}, {binary, Bins}] = process_info(H, [memory, binary]),
    M + lists:sum([Size || {_, Size, _} <- Bins]).

send_until_timeout(H, Chunk, Sent) ->
    case inert_io:send(H, Chunk) of
        ok -> send_until_timeout(H, Chunk, Sent + byte_size(Chunk));
        {error, timeout} -> Sent
    end.

proc_kb(OsPid, Key) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]),
                   binary:match(L, list_to_binary(Key ++ ":")) =/= nomatch],
    [_, Num | _] = string:lexemes(binary_to_list(Line), " \t"),
    list_to_integer(Num).

%% The VM's fds of the two ends of the FIFO at Path: {ReadEnd, WriteEnd}.
fifo_fds(Path) ->
    Dir = "/proc/self/fd",
    {ok, Names} = file:list_dir(Dir),
    FDs = [list_to_integer(N) || N <- Names, file:read_link(filename:join(Dir, N)) =:= {ok, Path}],
    ByMode = [{fd_write_only(FD), FD} || FD <- FDs],
    {proplists:get_value(false, ByMode), proplists:get_value(true, ByMode)}.

fd_write_only(FD) ->
    {ok, Info} = file:read_file("/proc/self/fdinfo/" ++ integer_to_list(FD)),
    [Flags] = [F || <<"flags:\t", F/binary>> <- binary:split(Info, <<"\n">>, [global])],
    binary_to_integer(Flags, 8) band 3 =:= 1.
