%% @doc Packets per second through a TUN interface, read and written
%% through an I/O handle (inert_io, datagram mode) against what a VM can
%% do without a NIF today: `open_port({fd, FD, FD}, [binary])' on the
%% same TUN fd, in the same run. Runs in a network namespace of its own
%% (bench/run_tun.sh starts the VM under `unshare -n'); nothing leaves it.
%%
%% rx: a perl(1) process in the namespace floods UDP datagrams (64
%% bytes of payload) to an address routed to the interface; the kernel
%% queues them for the TUN fd (and drops what the reader does not take
%% in time); the reader counts the packets it gets in a window of Ms:
%%   io_once  inert_io `{active, once}', re-activated after each packet,
%%   io_n     inert_io `{active, 64}', re-activated at each passive,
%%   port     the fd port (always active: no flow control).
%% tx: Count packets (IPv4/UDP, 64 bytes of payload, to an address the
%% namespace drops: it does not forward) written by one process with
%% `inert_io:send/2' or `port_command/2', timed from the first write to
%% the interface's receive counter (/proc/net/dev) having them all or
%% having stopped, and how many the interface received: the fd port
%% writes the packets it has queued with one writev(2), which a TUN
%% takes as one packet (the rest of the bytes are lost).
%% Repetitions are interleaved; medians are printed. Not part of `make
%% bench': run `sh bench/run_tun.sh' (after `make build').
-module(bench_tun).

-export([main/1]).

-define(N, 64).
-define(WAIT_MS, 30000).
-define(PAYLOAD, 64).
%% A receive counter that has not moved for this long has stopped.
-define(STILL_MS, 500).

-spec main([string()]) -> no_return().
main([RepsS, MsS, CountS]) ->
    {Reps, Ms, Count} = {list_to_integer(RepsS), list_to_integer(MsS), list_to_integer(CountS)},
    ok = inert:start(),
    case inert_fd:open(#{type => tun, name => <<"bench%d">>}) of
        {error, Why} ->
            io:format("skipped: the TUN open was refused (~p): run as root~n", [Why]),
            halt(0);
        {ok, Tun, #{name := Name}} ->
            ok = configure(binary_to_list(Name)),
            Gen = start_generator(),
            Rx = [{K, rx(K, Tun, Name, Ms)} || _ <- lists:seq(1, Reps), K <- [io_once, io_n, port]],
            ok = stop_generator(Gen),
            Tx = [{K, tx(K, Tun, Name, Count)} || _ <- lists:seq(1, Reps), K <- [io, port]],
            report(Reps, Ms, Count, Rx, Tx),
            halt(0)
    end.

%% 10.99.0.1/24 on the interface, up; no IPv6 of the kernel's own on it.
configure(Name) ->
    _ = os:cmd("sysctl -qw net.ipv6.conf." ++ Name ++ ".disable_ipv6=1 2>&1"),
    "" = os:cmd("ip addr add 10.99.0.1/24 dev " ++ Name ++ " 2>&1 && ip link set " ++ Name ++ " up 2>&1"),
    ok.

%% A perl(1) process sending UDP datagrams to 10.99.0.2 as fast as it can.
start_generator() ->
    Perl = os:find_executable("perl"),
    Script = "use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => '10.99.0.1', "
             "PeerAddr => '10.99.0.2:9', Proto => 'udp') or die $!; my $m = 'x' x "
             ++ integer_to_list(?PAYLOAD) ++ "; while (1) { $s->send($m) }",
    Port = open_port({spawn_executable, Perl}, [{args, ["-e", Script]}, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    {Port, OsPid}.

stop_generator({Port, OsPid}) ->
    _ = os:cmd("kill " ++ integer_to_list(OsPid)),
    receive {Port, {exit_status, _}} -> ok after ?WAIT_MS -> error(generator_did_not_exit) end.

%% Packets per second the reader K got in Ms, counted from its first
%% packet; and what the kernel offered the fd meanwhile (taken + dropped).
rx(K, Tun, Name, Ms) ->
    Reader = open_reader(K, Tun),
    first(Reader),
    {Tx0, Drop0} = tx_counters(Name),
    T0 = erlang:monotonic_time(millisecond),
    N = count(Reader, T0 + Ms, 0),
    T1 = erlang:monotonic_time(millisecond),
    {Tx1, Drop1} = tx_counters(Name),
    ok = close_reader(Reader),
    #{rate => N * 1000 / (T1 - T0), offered => (Tx1 - Tx0 + Drop1 - Drop0) * 1000 / (T1 - T0)}.

open_reader(io_once, Tun) ->
    {ok, H} = inert_io:open(Tun, [{type, datagram}, {active, once}]),
    {io, H, once};
open_reader(io_n, Tun) ->
    {ok, H} = inert_io:open(Tun, [{type, datagram}, {active, ?N}]),
    {io, H, ?N};
open_reader(port, Tun) ->
    {port, open_port({fd, Tun, Tun}, [binary])}.

first(Reader) ->
    ok = take(Reader, erlang:monotonic_time(millisecond) + ?WAIT_MS).

count(Reader, Deadline, N) ->
    case take(Reader, Deadline) of
        ok -> count(Reader, Deadline, N + 1);
        timeout -> N
    end.

%% One packet of the reader before Deadline (re-activating a handle).
take({io, H, once}, Deadline) ->
    receive {inert_io, H, _} -> inert_io:setopts(H, [{active, once}])
    after left(Deadline) -> timeout
    end;
take({io, H, N} = R, Deadline) ->
    receive
        {inert_io, H, _} -> ok;
        {inert_io_passive, H} -> ok = inert_io:setopts(H, [{active, N}]), take(R, Deadline)
    after left(Deadline) -> timeout
    end;
take({port, P}, Deadline) ->
    receive {P, {data, _}} -> ok
    after left(Deadline) -> timeout
    end.

left(Deadline) ->
    max(0, Deadline - erlang:monotonic_time(millisecond)).

%% Closes the reader (the TUN fd stays the VM's) and drops what it sent.
close_reader({io, H, _}) ->
    ok = inert_io:close(H),
    ok = await_no_handle(erlang:monotonic_time(millisecond) + ?WAIT_MS),
    flush();
close_reader({port, P}) ->
    true = port_close(P),
    flush().

await_no_handle(Deadline) ->
    case {inert:info(), erlang:monotonic_time(millisecond) > Deadline} of
        {#{counters := #{io_handles := 0}}, _} -> ok;
        {_, true} -> error(io_handle_not_closed);
        {_, false} -> timer:sleep(5), await_no_handle(Deadline)
    end.

flush() ->
    receive _ -> flush() after 0 -> ok end.

%% Packets per second written by one process: Count packets, timed
%% until the interface has received them all (or its counter stopped:
%% then some were lost), and how many it received.
tx(K, Tun, Name, Count) ->
    Packet = packet(),
    Writer = open_writer(K, Tun),
    Rx0 = rx_packets(Name),
    T0 = erlang:monotonic_time(microsecond),
    ok = write(Writer, Packet, Count),
    {Got, T1} = await_rx(Name, Rx0 + Count, {Rx0, T0}, erlang:monotonic_time(millisecond) + ?WAIT_MS),
    ok = close_writer(Writer),
    #{rate => Count * 1000000 / (T1 - T0), delivered => Got - Rx0}.

open_writer(io, Tun) ->
    {ok, H} = inert_io:open(Tun, [{type, datagram}]),
    {io, H};
open_writer(port, Tun) ->
    {port, open_port({fd, Tun, Tun}, [binary])}.

write(_W, _Packet, 0) -> ok;
write({io, H} = W, Packet, N) -> ok = inert_io:send(H, Packet), write(W, Packet, N - 1);
write({port, P} = W, Packet, N) -> true = port_command(P, Packet), write(W, Packet, N - 1).

close_writer({io, H}) -> close_reader({io, H, none});
close_writer({port, P}) -> close_reader({port, P}).

%% {Packets, When} once the receive counter reaches Want, or once it
%% has not moved for ?STILL_MS (packets were lost), or at Deadline:
%% When is when it last moved (microseconds).
await_rx(Name, Want, {Last, LastT}, Deadline) ->
    Now = erlang:monotonic_time(microsecond),
    case rx_packets(Name) of
        N when N >= Want -> {N, Now};
        Last when Now - LastT > ?STILL_MS * 1000 -> {Last, LastT};
        Last when Now div 1000 > Deadline -> {Last, LastT};
        Last -> timer:sleep(1), await_rx(Name, Want, {Last, LastT}, Deadline);
        N -> timer:sleep(1), await_rx(Name, Want, {N, Now}, Deadline)
    end.

%% IPv4/UDP from 10.99.0.2 to 10.99.0.3 (not ours, not forwarded: dropped).
packet() ->
    Payload = binary:copy(<<"x">>, ?PAYLOAD),
    Len = 28 + ?PAYLOAD,
    H0 = <<4:4, 5:4, 0, Len:16, 0:16, 0:16, 64, 17, 0:16, 10, 99, 0, 2, 10, 99, 0, 3>>,
    S = lists:sum([W || <<W:16>> <= H0]),
    F = (S band 16#ffff) + (S bsr 16),
    Sum = (bnot ((F band 16#ffff) + (F bsr 16))) band 16#ffff,
    <<H1:10/binary, 0:16, H2/binary>> = H0,
    <<H1/binary, Sum:16, H2/binary, 4002:16, 9:16, (8 + ?PAYLOAD):16, 0:16, Payload/binary>>.

%% The interface's counters in this namespace (/proc/net/dev): packets
%% it received (written to the fd), and those the kernel sent to the fd
%% and those it dropped for it.
rx_packets(Name) ->
    [_RxBytes, RxPackets | _] = dev_fields(Name),
    RxPackets.

tx_counters(Name) ->
    [_, _, _, _, _, _, _, _, _TxBytes, TxPackets, _TxErrs, TxDrop | _] = dev_fields(Name),
    {TxPackets, TxDrop}.

dev_fields(Name) ->
    {ok, Dev} = file:read_file("/proc/net/dev"),
    Key = <<Name/binary, ":">>,
    [Rest] = [R || L <- binary:split(Dev, <<"\n">>, [global]),
                   [K, R] <- [string:split(string:trim(L), ":")], <<K/binary, ":">> =:= Key],
    [binary_to_integer(F) || F <- string:lexemes(Rest, " ")].

report(Reps, Ms, Count, Rx, Tx) ->
    io:format("TUN rx: a UDP flood into the interface, ~b x ~b ms, packets/s taken by the reader "
              "(median) and / port; offered: what the kernel queued or dropped for the fd~n",
              [Reps, Ms]),
    RxMed = medians([io_once, io_n, port], Rx),
    P = rate_of(port, RxMed),
    _ = [io:format("  ~-8w ~10b  ~s   offered ~10b~n",
                   [K, round(R), ratio(R, P),
                    round(bench_lib:median([O || {K1, #{offered := O}} <- Rx, K1 =:= K]))])
         || {K, R} <- RxMed],
    io:format("TUN tx: ~b packets written by one process, ~b runs (median): writes/s, and how many "
              "the interface received~n", [Count, Reps]),
    _ = [io:format("  ~-8w ~10b   received ~b of ~b~n",
                   [K, round(R), round(bench_lib:median([D || {K1, #{delivered := D}} <- Tx, K1 =:= K])),
                    Count])
         || {K, R} <- medians([io, port], Tx)],
    io:format("  every run: rx ~p~n             tx ~p~n",
              [[{K, round(R)} || {K, #{rate := R}} <- Rx], [{K, round(R)} || {K, #{rate := R}} <- Tx]]).

medians(Kinds, Runs) ->
    [{K, bench_lib:median([R || {K1, #{rate := R}} <- Runs, K1 =:= K])} || K <- Kinds].

rate_of(K, Med) ->
    proplists:get_value(K, Med).

ratio(R, P) -> io_lib:format("~.2f", [R / P]).
