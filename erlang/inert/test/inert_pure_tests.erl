%% EUnit tests of the pure functions behind the API: option parsing and
%% fd validation (the ownership table's are in inert_table_tests).
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
