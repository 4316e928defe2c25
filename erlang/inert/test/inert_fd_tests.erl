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

other_payloads_close_every_fd_test_() ->
    [fun() ->
         with_message(2, Payload, [], fun(Msg, _FDs, Before) ->
             ?assertMatch({dropped, _}, inert_handover:decode(Msg)),
             ?assertEqual(Before - 2, vm_sockets())
         end)
     end || Payload <- [{fd, not_a_pid, ref}, {something, else}, <<"not a term">>]].

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
