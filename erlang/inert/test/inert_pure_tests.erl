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
              [{timeout, soon}], [{bogus, 1}], [read], "read"]].

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

drop_dir_keeps_the_rest_of_an_fdset_test() ->
    P = self(),
    Armed = #{7 => {P, read_write, fdset}},
    ?assertEqual(#{7 => {P, write, fdset}}, inert_srv:drop_dir(7, read, Armed)),
    ?assertEqual(#{}, inert_srv:drop_dir(7, write, #{7 => {P, write, fdset}})).

drop_dir_ignores_polls_and_unknown_fds_test() ->
    P = self(),
    Ref = make_ref(),
    Armed = #{7 => {P, read, {poll, Ref}}},
    ?assertEqual(Armed, inert_srv:drop_dir(7, read, Armed)),
    ?assertEqual(Armed, inert_srv:drop_dir(8, read, Armed)).
