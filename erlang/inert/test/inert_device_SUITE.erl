%% Devices inertd opens and hands over (inert_fd:open/1,2 with type pty,
%% tun or tap), end to end through the real inertd: a pty pair whose two
%% sides carry bytes both ways with the line settings asked for, the line
%% settings of a tty the VM holds (inert_fd:termios/2), and a
%% TUN interface in a network namespace the case makes itself (a peer VM
%% started under `unshare -n'), carrying a datagram each way. Traffic
%% never leaves that namespace. The VM reads and writes the fds with
%% open_port({fd, FD, FD}, ...) (no socket can wrap them), and the TUN
%% also through an I/O handle (inert_io).
-module(inert_device_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(inert_test_lib, [await/3, await_value/4, waiting_for_answer/1, while_service_suspended/1]).

-define(UDP, 17).
-define(ICMP, 1).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([
    pty_pair_carries_bytes_both_ways_with_the_line_settings_asked/1,
    pty_settings_it_cannot_take_are_einval_and_leave_nothing_open/1,
    pty_of_a_dead_caller_is_closed_both_sides/1,
    termios_sets_the_line_of_a_tty_the_vm_holds/1,
    tun_in_a_namespace_carries_a_datagram_each_way/1,
    tun_through_an_io_handle_carries_a_packet_each_way_and_an_echo/1,
    tun_without_net_admin_is_eperm_and_inertd_serves/1
]).
%% Run in the peer VM of the TUN cases.
-export([tun_round_trip/0, tun_io_round_trip/0, tun_open_refused/0]).

suite() ->
    [{timetrap, {seconds, 60}}].

all() ->
    [
        pty_pair_carries_bytes_both_ways_with_the_line_settings_asked,
        pty_settings_it_cannot_take_are_einval_and_leave_nothing_open,
        pty_of_a_dead_caller_is_closed_both_sides,
        termios_sets_the_line_of_a_tty_the_vm_holds,
        tun_in_a_namespace_carries_a_datagram_each_way,
        tun_through_an_io_handle_carries_a_packet_each_way_and_an_echo,
        tun_without_net_admin_is_eperm_and_inertd_serves
    ].

init_per_suite(Config) ->
    inert_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    inert_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    inert_test_lib:fd_baseline([{pty_fds, pty_fds()} | inert_test_lib:init_per_testcase(Config)]).

%% Nothing a case opened is left open, here or in inertd.
end_per_testcase(_Case, Config) ->
    ok = inert_test_lib:end_per_testcase(),
    Before = ?config(pty_fds, Config),
    ok = await(vm_pty_fds_back_to_the_start, fun() -> pty_fds() =:= Before end, 5000),
    #{os_pid := OsPid} = inert:info(),
    ok = await(inertd_holds_no_pty_fd, fun() -> pty_fds(integer_to_list(OsPid)) =:= [] end, 5000),
    ok = inert_test_lib:check_fd_baseline(Config),
    #{service := #{handovers := 0}} = inert:info(),
    ok.

%%--------------------------------------------------------------------
%% pty
%%--------------------------------------------------------------------

%% The controlling side and the peer, both open in the VM, with the
%% peer's path; stty(1) on that path reads back the settings asked for;
%% bytes written on either side arrive on the other, in order and
%% unchanged (raw mode: no echo, no CR/NL translation).
pty_pair_carries_bytes_both_ways_with_the_line_settings_asked(_Config) ->
    Termios = #{speed => 115200, raw => true, data_bits => 8, parity => none,
                stop_bits => 2, flow => hardware},
    {ok, Ctl, #{peer := Peer, path := Path}} = inert_fd:open(#{type => pty, termios => Termios}),
    ?assertMatch(<<"/dev/pts/", _/binary>>, Path),
    ?assertEqual({ok, binary_to_list(Path)}, file:read_link("/proc/self/fd/" ++ integer_to_list(Peer))),
    ?assertEqual({ok, "/dev/ptmx"}, file:read_link("/proc/self/fd/" ++ integer_to_list(Ctl))),
    Stty = string:lexemes(os:cmd("stty -a -F " ++ binary_to_list(Path)), " ;\n"),
    [?assert(lists:member(Flag, Stty), {Flag, Stty})
     || Flag <- ["115200", "cs8", "-parenb", "cstopb", "crtscts", "-ixon", "-ixoff",
                 "-icanon", "-echo", "-isig", "-opost", "-icrnl"]],
    CtlPort = open_port({fd, Ctl, Ctl}, [binary, eof]),
    PeerPort = open_port({fd, Peer, Peer}, [binary, eof]),
    ToPeer = <<"to the peer\r\n", (crypto:strong_rand_bytes(512))/binary>>,
    true = port_command(CtlPort, ToPeer),
    ?assertEqual(ToPeer, receive_bytes(PeerPort, byte_size(ToPeer), <<>>)),
    ToCtl = <<"to the controlling side\n", (crypto:strong_rand_bytes(512))/binary>>,
    true = port_command(PeerPort, ToCtl),
    ?assertEqual(ToCtl, receive_bytes(CtlPort, byte_size(ToCtl), <<>>)),
    close_ports_and_fds([CtlPort, PeerPort], [Ctl, Peer]).

%% Settings the VM can tell are bad, one inertd finds is not a rate, and
%% one the kernel does not take (a Linux pty keeps 8 data bits and no
%% parity) are all einval, and nothing stays open here or in inertd
%% (end_per_testcase: no pty fd in inertd, none new in the VM).
pty_settings_it_cannot_take_are_einval_and_leave_nothing_open(_Config) ->
    #{counters := #{errors := Errors0, fds_sent := Sent0}} = inert:info(),
    [?assertEqual({error, einval}, inert_fd:open(#{type => pty, termios => T}), T)
     || T <- [#{speed => 0}, #{parity => mark}, #{echo => true}, not_a_map,
              #{speed => 12345}, #{data_bits => 7}, #{parity => odd}]],
    ?assertEqual({error, einval}, inert_fd:open(#{type => pty, port => 1})),
    %% the last three reached inertd, which refused them and sent nothing
    #{counters := #{errors := Errors, fds_sent := Sent}} = inert:info(),
    ?assertEqual({3, 0}, {Errors - Errors0, Sent - Sent0}).

%% A caller that dies before its pty reaches it: the service closes both
%% sides it was handed (the VM's pty fds come back to what they were).
pty_of_a_dead_caller_is_closed_both_sides(Config) ->
    #{counters := #{fds_sent := Sent0}} = inert:info(),
    Self = self(),
    Caller = while_service_suspended(
               fun() ->
                       C = spawn(fun() -> Self ! {self(), inert_fd:open(#{type => pty})} end),
                       %% it has sent the request and waits for the answer
                       ok = await(caller_waits_for_its_pty, fun() -> waiting_for_answer(C) end, 5000),
                       exit(C, kill),
                       C
               end),
    ok = await_value(both_sides_sent_and_the_handover_closed,
                                    fun() ->
                                        #{counters := #{fds_sent := Sent},
                                          service := #{handovers := H}} = inert:info(),
                                        {Sent - Sent0, H}
                                    end, {2, 0}, 5000),
    Before = ?config(pty_fds, Config),
    ok = await(vm_pty_fds_closed, fun() -> pty_fds() =:= Before end, 5000),
    receive {Caller, _} -> ct:fail(dead_caller_answered) after 0 -> ok end.

%% inert_fd:termios/2 on a tty the VM holds (the peer of a pty opened
%% with the kernel's settings): stty(1) reads back what was set; a
%% setting the kernel does not take is einval, a socket enotty, a closed
%% fd ebadf; the fd stays open and the caller's.
termios_sets_the_line_of_a_tty_the_vm_holds(_Config) ->
    {ok, Ctl, #{peer := Peer, path := Path}} = inert_fd:open(#{type => pty}),
    Before = string:lexemes(os:cmd("stty -a -F " ++ binary_to_list(Path)), " ;\n"),
    [?assert(lists:member(Flag, Before), {Flag, Before}) || Flag <- ["icanon", "echo", "-ixoff"]],
    ok = inert_fd:termios(Peer, [raw, {speed, 9600}, {flow, software}, {stop_bits, 2}]),
    After = string:lexemes(os:cmd("stty -a -F " ++ binary_to_list(Path)), " ;\n"),
    [?assert(lists:member(Flag, After), {Flag, After})
     || Flag <- ["9600", "ixon", "ixoff", "cstopb", "-crtscts", "-icanon", "-echo", "-opost"]],
    ?assertEqual({error, einval}, inert_fd:termios(Peer, #{parity => odd})),
    ?assertEqual({error, einval}, inert_fd:termios(Peer, #{speed => 12345})),
    ?assertEqual({error, einval}, inert_fd:termios(Peer, #{echo => true})),
    {ok, U} = gen_udp:open(0, [{ip, loopback}]),
    {ok, UFD} = inet:getfd(U),
    ?assertEqual({error, enotty}, inert_fd:termios(UFD, #{speed => 9600})),
    ok = gen_udp:close(U),
    ok = close_ports_and_fds([], [Ctl, Peer]),
    ?assertEqual({error, ebadf}, inert_fd:termios(closed_fd(), #{speed => 9600})).

%% An fd number that is not open.
closed_fd() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    lists:max([list_to_integer(N) || N <- Names]) + 100.

%%--------------------------------------------------------------------
%% TUN, in a network namespace of a peer VM
%%--------------------------------------------------------------------

%% A peer VM in a network namespace of its own (unshare -n, as root)
%% starts inert and, through it, a TUN interface there: a UDP datagram
%% sent to an address routed to the interface arrives on the TUN fd as
%% one packet (IPv4, the right destination, the payload), and a packet
%% written to the TUN fd is delivered to a socket in the namespace.
tun_in_a_namespace_carries_a_datagram_each_way(_Config) ->
    case netns_peer([]) of
        {skip, _} = Skip ->
            Skip;
        {ok, Peer} ->
            try peer:call(Peer, ?MODULE, tun_round_trip, [], 30000) of
                {Name, Info, Packet, Received} ->
                    ?assertMatch(<<"inert", _/binary>>, Name),
                    ?assertEqual(#{name => Name}, Info),
                    <<4:4, IHL:4, _:8/binary, ?UDP:8, _:2/binary, _Src:4/binary,
                      10, 99, 0, 2, _/binary>> = Packet,
                    <<_:IHL/unit:32, 4001:16, 4002:16, _:4/binary, Payload/binary>> = Packet,
                    ?assertEqual(<<"to the tun">>, Payload),
                    ?assertEqual({{10, 99, 0, 2}, 4002, <<"from the tun">>}, Received)
            after
                peer:stop(Peer)
            end
    end.

%% The same TUN interface read and written through an I/O handle
%% (inert_io, datagram mode, {active, true}) instead of an fd port: a
%% UDP datagram sent to an address routed to the interface arrives as
%% one {inert_io, H, Packet} message, the whole IPv4 packet (its total
%% length is the message's size) with the right destination and
%% payload; a UDP packet built here (header and UDP checksums set) sent
%% with inert_io:send/2 is delivered to the socket in the namespace;
%% an ICMP echo request sent through the handle is answered by the
%% namespace's kernel with an echo reply that comes back as one message.
tun_through_an_io_handle_carries_a_packet_each_way_and_an_echo(_Config) ->
    case netns_peer([]) of
        {skip, _} = Skip ->
            Skip;
        {ok, Peer} ->
            try peer:call(Peer, ?MODULE, tun_io_round_trip, [], 30000) of
                {Packet, Received, Reply} ->
                    <<4:4, IHL:4, _:8, Len:16, _:5/binary, ?UDP:8, _:2/binary, 10, 99, 0, 1,
                      10, 99, 0, 2, _/binary>> = Packet,
                    ?assertEqual(Len, byte_size(Packet)),
                    <<_:IHL/unit:32, 4001:16, 4002:16, _:4/binary, Payload/binary>> = Packet,
                    ?assertEqual(<<"to the handle">>, Payload),
                    ?assertEqual({{10, 99, 0, 2}, 4002, <<"from the handle">>}, Received),
                    <<4:4, RIHL:4, _:8, RLen:16, _:5/binary, ?ICMP:8, _:2/binary, 10, 99, 0, 1,
                      10, 99, 0, 2, _/binary>> = Reply,
                    ?assertEqual(RLen, byte_size(Reply)),
                    <<_:RIHL/unit:32, ICMP/binary>> = Reply,
                    ?assertMatch(<<0, 0, _:16, 16#1e57:16, 1:16, "ping through the handle">>, ICMP),
                    ?assertEqual(0, checksum(ICMP))
            after
                peer:stop(Peer)
            end
    end.

%% A peer VM whose inertd lacks CAP_NET_ADMIN (the peer runs without it
%% in its bounding set) is answered eperm and its inertd goes on serving.
tun_without_net_admin_is_eperm_and_inertd_serves(_Config) ->
    case os:find_executable("setpriv") of
        false ->
            {skip, "no setpriv(1) to start a VM without CAP_NET_ADMIN"};
        SetPriv ->
            case netns_peer([SetPriv, "--bounding-set", "-net_admin", "--"]) of
                {skip, _} = Skip ->
                    Skip;
                {ok, Peer} ->
                    try
                        ?assertEqual({{error, eperm}, ok},
                                     peer:call(Peer, ?MODULE, tun_open_refused, [], 30000))
                    after
                        peer:stop(Peer)
                    end
            end
    end.


%% In the peer: inert, a TUN interface, its address, one datagram each
%% way. Returns what the case checks.
tun_round_trip() ->
    ok = inert:start(),
    {ok, Tun, #{name := Name} = Info} = inert_fd:open(#{type => tun, name => <<"inert%d">>}),
    N = binary_to_list(Name),
    "" = os:cmd("ip addr add 10.99.0.1/24 dev " ++ N ++ " 2>&1 && ip link set " ++ N ++ " up 2>&1"),
    {ok, U} = gen_udp:open(4001, [binary, {ip, {10, 99, 0, 1}}, {active, false}]),
    Port = open_port({fd, Tun, Tun}, [binary, eof]),
    ok = gen_udp:send(U, {10, 99, 0, 2}, 4002, <<"to the tun">>),
    Packet = receive_ipv4(Port, erlang:monotonic_time(millisecond) + 5000),
    true = port_command(Port, udp4({10, 99, 0, 2}, 4002, {10, 99, 0, 1}, 4001, <<"from the tun">>)),
    {ok, Received} = gen_udp:recv(U, 0, 5000),
    ok = gen_udp:close(U),
    close_ports_and_fds([Port], [Tun]),
    {Name, Info, Packet, Received}.

%% In the peer: inert, a TUN interface whose fd only an I/O handle holds,
%% its address, a UDP datagram each way and an echo. Returns what the
%% case checks.
tun_io_round_trip() ->
    ok = inert:start(),
    {ok, Tun, #{name := Name}} = inert_fd:open(#{type => tun, name => <<"inert%d">>}),
    {ok, H} = inert_io:open(Tun, [{type, datagram}, {active, true}]),
    ok = inert_fd:close(Tun),
    N = binary_to_list(Name),
    "" = os:cmd("ip addr add 10.99.0.1/24 dev " ++ N ++ " 2>&1 && ip link set " ++ N ++ " up 2>&1"),
    {ok, U} = gen_udp:open(4001, [binary, {ip, {10, 99, 0, 1}}, {active, false}]),
    ok = gen_udp:send(U, {10, 99, 0, 2}, 4002, <<"to the handle">>),
    Packet = receive_ipv4(H, ?UDP, erlang:monotonic_time(millisecond) + 5000),
    ok = inert_io:send(H, udp4({10, 99, 0, 2}, 4002, {10, 99, 0, 1}, 4001, <<"from the handle">>, true)),
    {ok, Received} = gen_udp:recv(U, 0, 5000),
    ok = gen_udp:close(U),
    ok = inert_io:send(H, icmp4_echo({10, 99, 0, 2}, {10, 99, 0, 1}, 16#1e57, 1,
                                     <<"ping through the handle">>)),
    Reply = receive_ipv4(H, ?ICMP, erlang:monotonic_time(millisecond) + 5000),
    ok = inert_io:close(H),
    {Packet, Received, Reply}.

%% In the peer: a TUN open refused, and a pty open served after it.
tun_open_refused() ->
    ok = inert:start(),
    Refused = inert_fd:open(#{type => tun}),
    {ok, Ctl, #{peer := Peer}} = inert_fd:open(#{type => pty}),
    ok = inert_fd:close(Ctl),
    {Refused, inert_fd:close(Peer)}.

%% The first IPv4 packet on the TUN port (the kernel sends IPv6 of its own
%% on a new interface), each read of the fd one message.
receive_ipv4(Port, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {data, <<4:4, _/bitstring>> = Packet}} -> Packet;
        {Port, {data, _Other}} -> receive_ipv4(Port, Deadline)
    after Left ->
        error({no_ipv4_packet_on_the_tun_fd_within_ms, 5000})
    end.

%% The first IPv4 packet of protocol Proto that the handle H delivers
%% (the kernel sends IPv6 of its own on a new interface).
receive_ipv4(H, Proto, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {inert_io, H, <<4:4, _:68, Proto:8, _/binary>> = Packet} -> Packet;
        {inert_io, H, _Other} -> receive_ipv4(H, Proto, Deadline)
    after Left ->
        error({no_ipv4_packet_from_the_handle_within_ms, Proto, 5000})
    end.

%% An IPv4 UDP datagram, header checksum set, UDP checksum none (the
%% fd port case) or set (the handle case).
udp4(Src, SrcPort, Dst, DstPort, Payload) ->
    udp4(Src, SrcPort, Dst, DstPort, Payload, false).

udp4(Src, SrcPort, Dst, DstPort, Payload, Checksum) ->
    ULen = 8 + byte_size(Payload),
    [S, D] = [list_to_binary(tuple_to_list(A)) || A <- [Src, Dst]],
    Sum = case Checksum of
              false -> 0;
              true -> nonzero(checksum(<<S/binary, D/binary, 0, ?UDP, ULen:16, SrcPort:16,
                                         DstPort:16, ULen:16, 0:16, Payload/binary>>))
          end,
    ipv4(?UDP, Src, Dst, <<SrcPort:16, DstPort:16, ULen:16, Sum:16, Payload/binary>>).

%% A computed UDP checksum of 0 is sent as 16#ffff (0 means none).
nonzero(0) -> 16#ffff;
nonzero(Sum) -> Sum.

%% An IPv4 ICMP echo request, both checksums set.
icmp4_echo(Src, Dst, Id, Seq, Payload) ->
    Sum = checksum(<<8, 0, 0:16, Id:16, Seq:16, Payload/binary>>),
    ipv4(?ICMP, Src, Dst, <<8, 0, Sum:16, Id:16, Seq:16, Payload/binary>>).

%% An IPv4 packet of protocol Proto around Body, header checksum set.
ipv4(Proto, Src, Dst, Body) ->
    Len = 20 + byte_size(Body),
    Header0 = <<4:4, 5:4, 0, Len:16, 0:16, 0:16, 64, Proto, 0:16,
                (list_to_binary(tuple_to_list(Src)))/binary,
                (list_to_binary(tuple_to_list(Dst)))/binary>>,
    <<H1:10/binary, 0:16, H2/binary>> = Header0,
    Sum = checksum(Header0),
    <<H1/binary, Sum:16, H2/binary, Body/binary>>.

%% The internet checksum (RFC 1071) of Bin; 0 over data that carries
%% its own checksum means it is right.
checksum(Bin) when byte_size(Bin) rem 2 =:= 1 ->
    checksum(<<Bin/binary, 0>>);
checksum(Bin) ->
    S = lists:sum([W || <<W:16>> <= Bin]),
    Folded = (S band 16#ffff) + (S bsr 16),
    (bnot ((Folded band 16#ffff) + (Folded bsr 16))) band 16#ffff.

%% A peer VM under `unshare -n' (and Wrap), with this VM's code path, or
%% {skip, Why} where that is not permitted.
netns_peer(Wrap) ->
    Unshare = os:find_executable("unshare"),
    Erl = os:find_executable("erl"),
    case os:cmd("id -u") =:= "0\n" andalso Unshare =/= false andalso
         os:cmd(Unshare ++ " -n true 2>&1 && echo ok") of
        false ->
            {skip, "needs root and unshare(1): a network namespace (unshare -n) and "
                   "CAP_NET_ADMIN for a TUN interface"};
        "ok\n" ->
            case file:read_file_info("/dev/net/tun") of
                {error, Why} ->
                    {skip, "no /dev/net/tun: " ++ atom_to_list(Why)};
                {ok, _} ->
                    Path = [filename:dirname(code:which(?MODULE)) | code:get_path()],
                    {ok, Peer, _} = peer:start_link(#{exec => {Unshare, ["-n" | Wrap] ++ [Erl]},
                                                      connection => standard_io,
                                                      args => ["-pa" | Path]}),
                    unlink(Peer),
                    {ok, Peer}
            end;
        Refused ->
            {skip, "unshare -n is not permitted here: " ++ Refused}
    end.

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

%% Data from Port until Size bytes have come, within 5 s.
receive_bytes(_Port, Size, Acc) when byte_size(Acc) >= Size ->
    Acc;
receive_bytes(Port, Size, Acc) ->
    receive
        {Port, {data, Data}} -> receive_bytes(Port, Size, <<Acc/binary, Data/binary>>)
    after 5000 ->
        ct:fail({bytes_not_received_within_5_s, {want, Size}, {got, byte_size(Acc)}})
    end.

%% fd ports leave their fds open: close the ports, then the fds.
close_ports_and_fds(Ports, FDs) ->
    [true = port_close(P) || P <- Ports],
    [ok = inert_fd:close(FD) || FD <- FDs],
    ok.

%% The fds of the VM (or of the OS process OsPid) on a pty (/dev/ptmx or
%% /dev/pts/N).
pty_fds() ->
    pty_fds(os:getpid()).

pty_fds(OsPid) ->
    Dir = "/proc/" ++ OsPid ++ "/fd",
    {ok, Names} = file:list_dir(Dir),
    lists:sort([N || N <- Names,
                     case file:read_link(filename:join(Dir, N)) of
                         {ok, "/dev/ptmx"} -> true;
                         {ok, "/dev/pts/" ++ _} -> true;
                         _ -> false
                     end]).
