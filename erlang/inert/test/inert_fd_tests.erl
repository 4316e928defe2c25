%% EUnit tests of inert_fd's spec normalisation and of the port owner's
%% handling of handovers from inertd (inert_handover:decode/1), fed real
%% fds received over a unix socket: every fd of a bad message is closed.
-module(inert_fd_tests).

-include_lib("eunit/include/eunit.hrl").

%%--------------------------------------------------------------------
%% inert_fd:spec/1
%%--------------------------------------------------------------------

defaults_fill_every_key_test() ->
    ?assertEqual({ok, #{type => tcp, family => inet, addr => {0, 0, 0, 0}, port => 0,
                        reuseaddr => false, reuseport => false, backlog => 128}},
                 inert_fd:spec(#{})).

udp_has_no_backlog_test() ->
    ?assertEqual({ok, #{type => udp, family => inet, addr => {127, 0, 0, 1}, port => 53,
                        reuseaddr => true, reuseport => false}},
                 inert_fd:spec([{type, udp}, {addr, loopback}, {port, 53}, reuseaddr])).

family_follows_an_ipv6_address_test_() ->
    [?_assertMatch({ok, #{family := inet6, addr := {0, 0, 0, 0, 0, 0, 0, 1}}}, inert_fd:spec(S))
     || S <- [#{addr => "::1"}, #{addr => {0, 0, 0, 0, 0, 0, 0, 1}},
              #{family => inet6, addr => loopback}]].

bad_specs_are_rejected_test_() ->
    [?_assertEqual(error, inert_fd:spec(S))
     || S <- [#{type => sctp}, #{family => local}, #{addr => {1, 2, 3}},
              #{addr => {256, 0, 0, 1}}, #{addr => {0, 0, 0, 0, 0, 0, 0, 16#10000}},
              #{family => inet, addr => "::1"}, #{family => inet6, addr => {127, 0, 0, 1}},
              #{port => 65536}, #{port => -1}, #{port => "80"}, #{backlog => -1},
              #{backlog => 70000}, #{type => udp, backlog => 1}, #{reuseport => 1},
              #{unknown => key}, [{type, tcp} | improper], 42, "tcp",
              #{addr => [$1 | $2]}, #{addr => [[$1]]}, #{addr => [1 bsl 40]},
              #{family => inet6, addr => [$: | x]}]].

device_specs_fill_their_own_keys_only_test_() ->
    [?_assertEqual({ok, Full}, inert_fd:spec(S))
     || {S, Full} <- [{#{type => tun}, #{type => tun, name => <<>>, pi => false}},
                      {[{type, tap}, {name, "inert%d"}, pi], #{type => tap, name => <<"inert%d">>, pi => true}},
                      {#{type => tun, name => <<"abcdefghijklmno">>},
                       #{type => tun, name => <<"abcdefghijklmno">>, pi => false}},
                      {#{type => pty}, #{type => pty, termios => #{}}},
                      {#{type => pty, termios => [raw, {speed, 9600}]},
                       #{type => pty, termios => #{raw => true, speed => 9600}}},
                      {#{type => pty, termios => #{speed => 115200, raw => false, data_bits => 7,
                                                   parity => odd, stop_bits => 2, flow => software}},
                       #{type => pty, termios => #{speed => 115200, raw => false, data_bits => 7,
                                                   parity => odd, stop_bits => 2, flow => software}}}]].

bad_device_specs_are_rejected_test_() ->
    [?_assertEqual(error, inert_fd:spec(S))
     || S <- [#{type => tun, name => <<"abcdefghijklmnop">>}, #{type => tun, name => "a/b"},
              #{type => tun, name => <<"a:b">>}, #{type => tun, name => <<"a b">>},
              #{type => tun, name => <<".">>}, #{type => tun, name => ".."},
              #{type => tun, name => tun0}, #{type => tun, name => [1 bsl 20]},
              #{type => tun, pi => 1}, #{type => tun, port => 80}, #{type => tap, termios => #{}},
              #{type => tcp, name => <<"x">>}, #{type => udp, pi => false},
              #{type => pty, name => <<"x">>}, #{type => pty, backlog => 1},
              #{type => pty, termios => x}, #{type => pty, termios => #{speed => 0}},
              #{type => pty, termios => #{speed => 4000001}}, #{type => pty, termios => #{data_bits => 4}},
              #{type => pty, termios => #{data_bits => 9}}, #{type => pty, termios => #{parity => mark}},
              #{type => pty, termios => #{stop_bits => 3}}, #{type => pty, termios => #{flow => xon}},
              #{type => pty, termios => #{raw => 1}}, #{type => pty, termios => #{echo => true}},
              #{type => pty, termios => [{speed, 9600} | improper]}]].

take_of_what_is_not_a_message_is_einval_test_() ->
    [?_assertEqual({error, einval}, inert_fd:take(M, 1))
     || M <- [foo, #{}, #{iov => x, flags => []}, #{iov => [], flags => x},
              #{iov => [], flags => [], ctrl => [x]}, #{iov => [[1 | x]], flags => []}]].

%%--------------------------------------------------------------------
%% inert_handover:decode/1 on real messages
%%--------------------------------------------------------------------

handover_with_one_fd_is_kept_test() ->
    with_message(1, {fd, self(), ref}, [], fun(Msg, [FD], Before) ->
        ?assertEqual({ok, {fd, self(), ref, FD}}, inert_handover:decode(Msg)),
        ?assertEqual(Before, vm_sockets()), % still open: the caller's now
        ok = inert_fd:close(FD)
    end).

handover_with_two_fds_is_einval_and_closes_both_test() ->
    with_message(2, {fd, self(), ref}, [], fun(Msg, _FDs, Before) ->
        ?assertEqual({ok, {error, self(), ref, einval}}, inert_handover:decode(Msg)),
        ?assertEqual(Before - 2, vm_sockets())
    end).

handover_without_fd_is_einval_test() ->
    with_message(0, {fd, self(), ref}, [], fun(Msg, [], _Before) ->
        ?assertEqual({ok, {error, self(), ref, einval}}, inert_handover:decode(Msg))
    end).

handover_with_truncated_control_data_is_emfile_test() ->
    with_message(1, {fd, self(), ref}, [ctrunc], fun(Msg, _FDs, Before) ->
        ?assertEqual({ok, {error, self(), ref, emfile}}, inert_handover:decode(Msg)),
        ?assertEqual(Before - 1, vm_sockets())
    end).

device_handover_with_its_fds_is_kept_test_() ->
    [fun() ->
         with_message(1, {fd, self(), ref, #{name => <<"tun3">>}}, [], fun(Msg, [FD], _Before) ->
             ?assertEqual({ok, {fd, self(), ref, FD, #{name => <<"tun3">>}}}, inert_handover:decode(Msg)),
             ok = inert_fd:close(FD)
         end)
     end,
     fun() ->
         with_message(2, {fd, self(), ref, #{path => <<"/dev/pts/4">>, peer => true}}, [],
                      fun(Msg, [FD, Peer], Before) ->
             ?assertEqual({ok, {fd, self(), ref, FD, #{path => <<"/dev/pts/4">>, peer => Peer}}},
                          inert_handover:decode(Msg)),
             ?assertEqual(Before, vm_sockets()),
             [ok = inert_fd:close(F) || F <- [FD, Peer]]
         end)
     end].

device_handover_with_other_than_its_fds_is_einval_and_closes_them_test_() ->
    [fun() ->
         with_message(N, Payload, [], fun(Msg, _FDs, Before) ->
             ?assertEqual({ok, {error, self(), ref, einval}}, inert_handover:decode(Msg)),
             ?assertEqual(Before - N, vm_sockets())
         end)
     end || {N, Payload} <- [{2, {fd, self(), ref, #{name => <<"tun3">>}}},
                             {1, {fd, self(), ref, #{path => <<"/dev/pts/4">>, peer => true}}},
                             {0, {fd, self(), ref, #{peer => true}}}]].

other_payloads_close_every_fd_test_() ->
    [fun() ->
         with_message(2, Payload, [], fun(Msg, _FDs, Before) ->
             ?assertMatch({dropped, _}, inert_handover:decode(Msg)),
             ?assertEqual(Before - 2, vm_sockets())
         end)
     end || Payload <- [{fd, not_a_pid, ref}, {something, else}, <<"not a term">>,
                        {fd, self(), ref, not_a_map}]].

%% Msg is a real message from recvmsg carrying N fds (duplicates of a UDP
%% socket, received over a seqpacket pair), with Payload as its iov (a
%% binary as it is, any other term encoded) and Flags as its flags.
with_message(N, Payload, Flags, Check) ->
    Dir = string:trim(os:cmd("mktemp -d")),
    Path = filename:join(Dir, "s"),
    {ok, L} = socket:open(local, seqpacket, default),
    ok = socket:bind(L, #{family => local, path => Path}),
    ok = socket:listen(L),
    {ok, A} = socket:open(local, seqpacket, default),
    ok = socket:connect(A, #{family => local, path => Path}),
    {ok, B} = socket:accept(L, 5000),
    {ok, U} = socket:open(inet, dgram, udp),
    {ok, UFD} = socket:getopt(U, otp, fd),
    ok = inert_fd:send(A, <<"x">>, lists:duplicate(N, UFD)),
    {ok, Msg0} = socket:recvmsg(B, 0, 0, [], 5000),
    {ok, <<"x">>, FDs} = inert_fd:take(Msg0, N),
    Bin = case is_binary(Payload) of
        true -> Payload;
        false -> term_to_binary(Payload)
    end,
    Msg = Msg0#{iov := [Bin], flags := Flags},
    try
        Check(Msg, FDs, vm_sockets())
    after
        _ = [socket:close(S) || S <- [L, A, B, U]],
        _ = file:delete(Path),
        _ = file:del_dir(Dir)
    end.

vm_sockets() ->
    inert_test_lib:vm_sockets().
