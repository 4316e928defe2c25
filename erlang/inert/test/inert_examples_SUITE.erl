%% The examples of examples/, compiled from their sources there
%% and run against the real inertd: the echo server on OTP socket + inert,
%% fd passing from a Go program and between Erlang workers, and I/O
%% handles on TCP connections and on a pty as a serial line. Each case
%% leaves no socket open in the VM or in inertd.
-module(inert_examples_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(inert_test_lib, [await/2, await_value/4, daemon_fds/0, flush_mailbox/0, vm_sockets/0]).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([
    echo_returns_every_byte_to_concurrent_clients/1,
    echo_returns_large_messages_whole/1,
    echo_waits_for_writability_only_when_a_send_would_block/1,
    fdpass_go_program_hands_over_a_listener_the_vm_serves/1,
    fdpass_five_workers_share_one_udp_socket/1,
    io_echo_returns_every_packet_through_io_handles/1,
    serial_device_answers_every_command_and_reads_only_as_it_asks/1
]).

suite() ->
    [{timetrap, {seconds, 120}}].

all() ->
    [
        echo_returns_every_byte_to_concurrent_clients,
        echo_returns_large_messages_whole,
        echo_waits_for_writability_only_when_a_send_would_block,
        fdpass_go_program_hands_over_a_listener_the_vm_serves,
        fdpass_five_workers_share_one_udp_socket,
        io_echo_returns_every_packet_through_io_handles,
        serial_device_answers_every_command_and_reads_only_as_it_asks
    ].

%% Compile examples/*/*.erl into priv_dir and build the Go program of
%% examples/fdpass there.
init_per_suite(Config) ->
    Root = repo_root(),
    Out = ?config(priv_dir, Config),
    Sources = filelib:wildcard(filename:join([Root, "examples", "*", "*.erl"])),
    [_ | _] = Sources,
    [{ok, _, []} = compile:file(S, [{outdir, Out}, return, warnings_as_errors, debug_info])
     || S <- Sources],
    true = code:add_patha(Out),
    Handoff = filename:join(Out, "handoff"),
    ok = go_build(Root, Handoff, "./examples/fdpass/handoff"),
    inert_test_lib:init_per_suite([{handoff, Handoff} | Config]).

end_per_suite(Config) ->
    inert_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    inert_test_lib:fd_baseline(inert_test_lib:init_per_testcase(Config)).

end_per_testcase(_Case, Config) ->
    ok = inert_test_lib:end_per_testcase(),
    inert_test_lib:check_fd_baseline(Config).

%%--------------------------------------------------------------------
%% examples/echo
%%--------------------------------------------------------------------

echo_returns_every_byte_to_concurrent_clients(_Config) ->
    %% echo_demo checks each echo byte for byte against what it sent
    #{ok := true, requests := 6000, errors := [], server := Server} =
        echo_demo:run(#{clients => 30, rounds => 200, size => 64, quiet => true}),
    #{accepted := 30, bytes := Bytes} = Server,
    ?assertEqual(30 * 200 * 64, Bytes).

echo_returns_large_messages_whole(_Config) ->
    %% 100 kB messages come back in pieces: partial recv and send
    #{ok := true, requests := 80, server := #{bytes := Bytes}} =
        echo_demo:run(#{clients => 4, rounds => 20, size => 100000, quiet => true}),
    ?assertEqual(4 * 20 * 100000, Bytes).

%% A client that does not read fills the server's send buffer: the server
%% waits for inert's inert_write, then sends the rest. Nothing is lost.
echo_waits_for_writability_only_when_a_send_would_block(_Config) ->
    {ok, Server} = echo_server:start(#{ip => {127, 0, 0, 1}, port => 0}),
    #{write_waits := 0} = echo_server:stats(Server),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, echo_server:port(Server),
                              [binary, {active, false}, {recbuf, 4096}]),
    Data = rand:bytes(16 * 1024 * 1024),
    Self = self(),
    Sender = spawn_link(fun() -> Self ! {self(), gen_tcp:send(C, Data)} end),
    ok = await(fun() -> maps:get(write_waits, echo_server:stats(Server)) > 0 end, 20000),
    Echo = recv_exactly(C, byte_size(Data), []),
    receive {Sender, ok} -> ok end,
    true = Echo =:= Data,
    ok = gen_tcp:close(C),
    ok = echo_server:stop(Server).

recv_exactly(_C, 0, Acc) ->
    iolist_to_binary(lists:reverse(Acc));
recv_exactly(C, Left, Acc) ->
    {ok, B} = gen_tcp:recv(C, 0, 10000),
    recv_exactly(C, Left - byte_size(B), [B | Acc]).

%%--------------------------------------------------------------------
%% examples/fdpass
%%--------------------------------------------------------------------

fdpass_go_program_hands_over_a_listener_the_vm_serves(Config) ->
    Dir = string:trim(os:cmd("mktemp -d")), % priv_dir is too long for a unix socket
    {Addr, FD} = fdpass:listener_from(?config(handoff, Config), Dir),
    ok = file:del_dir(Dir),
    %% the Go program has exited: the VM's fd is the only one left
    [Host, PortS] = string:split(Addr, ":", trailing),
    {ok, IP} = inet:parse_address(Host),
    Port = list_to_integer(PortS),
    Self = self(),
    Hello = fun(S, K) -> socket:send(S, <<"hello ", (integer_to_binary(K))/binary>>) end,
    Server = spawn_link(fun() -> Self ! {self(), fdpass:serve(FD, 5, Hello)} end),
    Replies = [begin
                   {ok, C} = gen_tcp:connect(IP, Port, [binary, {active, false}], 5000),
                   {ok, R} = gen_tcp:recv(C, 0, 5000),
                   ok = gen_tcp:close(C),
                   R
               end || _ <- lists:seq(1, 5)],
    ?assertEqual([<<"hello ", (integer_to_binary(K))/binary>> || K <- lists:seq(1, 5)], Replies),
    receive {Server, ok} -> ok after 5000 -> ct:fail(server_did_not_finish) end,
    %% serve/3 closed the listener: nobody listens on the port any more
    {error, econnrefused} = gen_tcp:connect(IP, Port, [], 5000).

fdpass_five_workers_share_one_udp_socket(_Config) ->
    #{counters := #{fds_sent := Sent0, fds_opened := Opened0}} = inert:info(),
    {Counts, 1000} = fdpass:udp_workers(5, 1000),
    5 = length(Counts),
    ?assertEqual(1000, lists:sum(Counts)),
    ct:log("datagrams per worker: ~w", [Counts]),
    %% one socket opened, five duplicates handed over
    #{counters := #{fds_sent := Sent, fds_opened := Opened}} = inert:info(),
    ?assertEqual({1, 6}, {Opened - Opened0, Sent - Sent0}).

%%--------------------------------------------------------------------
%% examples/io
%%--------------------------------------------------------------------

%% 10 gen_tcp clients x 300 round trips of {packet, 4} packets, each
%% connection served through its own inert_io handle: every echo equals
%% what was sent (io_echo checks it), the server took each packet once
%% and whole, without its length header (200 bytes, not 204), and once it
%% stopped inertd holds no handle. Under io_uring and epoll.
io_echo_returns_every_packet_through_io_handles(_Config) ->
    inert_test_lib:under_each_poller([io_uring, epoll], fun io_echo_scenario/1).

io_echo_scenario(_Poller) ->
    #{ok := true, round_trips := 3000, errors := [], server := Server} =
        io_echo:run(#{clients => 10, rounds => 300, size => 200, quiet => true}),
    ?assertEqual(#{accepted => 10, echoed => 3000, bytes => 3000 * 200}, Server),
    ok = await_value(inertd_io_handles_back_to_0,
                     fun() -> maps:get(io_handles, maps:get(counters, inert:info())) end, 0, 5000).

%% The pty opened with serial-line termios: the device answers the
%% single commands and a burst of 300 in one write, every reply right
%% and in order; each message the device took was at most its buffer
%% plus one read (inertd read the pty only as the device asked), so the
%% burst came in several; the host's hang-up ended the device's handle;
%% afterwards neither the VM nor inertd holds a pty fd. Under io_uring
%% and epoll.
serial_device_answers_every_command_and_reads_only_as_it_asks(_Config) ->
    inert_test_lib:under_each_poller([io_uring, epoll], fun serial_scenario/1).

serial_scenario(Poller) ->
    VmPtys0 = ptys("/proc/self/fd"),
    DaemonPtys0 = ptys(daemon_fd_dir()),
    #{ok := true, replies := 300, buffer := Buffer, read_size := ReadSize,
      device := #{commands := 302, messages := Msgs, largest := Largest, hangup := Hangup}} =
        serial:run(#{commands => 300, quiet => true}),
    ct:log("~p: device took ~b messages, the largest ~b bytes, hang-up ~p",
           [Poller, Msgs, Largest, Hangup]),
    ?assert(Largest =< Buffer + ReadSize, {Largest, Buffer + ReadSize}),
    ?assert(Msgs > 2, Msgs),
    ?assert(lists:member(Hangup, [closed, eio]), Hangup),
    ok = await_value(vm_pty_fds_back_to_start_of_case,
                     fun() -> ptys("/proc/self/fd") end, VmPtys0, 5000),
    ok = await_value(inertd_pty_fds_back_to_start_of_case,
                     fun() -> ptys(daemon_fd_dir()) end, DaemonPtys0, 5000).

daemon_fd_dir() ->
    "/proc/" ++ integer_to_list(maps:get(os_pid, inert:info())) ++ "/fd".

%% The fds in Dir (a /proc/PID/fd) open on a pty's side.
ptys(Dir) ->
    {ok, Names} = file:list_dir(Dir),
    length([N || N <- Names,
                 case file:read_link(filename:join(Dir, N)) of
                     {ok, "/dev/ptmx"} -> true;
                     {ok, "/dev/pts/" ++ _} -> true;
                     _ -> false
                 end]).

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

%% This file is erlang/inert/test/ in the repository.
repo_root() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    filename:dirname(filename:dirname(filename:dirname(filename:dirname(Source)))).

go_build(Root, Out, Package) ->
    Go = os:find_executable("go"),
    true = is_list(Go),
    Port = open_port({spawn_executable, Go},
                     [{args, ["build", "-o", Out, Package]}, {cd, Root},
                      {env, [{"CGO_ENABLED", "0"}]}, exit_status, stderr_to_stdout, binary]),
    go_build_result(Port, []).

go_build_result(Port, Acc) ->
    receive
        {Port, {data, D}} -> go_build_result(Port, [Acc, D]);
        {Port, {exit_status, 0}} -> ok;
        {Port, {exit_status, S}} -> {go_build_failed, S, iolist_to_binary(Acc)}
    after 120000 -> go_build_timeout
    end.
