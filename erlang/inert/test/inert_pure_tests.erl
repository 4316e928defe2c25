%% EUnit tests of the pure functions behind the API: option parsing, fd
%% validation and the service's record of armed interests.
-module(inert_pure_tests).

-include_lib("eunit/include/eunit.hrl").

mode_atom_is_accepted_test_() ->
    [?_assertEqual({M, infinity}, prim_inert:options(M, read)) || M <- [read, write, read_write]].

proplist_gives_mode_and_timeout_test() ->
    ?assertEqual({write, 10}, prim_inert:options([{mode, write}, {timeout, 10}], read)).

missing_mode_takes_the_default_test() ->
    ?assertEqual({read_write, infinity}, prim_inert:options([], read_write)),
    ?assertEqual({read, 5}, prim_inert:options([{timeout, 5}], read)).

later_option_wins_test() ->
    ?assertEqual({write, infinity}, prim_inert:options([{mode, read}, {mode, write}], read)).

bad_options_are_rejected_test_() ->
    [?_assertEqual(error, prim_inert:options(O, read))
     || O <- [sideways, 7, {mode, read}, [{mode, sideways}], [{timeout, -1}],
              [{timeout, soon}], [{bogus, 1}], [read], "read",
              [{mode, read} | x], [{timeout, 5} | {mode, read}], [{mode, write}, {timeout, 1} | []] ++ x]].

timeouts_beyond_one_receive_are_accepted_test_() ->
    [?_assertEqual({read, T}, prim_inert:options([{timeout, T}], read))
     || T <- [1 bsl 32 - 1, 1 bsl 32, 1 bsl 70]].

valid_fds_test_() ->
    [?_assert(prim_inert:valid_fd(FD)) || FD <- [0, 1, 1023, 16#7fffffff]].

invalid_fds_test_() ->
    [?_assertNot(prim_inert:valid_fd(FD)) || FD <- [-1, 16#80000000, 1 bsl 64, 1.0, foo, "1", <<1>>]].

minus_removes_a_delivered_direction_test_() ->
    [?_assertEqual(write, inert_srv:minus(read_write, read)),
     ?_assertEqual(read, inert_srv:minus(read_write, write)),
     ?_assertEqual(none, inert_srv:minus(read, read)),
     ?_assertEqual(none, inert_srv:minus(write, write)),
     ?_assertEqual(write, inert_srv:minus(write, read))].

%% prim_inert:claim/2 on a real table: who wins an fd.
claim_table() ->
    ets:new(claim_test, [set, public]).

claim_of_a_free_fd_wins_test() ->
    T = claim_table(),
    Rec = {7, self(), read, fdset, 1},
    ?assertEqual({ok, none, []}, prim_inert:claim(T, Rec)),
    ?assertEqual([Rec], ets:lookup(T, 7)).

claim_over_own_record_replaces_it_test() ->
    T = claim_table(),
    Old = {7, self(), read, fdset, 1},
    true = ets:insert(T, Old),
    New = {7, self(), write, fdset, 2},
    ?assertEqual({ok, Old, []}, prim_inert:claim(T, New)),
    ?assertEqual([New], ets:lookup(T, 7)).

claim_of_an_fd_a_live_process_holds_is_ebusy_test() ->
    T = claim_table(),
    Other = spawn(fun() -> receive stop -> ok end end),
    Held = {7, Other, read, fdset, 1},
    true = ets:insert(T, Held),
    ?assertEqual({error, ebusy}, prim_inert:claim(T, {7, self(), read, fdset, 2})),
    ?assertEqual([Held], ets:lookup(T, 7)),
    Other ! stop.

claim_takes_over_from_a_dead_holder_and_names_it_test() ->
    T = claim_table(),
    {Dead, Mon} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', Mon, process, Dead, _} -> ok end,
    Old = {7, Dead, read, poll, make_ref()},
    true = ets:insert(T, Old),
    New = {7, self(), read, fdset, 2},
    ?assertEqual({ok, Old, [Dead]}, prim_inert:claim(T, New)),
    ?assertEqual([New], ets:lookup(T, 7)).

claim_returns_own_kept_reason_once_test() ->
    T = claim_table(),
    true = ets:insert(T, {7, self(), read, {error, eperm}, 1}),
    Rec = {7, self(), read, fdset, 2},
    ?assertEqual({error, eperm}, prim_inert:claim(T, Rec)),
    ?assertEqual([], ets:lookup(T, 7)),
    ?assertEqual({ok, none, []}, prim_inert:claim(T, Rec)).

claim_over_another_process_kept_reason_wins_test() ->
    T = claim_table(),
    Other = spawn(fun() -> receive stop -> ok end end),
    Kept = {7, Other, read, {error, emfile}, 1},
    true = ets:insert(T, Kept),
    New = {7, self(), read, fdset, 2},
    ?assertEqual({ok, Kept, []}, prim_inert:claim(T, New)),
    Other ! stop.

claim_on_a_deleted_table_is_closed_test() ->
    T = claim_table(),
    true = ets:delete(T),
    ?assertEqual({error, closed}, prim_inert:claim(T, {7, self(), read, fdset, 1})).

%% inert_srv:delivered/5: what an event does to the ownership record.
event_of_one_direction_leaves_the_other_test() ->
    T = claim_table(),
    true = ets:insert(T, {7, self(), read_write, fdset, 1}),
    inert_srv:delivered(T, 7, self(), read, 1),
    ?assertEqual([{7, self(), write, fdset, 1}], ets:lookup(T, 7)),
    inert_srv:delivered(T, 7, self(), write, 1),
    ?assertEqual([], ets:lookup(T, 7)).

event_of_an_interest_rearmed_since_leaves_the_new_record_test() ->
    T = claim_table(),
    New = {7, self(), read, fdset, 2},
    true = ets:insert(T, New),
    inert_srv:delivered(T, 7, self(), read, 1),
    ?assertEqual([New], ets:lookup(T, 7)).

event_leaves_polls_and_unknown_fds_alone_test() ->
    T = claim_table(),
    Poll = {7, self(), read, poll, make_ref()},
    true = ets:insert(T, Poll),
    inert_srv:delivered(T, 7, self(), read, 1),
    inert_srv:delivered(T, 8, self(), read, 1),
    ?assertEqual([Poll], ets:tab2list(T)).