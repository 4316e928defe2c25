%% EUnit tests of the ownership table (inert_table) on real tables: who
%% wins an fd, and what each answer of inertd does to its record.
-module(inert_table_tests).

-include_lib("eunit/include/eunit.hrl").

minus_removes_a_delivered_direction_test_() ->
    [?_assertEqual(write, inert_table:minus(read_write, read)),
     ?_assertEqual(read, inert_table:minus(read_write, write)),
     ?_assertEqual(none, inert_table:minus(read, read)),
     ?_assertEqual(none, inert_table:minus(write, write)),
     ?_assertEqual(write, inert_table:minus(write, read))].

holder(T, FD) ->
    inert_table:holders(T, FD).

dead_pid() ->
    {Dead, Mon} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', Mon, process, Dead, _} -> Dead end.

idle() ->
    spawn(fun() -> receive stop -> ok end end).

%% claim/2

claim_of_a_free_fd_wins_test() ->
    T = inert_table:new(),
    Rec = inert_table:fdset(7, self(), read, 1),
    ?assertEqual({ok, none, []}, inert_table:claim(T, Rec)),
    ?assertEqual([{self(), read, fdset}], holder(T, 7)).

claim_over_own_record_replaces_it_test() ->
    T = inert_table:new(),
    Old = inert_table:fdset(7, self(), read, 1),
    {ok, none, []} = inert_table:claim(T, Old),
    New = inert_table:fdset(7, self(), write, 2),
    ?assertEqual({ok, Old, []}, inert_table:claim(T, New)),
    ?assertEqual([{self(), write, fdset}], holder(T, 7)).

claim_of_an_fd_a_live_process_holds_is_ebusy_test() ->
    T = inert_table:new(),
    Other = idle(),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(7, Other, read, 1)),
    ?assertEqual({error, ebusy}, inert_table:claim(T, inert_table:fdset(7, self(), read, 2))),
    ?assertEqual([{Other, read, fdset}], holder(T, 7)),
    Other ! stop.

claim_takes_over_from_a_dead_holder_and_names_it_test() ->
    T = inert_table:new(),
    Dead = dead_pid(),
    Old = inert_table:poll(7, Dead, read, make_ref()),
    {ok, none, []} = inert_table:claim(T, Old),
    New = inert_table:fdset(7, self(), read, 2),
    ?assertEqual({ok, Old, [Dead]}, inert_table:claim(T, New)),
    ?assertEqual([{self(), read, fdset}], holder(T, 7)).

%% A kept reason is made by failed/5 (inertd could not arm the fdset).
keep_reason(T, FD, Pid, Reason) ->
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(FD, Pid, read, 1)),
    {ok, read} = inert_table:failed(T, FD, Pid, 1, Reason).

claim_returns_own_kept_reason_once_test() ->
    T = inert_table:new(),
    keep_reason(T, 7, self(), eperm),
    Rec = inert_table:fdset(7, self(), read, 2),
    ?assertEqual({error, eperm}, inert_table:claim(T, Rec)),
    ?assertEqual([], holder(T, 7)),
    ?assertEqual({ok, none, []}, inert_table:claim(T, Rec)).

claim_over_another_process_kept_reason_wins_test() ->
    T = inert_table:new(),
    Other = idle(),
    keep_reason(T, 7, Other, emfile),
    New = inert_table:fdset(7, self(), read, 2),
    ?assertMatch({ok, _, []}, inert_table:claim(T, New)),
    ?assertEqual([{self(), read, fdset}], holder(T, 7)),
    Other ! stop.

claim_on_a_deleted_table_is_closed_test() ->
    T = inert_table:new(),
    ok = inert_table:delete(T),
    ?assertEqual({error, closed}, inert_table:claim(T, inert_table:fdset(7, self(), read, 1))).

%% unclaim/3, drop/2, forget_reason/2

unclaim_gives_the_own_previous_interest_back_test() ->
    T = inert_table:new(),
    Old = inert_table:fdset(7, self(), read, 1),
    {ok, none, []} = inert_table:claim(T, Old),
    New = inert_table:fdset(7, self(), write, 2),
    {ok, Old, []} = inert_table:claim(T, New),
    ok = inert_table:unclaim(T, New, Old),
    ?assert(inert_table:current(T, Old)).

unclaim_of_a_first_claim_frees_the_fd_test() ->
    T = inert_table:new(),
    Rec = inert_table:fdset(7, self(), read, 1),
    {ok, none, []} = inert_table:claim(T, Rec),
    ok = inert_table:unclaim(T, Rec, none),
    ?assertEqual([], holder(T, 7)).

drop_leaves_a_newer_record_test() ->
    T = inert_table:new(),
    Poll = inert_table:poll(7, self(), read, make_ref()),
    {ok, none, []} = inert_table:claim(T, Poll),
    New = inert_table:fdset(7, self(), read, 2),
    {ok, Poll, []} = inert_table:claim(T, New),
    ok = inert_table:drop(T, Poll),
    ?assert(inert_table:current(T, New)).

forget_reason_leaves_interests_test() ->
    T = inert_table:new(),
    keep_reason(T, 7, self(), emfile),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(8, self(), read, 1)),
    ok = inert_table:forget_reason(T, 7),
    ok = inert_table:forget_reason(T, 8),
    ?assertEqual([], holder(T, 7)),
    ?assertEqual([{self(), read, fdset}], holder(T, 8)).

%% delivered/5: what an event does to the record.

event_of_one_direction_leaves_the_other_test() ->
    T = inert_table:new(),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(7, self(), read_write, 1)),
    inert_table:delivered(T, 7, self(), read, 1),
    ?assertEqual([{self(), write, fdset}], holder(T, 7)),
    inert_table:delivered(T, 7, self(), write, 1),
    ?assertEqual([], holder(T, 7)).

event_of_an_interest_rearmed_since_leaves_the_new_record_test() ->
    T = inert_table:new(),
    New = inert_table:fdset(7, self(), read, 2),
    {ok, none, []} = inert_table:claim(T, New),
    inert_table:delivered(T, 7, self(), read, 1),
    ?assert(inert_table:current(T, New)).

event_leaves_polls_and_unknown_fds_alone_test() ->
    T = inert_table:new(),
    Poll = inert_table:poll(7, self(), read, make_ref()),
    {ok, none, []} = inert_table:claim(T, Poll),
    inert_table:delivered(T, 7, self(), read, 1),
    inert_table:delivered(T, 8, self(), read, 1),
    ?assert(inert_table:current(T, Poll)),
    ?assertEqual(1, inert_table:size(T)).

%% failed/5, closed/3, cleared/4, clear/3, forget/2

failure_of_an_interest_rearmed_since_is_stale_test() ->
    T = inert_table:new(),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(7, self(), read, 2)),
    ?assertEqual(stale, inert_table:failed(T, 7, self(), 1, emfile)),
    ?assertEqual([{self(), read, fdset}], holder(T, 7)).

closed_drops_only_that_interest_test() ->
    T = inert_table:new(),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(7, self(), read, 2)),
    ok = inert_table:closed(T, 7, 1),
    ?assertEqual([{self(), read, fdset}], holder(T, 7)),
    ok = inert_table:closed(T, 7, 2),
    ?assertEqual([], holder(T, 7)).

cleared_poll_whole_ends_it_test() ->
    T = inert_table:new(),
    Ref = make_ref(),
    {ok, none, []} = inert_table:claim(T, inert_table:poll(7, self(), read, Ref)),
    Self = self(),
    ?assertEqual({poll_ended, Self}, inert_table:cleared(T, 7, none, Ref)).

cleared_fdset_keeps_what_is_left_test() ->
    T = inert_table:new(),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(7, self(), read_write, 1)),
    ok = inert_table:cleared(T, 7, write, 1),
    ?assertEqual([{self(), write, fdset}], holder(T, 7)),
    ok = inert_table:cleared(T, 7, none, 1),
    ?assertEqual([], holder(T, 7)).

clear_while_no_daemon_runs_test() ->
    T = inert_table:new(),
    Ref = make_ref(),
    Self = self(),
    {ok, none, []} = inert_table:claim(T, inert_table:poll(7, self(), write, Ref)),
    ?assertEqual(ok, inert_table:clear(T, 7, read)),
    ?assertEqual({poll_ended, Self, Ref}, inert_table:clear(T, 7, write)),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(8, self(), read_write, 1)),
    ok = inert_table:clear(T, 8, read),
    ?assertEqual([{self(), write, fdset}], holder(T, 8)).

forget_drops_every_record_of_a_caller_test() ->
    T = inert_table:new(),
    Other = idle(),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(7, self(), read, 1)),
    {ok, none, []} = inert_table:claim(T, inert_table:poll(8, self(), read, make_ref())),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(9, Other, read, 1)),
    ok = inert_table:forget(T, self()),
    ?assertEqual([{9, read, Other, fdset}], inert_table:armed(T)),
    Other ! stop.

fold_fdsets_sees_only_fdsets_test() ->
    T = inert_table:new(),
    {ok, none, []} = inert_table:claim(T, inert_table:fdset(7, self(), read, 3)),
    {ok, none, []} = inert_table:claim(T, inert_table:poll(8, self(), read, make_ref())),
    keep_reason(T, 9, self(), emfile),
    Self = self(),
    ?assertEqual([{7, Self, read, 3}],
                 inert_table:fold_fdsets(fun(_Rec, I, Acc) -> [I | Acc] end, [], T)).
