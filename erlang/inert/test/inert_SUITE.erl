%% The inert contract (docs/contract.md: Readiness, File descriptors, Failures) end to end: the real inertd, real sockets
%% on 127.0.0.1. One case per promise; each name says what it proves.
-module(inert_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(inert_test_lib, [udp_pair/0, send_to/2, await_readable/1, tcp_pair/0,
                         close_all/1, in_other_process/1, armed_entries/1,
                         await_armed/1, await/2, await/3, refute_message/1,
                         os_pid_alive/1, vm_fd_of/1]).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([
    fdset_sends_one_message_then_disarms/1,
    second_fdset_by_same_caller_replaces_mode/1,
    read_write_delivers_both_messages/1,
    fdset_by_another_process_is_ebusy/1,
    racing_fdsets_have_exactly_one_winner_and_inertd_agrees/1,
    fdclr_by_any_process_unlocks/1,
    lock_is_released_after_delivery/1,
    dead_owner_never_holds_the_lock/1,
    dead_callers_interests_are_cleared/1,
    poll_returns_the_ready_direction/1,
    poll_timeout_leaves_nothing_armed_and_no_message/1,
    poll_race_with_zero_timeout_leaves_no_message/1,
    fdclr_by_another_process_ends_a_blocked_poll_with_ecanceled/1,
    bad_fd_is_ebadf/1,
    bad_mode_or_option_is_einval/1,
    improper_option_lists_are_einval/1,
    poll_timeouts_of_2_pow_32_ms_and_more_are_honoured/1,
    fd_that_cannot_be_waited_on_is_ready_every_time/1,
    closed_after_stop/1,
    start_that_cannot_spawn_inertd_returns_an_error_and_spares_the_caller/1,
    stop_of_what_is_not_an_inert_service_is_einval_and_leaves_it_alone/1,
    private_stop_and_owner_exit_log_nothing_above_debug/1,
    controlling_process_through_a_ring/1,
    controlling_process_only_by_owner/1,
    pollid_is_stable_and_in_every_message/1,
    info_reports_armed_fds_and_counters/1,
    fd_is_released_after_fdclr/1,
    fd_is_released_after_delivery/1,
    two_hundred_processes_poll_at_once/1,
    two_thousand_fds_each_reported_exactly_once/1,
    vm_exit_takes_inertd_with_it/1,
    kill_inertd_rearms_with_same_pollid/1,
    original_inert_code_runs_unchanged/1,
    inertd_logs_through_logger_with_its_domain_and_os_pid_and_nothing_on_stderr/1,
    default_handler_prints_inert_domain_while_inert_runs/1
]).

suite() ->
    [{timetrap, {seconds, 60}}].

all() ->
    [
        fdset_sends_one_message_then_disarms,
        second_fdset_by_same_caller_replaces_mode,
        read_write_delivers_both_messages,
        fdset_by_another_process_is_ebusy,
        racing_fdsets_have_exactly_one_winner_and_inertd_agrees,
        fdclr_by_any_process_unlocks,
        lock_is_released_after_delivery,
        dead_owner_never_holds_the_lock,
        dead_callers_interests_are_cleared,
        poll_returns_the_ready_direction,
        poll_timeout_leaves_nothing_armed_and_no_message,
        poll_race_with_zero_timeout_leaves_no_message,
        fdclr_by_another_process_ends_a_blocked_poll_with_ecanceled,
        bad_fd_is_ebadf,
        bad_mode_or_option_is_einval,
        improper_option_lists_are_einval,
        poll_timeouts_of_2_pow_32_ms_and_more_are_honoured,
        fd_that_cannot_be_waited_on_is_ready_every_time,
        closed_after_stop,
        start_that_cannot_spawn_inertd_returns_an_error_and_spares_the_caller,
        stop_of_what_is_not_an_inert_service_is_einval_and_leaves_it_alone,
        private_stop_and_owner_exit_log_nothing_above_debug,
        controlling_process_through_a_ring,
        controlling_process_only_by_owner,
        pollid_is_stable_and_in_every_message,
        info_reports_armed_fds_and_counters,
        fd_is_released_after_fdclr,
        fd_is_released_after_delivery,
        two_hundred_processes_poll_at_once,
        two_thousand_fds_each_reported_exactly_once,
        vm_exit_takes_inertd_with_it,
        kill_inertd_rearms_with_same_pollid,
        original_inert_code_runs_unchanged,
        inertd_logs_through_logger_with_its_domain_and_os_pid_and_nothing_on_stderr,
        default_handler_prints_inert_domain_while_inert_runs
    ].

init_per_suite(Config) ->
    inert_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    inert_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    inert_test_lib:init_per_testcase(Config).

end_per_testcase(_Case, _Config) ->
    inert_test_lib:end_per_testcase().

%%--------------------------------------------------------------------
%% Readiness: one-shot interests
%%--------------------------------------------------------------------

fdset_sends_one_message_then_disarms(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    ok = inert:fdset(FD, read),
    ok = send_to(Tx, Rx),
    PollId = inert:pollid(),
    receive {inert_read, PollId, FD} -> ok after 5000 -> ct:fail(no_event) end,
    %% Still readable, but disarmed: the daemon has nothing armed and no
    %% second message comes.
    await_armed(0),
    refute_message({inert_read, PollId, FD}),
    close_all([Rx, Tx]).

second_fdset_by_same_caller_replaces_mode(_Config) ->
    %% As the original's inert_stateless_fdset: read_write, then write
    %% only: a readable fd sends no inert_read.
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    {ok, Port} = inet:port(L),
    {ok, FD} = inet:getfd(L),
    ok = inert:fdset(FD, read_write),
    ok = inert:fdset(FD, [{mode, write}]),
    {ok, C} = gen_tcp:connect({127,0,0,1}, Port, [binary]),
    ok = gen_tcp:close(C),
    [#{mode := write}] = armed_entries(FD),
    refute_message({inert_read, '_', FD}),
    ok = inert:fdset(FD, read),
    receive {inert_read, _, FD} -> ok after 5000 -> ct:fail(no_read_after_reset) end,
    gen_tcp:close(L).

read_write_delivers_both_messages(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    ok = send_to(Tx, Rx),
    await_readable(Rx),
    ok = inert:fdset(FD, read_write),
    Got = lists:sort([receive {Tag, _, FD} -> Tag after 5000 -> ct:fail({missing, N}) end
                      || N <- [1, 2]]),
    [inert_read, inert_write] = Got,
    await_armed(0),
    close_all([Rx, Tx]).

%%--------------------------------------------------------------------
%% Readiness: ownership
%%--------------------------------------------------------------------

racing_fdsets_have_exactly_one_winner_and_inertd_agrees(_Config) ->
    %% Ownership is decided in the VM without asking inertd. Twenty
    %% processes arm the same idle fd at once, fifty times: each time
    %% exactly one gets ok, the others ebusy, and inertd holds the
    %% interest for that one process. Then an fdclr frees it for the next
    %% round.
    {Rx, FD, Tx} = udp_pair(),
    Self = self(),
    Racers = [spawn_link(fun() -> racer(Self, FD) end) || _ <- lists:seq(1, 20)],
    [begin
         [R ! go || R <- Racers],
         Results = [receive {R, Res} -> {R, Res} end || R <- Racers],
         [Winner] = [R || {R, ok} <- Results],
         19 = length([R || {R, {error, ebusy}} <- Results]),
         [#{owner := Winner, mode := read}] = armed_entries(FD),
         ok = inert:fdclr(FD)
     end || _ <- lists:seq(1, 50)],
    [begin unlink(R), exit(R, kill) end || R <- Racers],
    #{armed := []} = inert:info(),
    close_all([Rx, Tx]).

racer(Parent, FD) ->
    receive go -> Parent ! {self(), inert:fdset(FD)} end,
    racer(Parent, FD).

fdset_by_another_process_is_ebusy(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    ok = inert:fdset(FD),
    {error, ebusy} = in_other_process(fun() -> inert:fdset(FD) end),
    {error, ebusy} = in_other_process(fun() -> inert:poll(FD, read, 100) end),
    %% The owner may re-arm its own fd.
    ok = inert:fdset(FD, write),
    ok = inert:fdclr(FD),
    close_all([Rx, Tx]).

fdclr_by_any_process_unlocks(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    ok = inert:fdset(FD),
    ok = in_other_process(fun() -> ok = inert:fdclr(FD), inert:fdset(FD) end),
    %% That process has exited: the fd is unlocked again.
    await_armed(0),
    ok = inert:fdset(FD),
    ok = inert:fdclr(FD),
    close_all([Rx, Tx]).

lock_is_released_after_delivery(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    Self = self(),
    Owner = spawn(fun() ->
        ok = inert:fdset(FD),
        Self ! armed,
        receive {inert_read, _, FD} -> Self ! delivered end,
        receive stop -> ok end
    end),
    receive armed -> ok end,
    ok = send_to(Tx, Rx),
    receive delivered -> ok after 5000 -> ct:fail(no_delivery) end,
    %% The owner is alive and got its message: the lock is gone at once.
    ok = inert:fdset(FD),
    ok = inert:fdclr(FD),
    Owner ! stop,
    close_all([Rx, Tx]).

dead_owner_never_holds_the_lock(_Config) ->
    %% Once the death is observable (a monitor fired), fdset succeeds at
    %% once: no retry, no sleep. Repeated to give a race room to show.
    {Rx, FD, Tx} = udp_pair(),
    Self = self(),
    [begin
         Owner = spawn(fun() -> ok = inert:fdset(FD), Self ! armed, receive never -> ok end end),
         receive armed -> ok end,
         MRef = erlang:monitor(process, Owner),
         exit(Owner, kill),
         receive {'DOWN', MRef, process, Owner, _} -> ok end,
         ok = inert:fdset(FD),
         ok = inert:fdclr(FD)
     end || _ <- lists:seq(1, 50)],
    close_all([Rx, Tx]).

dead_callers_interests_are_cleared(_Config) ->
    Pairs = [udp_pair() || _ <- lists:seq(1, 5)],
    Self = self(),
    Pid = spawn(fun() ->
        [ok = inert:fdset(FD, read_write) || {_, FD, _} <- Pairs],
        Self ! armed,
        receive never -> ok end
    end),
    receive armed -> ok end,
    %% read_write on UDP: write fires at once; read stays armed.
    await_armed(5),
    exit(Pid, kill),
    await_armed(0),
    close_all(lists:append([[Rx, Tx] || {Rx, _, Tx} <- Pairs])).

%%--------------------------------------------------------------------
%% Readiness: poll
%%--------------------------------------------------------------------

poll_returns_the_ready_direction(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    {ok, write} = inert:poll(FD, write),
    {ok, write} = inert:poll(FD, [{mode, write}, {timeout, 1000}]),
    ok = send_to(Tx, Rx),
    {ok, read} = inert:poll(FD),
    {ok, read} = inert:poll(FD, read, 1000),
    {ok, read} = prim_inert:poll(inert, FD, [{mode, read}]),
    await_armed(0),
    close_all([Rx, Tx]).

poll_timeout_leaves_nothing_armed_and_no_message(_Config) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    {ok, FD} = inet:getfd(L),
    T0 = erlang:monotonic_time(millisecond),
    {error, timeout} = inert:poll(FD, read, 50),
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    ?assert(Elapsed >= 50),
    ?assert(Elapsed < 2000),
    %% Nothing armed: info is answered after the cancel was handled.
    #{armed := []} = inert:info(),
    %% Another process may arm it right away.
    ok = in_other_process(fun() -> R = inert:fdset(FD), ok = inert:fdclr(FD), R end),
    refute_message('_'),
    gen_tcp:close(L).

poll_race_with_zero_timeout_leaves_no_message(_Config) ->
    %% As the original's inert_poll_race_timeout, without the race: a UDP
    %% socket is always writable, so each poll may or may not win.
    {ok, S} = gen_udp:open(0, [{ip, {127,0,0,1}}, {active, false}]),
    {ok, FD} = inet:getfd(S),
    Results = [inert:poll(FD, read_write, 0) || _ <- lists:seq(1, 1000)],
    [] = [R || R <- Results, R =/= {ok, write}, R =/= {error, timeout}],
    refute_message('_'),
    #{armed := []} = inert:info(),
    gen_udp:close(S).

fdclr_by_another_process_ends_a_blocked_poll_with_ecanceled(_Config) ->
    %% A poll with no timeout on an fd that is not ready; another process
    %% clears the fd. The poll returns {error, ecanceled}, and nothing is
    %% left armed or in a mailbox, not even once the fd becomes ready.
    {Rx, FD, Tx} = udp_pair(),
    Self = self(),
    Poller = spawn_link(fun() -> Self ! {polled, self(), inert:poll(FD, read, infinity)} end),
    await_armed(1),
    ok = in_other_process(fun() -> inert:fdclr(FD) end),
    receive
        {polled, Poller, Result} -> {error, ecanceled} = Result
    after 5000 ->
        ct:fail(poll_not_ended_by_fdclr)
    end,
    await_armed(0),
    ok = send_to(Tx, Rx),
    %% The fd is free: a poll of it by anyone works.
    {ok, read} = inert:poll(FD, read, 5000),
    close_all([Rx, Tx]),
    %% A poll is one interest: clearing any direction it waits for ends
    %% it; clearing a direction it does not wait for leaves it waiting
    %% (a listener: never writable, readable on a connection).
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    {ok, LFD} = inet:getfd(L),
    {ok, LPort} = inet:port(L),
    Poller2 = spawn_link(fun() -> Self ! {polled, self(), inert:poll(LFD, read_write, infinity)} end),
    await_armed(1),
    ok = in_other_process(fun() -> inert:fdclr(LFD, write) end),
    receive {polled, Poller2, R2} -> {error, ecanceled} = R2 after 5000 -> ct:fail(poll_hangs) end,
    Poller3 = spawn_link(fun() -> Self ! {polled, self(), inert:poll(LFD, read, infinity)} end),
    await_armed(1),
    ok = in_other_process(fun() -> inert:fdclr(LFD, write) end),
    [#{mode := read, kind := poll}] = armed_entries(LFD),
    {ok, C} = gen_tcp:connect({127,0,0,1}, LPort, []),
    receive {polled, Poller3, R3} -> {ok, read} = R3 after 5000 -> ct:fail(poll_hangs) end,
    await_armed(0),
    refute_message({'_', {error, ecanceled}}),
    gen_tcp:close(C),
    gen_tcp:close(L).

%%--------------------------------------------------------------------
%% Readiness: bad input returns, never crashes
%%--------------------------------------------------------------------

bad_fd_is_ebadf(_Config) ->
    %% The original's inert_badfd, plus non-integers and huge numbers.
    [{error, ebadf} = inert:fdset(FD) || FD <- [-1, 127, 128, 10000, 1 bsl 40, foo, "7", 1.0]],
    {error, ebadf} = inert:poll(-1),
    {error, ebadf} = inert:poll(10000, read, 10),
    {error, ebadf} = inert:fdclr(1 bsl 40),
    %% fdclr of a closed fd clears what the number had: nothing here.
    ok = inert:fdclr(10000),
    %% A closed fd.
    {ok, S} = gen_udp:open(0, [{ip, {127,0,0,1}}]),
    {ok, FD} = inet:getfd(S),
    ok = gen_udp:close(S),
    {error, ebadf} = inert:fdset(FD),
    %% The service is still serving.
    {Rx, FD2, Tx} = udp_pair(),
    {ok, write} = inert:poll(FD2, write),
    close_all([Rx, Tx]).

bad_mode_or_option_is_einval(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    [{error, einval} = inert:fdset(FD, M)
     || M <- [readwrite, 7, [{mode, sideways}], [{bogus, 1}], [{timeout, -1}], {mode, read}]],
    {error, einval} = inert:poll(FD, sideways),
    {error, einval} = inert:poll(FD, read, -5),
    {error, einval} = inert:poll(FD, read, soon),
    {error, einval} = inert:fdclr(FD, [{mode, none}]),
    {error, einval} = prim_inert:controlling_process(inert, not_a_pid),
    #{armed := []} = inert:info(),
    close_all([Rx, Tx]).

improper_option_lists_are_einval(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    Improper = [[{mode, read} | x], [{timeout, 5} | {mode, read}], [read_write | x]],
    [{error, einval} = inert:fdset(FD, O) || O <- Improper],
    [{error, einval} = inert:fdclr(FD, O) || O <- Improper],
    [{error, einval} = inert:poll(FD, O) || O <- Improper],
    [{error, einval} = inert:poll(FD, O, 10) || O <- Improper],
    [{error, einval} = prim_inert:poll(inert, FD, O) || O <- Improper],
    #{armed := []} = inert:info(),
    refute_message('_'),
    close_all([Rx, Tx]).

poll_timeouts_of_2_pow_32_ms_and_more_are_honoured(_Config) ->
    %% Longer than one `receive ... after' can wait: accepted, and waited
    %% (in chunks) like any other timeout.
    {Rx, FD, Tx} = udp_pair(),
    [{ok, write} = inert:poll(FD, write, T) || T <- [1 bsl 32 - 1, 1 bsl 32, 1 bsl 40, 1 bsl 70]],
    {ok, write} = inert:poll(FD, [{mode, write}, {timeout, 1 bsl 33}]),
    Self = self(),
    Poller = spawn_link(fun() -> Self ! {polled, self(), inert:poll(FD, read, 1 bsl 32)} end),
    await_armed(1),
    refute_message({polled, '_', '_'}),
    ok = send_to(Tx, Rx),
    receive {polled, Poller, R} -> {ok, read} = R after 5000 -> ct:fail(poll_hangs) end,
    await_armed(0),
    refute_message('_'),
    close_all([Rx, Tx]).

fd_that_cannot_be_waited_on_is_ready_every_time(Config) ->
    %% A regular file: epoll refuses it (EPERM), io_uring and poll(2)
    %% report it ready. inert reports it ready at once, every time, in
    %% each direction asked, and keeps nothing armed. The daemon goes on.
    Path = filename:join(?config(priv_dir, Config), "regular"),
    ok = file:write_file(Path, <<"x">>),
    {ok, File} = file:open(Path, [read, raw]),
    FD = vm_fd_of(Path),
    PollId = inert:pollid(),
    ok = inert:fdset(FD),
    receive {inert_read, PollId, FD} -> ok after 5000 -> ct:fail(not_reported_ready) end,
    ok = inert:fdset(FD),
    receive {inert_read, PollId, FD} -> ok after 5000 -> ct:fail(not_reported_ready_again) end,
    ok = inert:fdset(FD, read_write),
    receive {inert_read, PollId, FD} -> ok after 5000 -> ct:fail(no_read_report) end,
    receive {inert_write, PollId, FD} -> ok after 5000 -> ct:fail(no_write_report) end,
    {ok, read} = inert:poll(FD, read, 1000),
    {ok, write} = inert:poll(FD, write, 1000),
    refute_message({inert_read, PollId, FD}),
    ok = file:close(File),
    #{armed := []} = inert:info(),
    {Rx, UFD, Tx} = udp_pair(),
    {ok, write} = inert:poll(UFD, write),
    close_all([Rx, Tx]).

closed_after_stop(_Config) ->
    %% As the original's inert_error_closed, for both layers.
    PollId = prim_inert:start(),
    ok = prim_inert:stop(PollId),
    {error, closed} = prim_inert:poll(PollId, 1),
    {error, closed} = prim_inert:fdset(PollId, 1),
    {error, closed} = prim_inert:fdclr(PollId, 1),
    ok = inert:stop(),
    {error, closed} = inert:fdset(1),
    {error, closed} = inert:poll(1, read, 10),
    {error, closed} = inert:info(),
    undefined = inert:pollid(),
    ok = inert:start().

start_that_cannot_spawn_inertd_returns_an_error_and_spares_the_caller(_Config) ->
    %% A daemon that exits at once, and one that does not exist: start/0
    %% returns an error to a caller that does not trap exits, which lives
    %% on, linked to nothing.
    Starts = [begin
                  true = os:putenv("INERTD", Exe),
                  try
                      in_other_process(fun() ->
                          R = prim_inert:start(),
                          {links, Links} = process_info(self(), links),
                          {R, Links}
                      end)
                  after
                      os:unsetenv("INERTD")
                  end
              end || Exe <- ["/bin/false", "/nonexistent/inertd"]],
    ct:pal("start/0 with a daemon that cannot start: ~p", [Starts]),
    [{{error, _}, []}, {{error, _}, []}] = Starts,
    %% The real one still starts, linked to its caller.
    PollId = prim_inert:start(),
    {links, Links} = process_info(self(), links),
    true = lists:member(PollId, Links),
    ok = prim_inert:stop(PollId).

stop_of_what_is_not_an_inert_service_is_einval_and_leaves_it_alone(_Config) ->
    Plain = spawn(fun() -> receive stop -> ok end end),
    {error, einval} = in_other_process(fun() -> prim_inert:stop(Plain) end),
    true = is_process_alive(Plain),
    {ok, Server} = pg:start(inert_suite_scope),
    {error, einval} = in_other_process(fun() -> prim_inert:stop(Server) end),
    true = is_process_alive(Server),
    {error, einval} = prim_inert:stop(whereis(inert_sup)),
    true = is_pid(whereis(inert_sup)),
    %% Gone already, or never there: ok, as before.
    ok = prim_inert:stop(no_such_name),
    Plain ! stop,
    ok = await(fun() -> not is_process_alive(Plain) end, 5000),
    ok = prim_inert:stop(Plain),
    exit(Server, kill).

private_stop_and_owner_exit_log_nothing_above_debug(_Config) ->
    %% A private instance stopped by its owner, and private instances
    %% whose owners exit (normal, an error, killed) with interests armed:
    %% nothing logged at notice or above.
    ok = inert_test_lib:collect_logs(notice),
    try
        PollId = prim_inert:start(),
        {Rx, FD, Tx} = udp_pair(),
        ok = prim_inert:fdset(PollId, FD, read),
        ok = prim_inert:stop(PollId),
        [begin
             Self = self(),
             Owner = spawn(fun() ->
                 P = prim_inert:start(),
                 ok = prim_inert:fdset(P, FD, read),
                 #{armed := [_]} = prim_inert:info(P),
                 Self ! {started, self(), P},
                 receive die -> exit(How) end
             end),
             P = receive {started, Owner, Pid} -> Pid after 10000 -> ct:fail(no_start) end,
             MRef = erlang:monitor(process, P),
             case How of
                 kill -> exit(Owner, kill);
                 _ -> Owner ! die
             end,
             receive {'DOWN', MRef, process, P, _} -> ok
             after 5000 -> ct:fail({service_survived_owner, How})
             end
         end || How <- [normal, {some, error}, kill]],
        close_all([Rx, Tx]),
        %% The shared service stopped under load: processes polling
        %% writable sockets in a loop until they get {error, closed}.
        Self = self(),
        Writable = [udp_pair() || _ <- lists:seq(1, 10)],
        Loop = fun Loop(WFD) ->
            case inert:poll(WFD, write, 5000) of
                {ok, write} -> Loop(WFD);
                Other -> Self ! {stopped, self(), Other}
            end
        end,
        Pollers = [spawn(fun() -> Loop(WFD) end) || {_, WFD, _} <- Writable],
        ok = await(fun() -> #{counters := #{events := E}} = inert:info(), E > 1000 end, 10000),
        ok = inert:stop(),
        [receive {stopped, Poller, {error, closed}} -> ok after 10000 -> ct:fail(poller_not_stopped) end
         || Poller <- Pollers],
        ok = inert:start(),
        close_all(lists:append([[R, T] || {R, _, T} <- Writable])),
        %% Each service logs from its own process before it is gone
        %% ('DOWN' above, stop/0 returning): it is all here. OTP's
        %% application controller reports the stop of the application,
        %% as for any application: not inert's.
        [] = [L || {_, Msg} = L <- inert_test_lib:logged(),
                   not is_application_controller_report(Msg)]
    after
        inert_test_lib:stop_collecting_logs()
    end.

is_application_controller_report({report, #{label := {application_controller, _}}}) -> true;
is_application_controller_report(_) -> false.

%%--------------------------------------------------------------------
%% Readiness: controlling process, pollid, info
%%--------------------------------------------------------------------

controlling_process_through_a_ring(_Config) ->
    %% As the original's inert_controlling_process.
    PollId = prim_inert:start(),
    {ok, Socket} = gen_udp:open(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    {ok, FD} = inet:getfd(Socket),
    ring(PollId, self(), FD, 0),
    Result = receive
        inert_controlling_process ->
            N = prim_inert:poll(PollId, FD, write),
            gen_udp:close(Socket),
            N
    after 10000 -> ct:fail(ring_timeout)
    end,
    {ok, write} = Result,
    ok = prim_inert:stop(PollId).

ring(PollId, Parent, _FD, 3) ->
    ok = prim_inert:controlling_process(PollId, Parent),
    Parent ! inert_controlling_process;
ring(PollId, Parent, FD, N) ->
    {ok, write} = prim_inert:poll(PollId, FD, write),
    Pid = spawn(fun() -> ring(PollId, Parent, FD, N + 1) end),
    ok = prim_inert:controlling_process(PollId, Pid).

controlling_process_only_by_owner(_Config) ->
    PollId = prim_inert:start(),
    {error, not_owner} = in_other_process(
        fun() -> prim_inert:controlling_process(PollId, self()) end),
    %% The owner is linked to the service: its death stops it.
    Self = self(),
    Heir = spawn(fun() -> receive go -> exit(done) end end),
    ok = prim_inert:controlling_process(PollId, Heir),
    {error, not_owner} = prim_inert:controlling_process(PollId, Self),
    MRef = erlang:monitor(process, PollId),
    Heir ! go,
    receive {'DOWN', MRef, process, PollId, _} -> ok after 5000 -> ct:fail(service_survived_owner) end,
    {error, closed} = prim_inert:poll(PollId, 1, read, 10).

pollid_is_stable_and_in_every_message(_Config) ->
    PollId = inert:pollid(),
    true = is_pid(PollId),
    {Rx, FD, Tx} = udp_pair(),
    ok = inert:fdset(FD, write),
    receive {inert_write, PollId, FD} -> ok after 5000 -> ct:fail(no_write) end,
    PollId = inert:pollid(),
    close_all([Rx, Tx]).

info_reports_armed_fds_and_counters(_Config) ->
    {Rx, FD, Tx} = udp_pair(),
    ok = inert:fdset(FD, read),
    Self = self(),
    #{armed := Armed, counters := C, os_pid := OsPid, version := 2,
      service := #{restarts := _}} = inert:info(),
    [{FD, read, Self, fdset}] = [A || {F, _, _, _} = A <- Armed, F =:= FD],
    true = is_integer(OsPid) andalso OsPid > 0,
    #{requests := R, events := _, fds_received := _, fds_closed := _} = C,
    true = R > 0,
    ok = inert:fdclr(FD),
    close_all([Rx, Tx]).

%%--------------------------------------------------------------------
%% File descriptors: inertd closes its copy
%%--------------------------------------------------------------------

fd_is_released_after_fdclr(_Config) ->
    {Server, Client} = tcp_pair(),
    {ok, FD} = inet:getfd(Server),
    ok = inert:fdset(FD, read),
    ok = inert:fdclr(FD),
    ok = gen_tcp:close(Server),
    %% If inertd still held a duplicate, no FIN would be sent.
    {error, closed} = gen_tcp:recv(Client, 0, 5000).

fd_is_released_after_delivery(_Config) ->
    {Server, Client} = tcp_pair(),
    {ok, FD} = inet:getfd(Server),
    ok = inert:fdset(FD, write),
    receive {inert_write, _, FD} -> ok after 5000 -> ct:fail(no_write) end,
    ok = gen_tcp:close(Server),
    {error, closed} = gen_tcp:recv(Client, 0, 5000).

%%--------------------------------------------------------------------
%% Scale
%%--------------------------------------------------------------------

two_hundred_processes_poll_at_once(_Config) ->
    Self = self(),
    N = 200,
    Pairs = [udp_pair() || _ <- lists:seq(1, N)],
    Pids = [spawn_link(fun() ->
                Self ! {polling, self()},
                Self ! {polled, self(), inert:poll(FD, read, 10000)}
            end) || {_, FD, _} <- Pairs],
    [receive {polling, P} -> ok end || P <- Pids],
    [ok = send_to(Tx, Rx) || {Rx, _, Tx} <- Pairs],
    [receive {polled, P, R} -> {ok, read} = R after 15000 -> ct:fail({no_poll_result, P}) end
     || P <- Pids],
    close_all(lists:append([[Rx, Tx] || {Rx, _, Tx} <- Pairs])).

two_thousand_fds_each_reported_exactly_once(_Config) ->
    N = 2000,
    {ok, Tx} = gen_udp:open(0, [{ip, {127,0,0,1}}]),
    Rxs = [begin
               {ok, S} = gen_udp:open(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
               {ok, FD} = inet:getfd(S),
               ok = inert:fdset(FD, read),
               {S, FD}
           end || _ <- lists:seq(1, N)],
    #{armed := Armed} = inert:info(),
    N = length(Armed),
    [ok = send_to(Tx, S) || {S, _} <- Rxs],
    Want = lists:sort([FD || {_, FD} <- Rxs]),
    Got = lists:sort([receive {inert_read, _, FD} -> FD after 10000 -> ct:fail({missing, I}) end
                      || I <- lists:seq(1, N)]),
    Want = Got,
    %% info is answered after every event emitted before it: a duplicate
    %% would already be in the mailbox.
    #{armed := []} = inert:info(),
    refute_message({inert_read, '_', '_'}),
    close_all([Tx | [S || {S, _} <- Rxs]]).

%%--------------------------------------------------------------------
%% Failures
%%--------------------------------------------------------------------

vm_exit_takes_inertd_with_it(_Config) ->
    %% A second VM (no distribution: peer over stdio) starts inert; kill -9
    %% of that VM must take its inertd along, checked by OS pid.
    {ok, Peer, _} = peer:start_link(#{connection => standard_io,
                                   args => ["-pa" | code:get_path()]}),
    ok = peer:call(Peer, inert, start, []),
    #{os_pid := DaemonPid} = peer:call(Peer, inert, info, []),
    VmPid = peer:call(Peer, os, getpid, []),
    true = os_pid_alive(DaemonPid),
    unlink(Peer),
    _ = os:cmd("kill -9 " ++ VmPid),
    ok = await(inertd_gone_after_kill_of_its_vm, fun() -> not os_pid_alive(DaemonPid) end, 5000).

kill_inertd_rearms_with_same_pollid(_Config) ->
    PollId = inert:pollid(),
    Pairs = [udp_pair() || _ <- lists:seq(1, 20)],
    [ok = inert:fdset(FD, read) || {_, FD, _} <- Pairs],
    #{os_pid := Old} = inert:info(),
    _ = os:cmd("kill -9 " ++ integer_to_list(Old)),
    %% A poll started now waits for the new daemon and honours its timeout.
    {Rx1, FD1, Tx1} = udp_pair(),
    {error, timeout} = inert:poll(FD1, read, 100),
    %% The new daemon is re-armed with every interest the table holds.
    ok = await(new_inertd_rearmed_with_all_20,
               fun() ->
                   #{os_pid := New, armed := Armed} = inert:info(),
                   New =/= Old andalso length(Armed) =:= 20
               end, 10000),
    #{service := #{restarts := Restarts}} = inert:info(),
    true = Restarts >= 1,
    PollId = inert:pollid(),
    [ok = send_to(Tx, Rx) || {Rx, _, Tx} <- Pairs],
    [receive {inert_read, PollId, FD} -> ok after 5000 -> ct:fail({lost_wakeup, FD}) end
     || {_, FD, _} <- Pairs],
    #{armed := []} = inert:info(),
    refute_message({inert_read, '_', '_'}),
    close_all([Rx1, Tx1 | lists:append([[Rx, Tx] || {Rx, _, Tx} <- Pairs])]).

%%--------------------------------------------------------------------
%% Compatibility: the original's example code, unchanged
%%--------------------------------------------------------------------

original_inert_code_runs_unchanged(_Config) ->
    %% From the seed README: fdset on two listening sockets, then connect.
    {ok, Sock1} = gen_tcp:listen(0, [binary, {active, false}]),
    {ok, Sock2} = gen_tcp:listen(0, [binary, {active, false}]),
    {ok, Port1} = inet:port(Sock1),
    {ok, Port2} = inet:port(Sock2),
    {ok, FD1} = inet:getfd(Sock1),
    {ok, FD2} = inet:getfd(Sock2),
    ok = inert:fdset(FD1),
    ok = inert:fdset(FD2),
    {ok, C1} = gen_tcp:connect("localhost", Port1, []),
    {ok, C2} = gen_tcp:connect("localhost", Port2, []),
    gen_tcp:close(C1),
    gen_tcp:close(C2),
    ok = receive
        {inert_read, _, FD1} ->
            inert:fdclr(FD1),
            receive
                {inert_read, _, FD2} ->
                    inert:fdclr(FD2)
            end
    end,
    gen_tcp:close(Sock1),
    gen_tcp:close(Sock2).

%%--------------------------------------------------------------------
%% Logging
%%--------------------------------------------------------------------

inertd_logs_through_logger_with_its_domain_and_os_pid_and_nothing_on_stderr(Config) ->
    %% Private services whose inertd writes its stderr to a file (a
    %% wrapper that execs it: the same OS pid), and a handler for domain
    %% [inert]. At OTP's default level (notice) inertd's start-up lines
    %% (debug, info) reach no handler; with the application's level at
    %% debug and inertd_debug, its start-up line and a line per request
    %% arrive as events with domain [inert] and the daemon's OS pid. In
    %% neither run does inertd write anything to stderr.
    Dir = ?config(priv_dir, Config),
    Stderr = filename:join(Dir, "inertd.stderr"),
    Wrapper = filename:join(Dir, "inertd-stderr-to-file"),
    Real = filename:join(code:priv_dir(inert), "inertd"),
    ok = file:write_file(Wrapper, ["#!/bin/sh\nexec '", Real, "' \"$@\" 2>>'", Stderr, "'\n"]),
    ok = file:change_mode(Wrapper, 8#755),
    ok = file:write_file(Stderr, <<>>),
    #{level := Primary} = logger:get_primary_config(),
    ok = inert_test_lib:collect_domain([inert]),
    true = os:putenv("INERTD", Wrapper),
    try
        ok = logger:set_primary_config(level, notice),
        Quiet = prim_inert:start(),
        #{os_pid := QuietOsPid} = prim_inert:info(Quiet),
        {Rx, FD, Tx} = udp_pair(),
        ok = send_to(Tx, Rx),
        {ok, read} = prim_inert:poll(Quiet, FD, read, 5000),
        %% Its start-up lines came before its hello, so before start/0
        %% returned; the handler runs in the service, which sent this
        %% process the event (had there been one) before the answers.
        receive {logged_event, Stray} -> ct:fail({logged_at_notice, Stray}) after 0 -> ok end,
        ok = prim_inert:stop(Quiet),

        ok = logger:set_application_level(inert, debug),
        ok = application:set_env(inert, inertd_debug, true),
        Loud = prim_inert:start(),
        #{os_pid := OsPid} = prim_inert:info(Loud),
        Start = inert_test_lib:await_event(start_up_line_naming_the_poller,
                                           fun(E) -> lists:prefix("using ", log_text(E)) end, 5000),
        ok = prim_inert:fdset(Loud, FD, read),
        Request = inert_test_lib:await_event(debug_line_of_the_fdset,
                                             fun(E) -> lists:prefix("request fdset", log_text(E)) end, 5000),
        receive {inert_read, Loud, FD} -> ok after 5000 -> ct:fail(no_event) end,
        [begin
             #{level := Level, meta := #{domain := [inert], os_pid := OsPid, time := Time}} = E,
             true = is_integer(Time),
             true = lists:member(Level, [debug, info])
         end || E <- [Start, Request]],
        #{level := debug} = Request,
        ct:pal("inertd ~b logged ~ts~n and ~ts", [OsPid, log_message(Start), log_message(Request)]),
        ok = prim_inert:stop(Loud),
        close_all([Rx, Tx]),
        [ok = await({inertd_exited, P}, fun() -> not os_pid_alive(P) end, 5000)
         || P <- [QuietOsPid, OsPid]],
        {ok, <<>>} = file:read_file(Stderr)
    after
        os:unsetenv("INERTD"),
        application:set_env(inert, inertd_debug, false),
        logger:unset_application_level(inert),
        logger:set_primary_config(level, Primary),
        inert_test_lib:stop_collecting_domain()
    end.

%% inertd's line in a log event, "" for another event.
log_text(Event) ->
    case string:split(log_message(Event), ": ") of
        ["inertd (os pid " ++ _, Text] -> Text;
        _ -> ""
    end.

log_message(#{msg := {Format, Args}}) when is_list(Format) ->
    lists:flatten(io_lib:format(Format, Args));
log_message(_) ->
    "".

default_handler_prints_inert_domain_while_inert_runs(_Config) ->
    %% A plain VM (a peer: OTP's default handler as a user has it). Its
    %% default handler drops domain [inert] until inert starts, lets a
    %% warning of that domain through while inert runs, and drops it
    %% again once inert has stopped; with default_handler_filter false
    %% inert leaves the handler alone.
    {ok, Peer, _} = peer:start_link(#{connection => standard_io,
                                      args => ["-pa" | code:get_path()]}),
    try
        Event = #{level => warning, msg => {string, "x"},
                  meta => #{domain => [inert], time => 0}},
        Passes = fun() ->
                         {ok, H} = peer:call(Peer, logger, get_handler_config, [default]),
                         handler_passes(H, Event)
                 end,
        false = Passes(),
        ok = peer:call(Peer, inert, start, []),
        true = Passes(),
        ok = peer:call(Peer, inert, stop, []),
        false = Passes(),
        ok = peer:call(Peer, application, set_env, [inert, default_handler_filter, false]),
        ok = peer:call(Peer, inert, start, []),
        false = Passes(),
        ok = peer:call(Peer, inert, stop, [])
    after
        peer:stop(Peer)
    end.

%% Whether a handler's filters let Event through, as logger applies them:
%% a filter stops it, ignores it (the next decides) or passes it on; if
%% every filter ignored it, the handler's filter_default decides.
handler_passes(#{filters := Filters, filter_default := Default}, Event) ->
    Results = [F(Event, Args) || {_Id, {F, Args}} <- Filters],
    case lists:member(stop, Results) of
        true -> false;
        false -> lists:any(fun is_map/1, Results) orelse Default =:= log
    end.
