%% The contract (docs/contract.md: File descriptors, Failures) under faults, hostile input and exhaustion, against the real
%% daemon: processes are killed and stopped by the OS pids we started.
-module(inert_fault_SUITE).

-include_lib("common_test/include/ct.hrl").

-import(inert_test_lib, [udp_pair/0, send_to/2, tcp_pair/0, close_all/1,
                         await_armed/1, await/2, await/3, await_value/4, under_each_poller/2,
                         refute_message/1, flush_mailbox/0, os_pid_alive/1, vm_fd_of/1,
                         daemon_fds/0, daemon_fds/1, in_other_process/1]).

-export([all/0, suite/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([arm_plumbing_and_close_armed/1, inert_poll_of_a_udp_socket/1]).
-export([
    kill_inertd_with_1000_armed_and_events_in_flight/1,
    kill_inertd_with_19000_ready_fds_delivers_each_once/1,
    kill_inertd_with_ready_fds_busy_pollers_and_a_bursty_vm_delivers_each_once/1,
    sigstop_inertd_poll_timeouts_are_honoured_and_it_recovers/1,
    ten_kills_in_a_few_seconds_keep_the_pollid_and_every_interest/1,
    inertd_that_cannot_start_blocks_no_caller_and_recovers/1,
    full_side_channel_bounds_fdset_and_poll_and_recovers/1,
    kill_vm_takes_inertd_within_1s/1,
    caller_killed_mid_call_is_cleared_and_copies_closed/1,
    fds_that_cannot_be_waited_on_are_ready_under_each_poller/1,
    fd_number_reused_while_armed_replaces_the_stale_copy/1,
    broken_control_stream_on_stdin_restarts_inertd_and_interests_survive/1,
    emfile_answers_the_caller_and_the_daemon_goes_on/1,
    hundred_private_instances_and_25_vms_start_at_once_and_each_answers/1,
    flood_without_waiting_is_bounded/1,
    soak_poll_cycles_leave_no_leak/1,
    armed_fds_closed_without_fdclr_are_released_under_each_poller/1,
    fdclr_of_a_closed_armed_fd_is_ok/1,
    closed_and_reused_number_gets_no_event_for_the_old_interest/1,
    inertd_refuses_its_own_plumbing_and_exits_after_stop/1,
    vm_killed_while_inertd_was_handed_its_plumbing_takes_inertd/1
]).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [
        kill_inertd_with_1000_armed_and_events_in_flight,
        sigstop_inertd_poll_timeouts_are_honoured_and_it_recovers,
        ten_kills_in_a_few_seconds_keep_the_pollid_and_every_interest,
        inertd_that_cannot_start_blocks_no_caller_and_recovers,
        full_side_channel_bounds_fdset_and_poll_and_recovers,
        kill_vm_takes_inertd_within_1s,
        caller_killed_mid_call_is_cleared_and_copies_closed,
        fds_that_cannot_be_waited_on_are_ready_under_each_poller,
        fd_number_reused_while_armed_replaces_the_stale_copy,
        broken_control_stream_on_stdin_restarts_inertd_and_interests_survive,
        emfile_answers_the_caller_and_the_daemon_goes_on,
        armed_fds_closed_without_fdclr_are_released_under_each_poller,
        fdclr_of_a_closed_armed_fd_is_ok,
        closed_and_reused_number_gets_no_event_for_the_old_interest,
        inertd_refuses_its_own_plumbing_and_exits_after_stop,
        vm_killed_while_inertd_was_handed_its_plumbing_takes_inertd,
        {group, slow}
    ].

%% Thousands of fds, a soak and a flood: minutes on a small host.
%% INERT_SKIP_SLOW=1 skips them (inert_test_lib:slow_group/1).
groups() ->
    [{slow, [], [
        kill_inertd_with_19000_ready_fds_delivers_each_once,
        kill_inertd_with_ready_fds_busy_pollers_and_a_bursty_vm_delivers_each_once,
        hundred_private_instances_and_25_vms_start_at_once_and_each_answers,
        flood_without_waiting_is_bounded,
        soak_poll_cycles_leave_no_leak
    ]}].

init_per_suite(Config) ->
    inert_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    inert_test_lib:end_per_suite(Config).

init_per_group(slow, Config) ->
    inert_test_lib:slow_group(Config).

end_per_group(slow, _Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    inert_test_lib:init_per_testcase(Config).

end_per_testcase(_Case, _Config) ->
    inert_test_lib:end_per_testcase().

%%--------------------------------------------------------------------
%% Faults
%%--------------------------------------------------------------------

kill_inertd_with_1000_armed_and_events_in_flight(_Config) ->
    PollId = inert:pollid(),
    N = 1000,
    {ok, Tx} = gen_udp:open(0, [binary, {ip, {127,0,0,1}}]),
    Rxs = [begin
               {ok, S} = gen_udp:open(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
               {ok, FD} = inet:getfd(S),
               {S, FD}
           end || _ <- lists:seq(1, N)],
    %% 900 fdset by this process, 100 polls by their own processes.
    {Armed, Polled} = lists:split(900, Rxs),
    [ok = inert:fdset(FD, read) || {_, FD} <- Armed],
    Self = self(),
    Pollers = [spawn_link(fun() -> Self ! {polled, self(), inert:poll(FD, read, 30000)} end)
               || {_, FD} <- Polled],
    await_armed(N),
    #{os_pid := Old} = inert:info(),
    %% Datagrams go out while the daemon is killed half way through.
    {First, Second} = lists:split(N div 2, Rxs),
    Sender = spawn_link(fun() ->
        [ok = send_to(Tx, S) || {S, _} <- First],
        _ = os:cmd("kill -9 " ++ integer_to_list(Old)),
        [ok = send_to(Tx, S) || {S, _} <- Second],
        Self ! sent
    end),
    receive sent -> ok after 30000 -> ct:fail({sender_stuck, Sender}) end,
    Want = lists:sort([FD || {_, FD} <- Armed]),
    Got = lists:sort([receive {inert_read, PollId, FD} -> FD
                      after 30000 -> ct:fail({lost_wakeup, I}) end
                      || I <- lists:seq(1, length(Armed))]),
    Want = Got,
    [receive {polled, P, R} -> {ok, read} = R after 30000 -> ct:fail({poller_hangs, P}) end
     || P <- Pollers],
    #{os_pid := New, armed := [], service := #{restarts := Restarts}} = inert:info(),
    true = New =/= Old andalso Restarts >= 1,
    PollId = inert:pollid(),
    refute_message({inert_read, '_', '_'}),
    close_all([Tx | [S || {S, _} <- Rxs]]).

kill_inertd_with_19000_ready_fds_delivers_each_once(_Config) ->
    %% The restarted daemon finds every fd it is re-armed with ready and
    %% writes a frame per loop turn: far more than the 256 unacknowledged
    %% frames after which it stops reading requests. The re-arm must not
    %% wait on it.
    %% Under each poller: io_uring (unless this kernel refuses it), then
    %% epoll.
    N = ready_fds(),
    Rxs = udp_sockets(N),
    {ok, Tx} = gen_udp:open(0, [binary, {ip, {127,0,0,1}}]),
    try
        under_each_poller([io_uring, epoll], fun(Poller) ->
            ct:pal("poller ~p", [Poller]),
            [kill_with_ready_fds(Rxs, Tx, Round) || Round <- lists:seq(1, 3)]
        end)
    after
        close_all([Tx | [S || {S, _} <- Rxs]])
    end.

kill_inertd_with_ready_fds_busy_pollers_and_a_bursty_vm_delivers_each_once(_Config) ->
    %% The same, while 20 processes poll writable sockets in a loop (each
    %% poll is a frame: the restarted daemon's window fills sooner) and
    %% high-priority processes keep the schedulers busy, so that the rest
    %% of the VM runs in short bursts, as on a loaded host.
    N = ready_fds(),
    Rxs = udp_sockets(N),
    {ok, Tx} = gen_udp:open(0, [binary, {ip, {127,0,0,1}}]),
    Writable = udp_sockets(20),
    Pollers = [spawn_link(fun() -> poll_loop(FD) end) || {_, FD} <- Writable],
    Hogs = [spawn(fun() -> process_flag(priority, high), hog() end)
            || _ <- lists:seq(1, erlang:system_info(schedulers_online))],
    try
        [kill_with_ready_fds(Rxs, Tx, Round) || Round <- lists:seq(1, 3)]
    after
        [exit(H, kill) || H <- Hogs],
        [begin unlink(P), exit(P, kill) end || P <- Pollers],
        close_all([Tx | [S || {S, _} <- Rxs ++ Writable]])
    end.

poll_loop(FD) ->
    {ok, write} = inert:poll(FD, write, 60000),
    poll_loop(FD).

%% 19,000 (INERT_READY_FDS overrides), fewer if the fd limit, which
%% inertd inherits, leaves less than 1,000 fds beside them.
ready_fds() ->
    Limit = list_to_integer(string:trim(os:cmd("ulimit -n"))),
    min(list_to_integer(os:getenv("INERT_READY_FDS", "19000")), Limit - 1000).

%% Busy for 3 ms, asleep for 1 ms, for ever.
hog() ->
    Until = erlang:monotonic_time(microsecond) + 3000,
    spin(Until),
    receive after 1 -> hog() end.

spin(Until) ->
    case erlang:monotonic_time(microsecond) < Until of
        true -> spin(Until);
        false -> ok
    end.

udp_sockets(N) ->
    [begin
         {ok, S} = gen_udp:open(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
         {ok, FD} = inet:getfd(S),
         {S, FD}
     end || _ <- lists:seq(1, N)].

%% Arm every socket, stop inertd, make every socket readable, kill it:
%% each interest is delivered once, by the restarted daemon.
kill_with_ready_fds(Rxs, Tx, Round) ->
    PollId = inert:pollid(),
    N = length(Rxs),
    [ok = inert:fdset(FD, read) || {_, FD} <- Rxs],
    ok = await_daemon_armed(fun(A) -> A >= N end, 30000),
    #{os_pid := Old} = inert:info(),
    [] = os:cmd("kill -STOP " ++ integer_to_list(Old)),
    [ok = send_to(Tx, S) || {S, _} <- Rxs],
    T0 = erlang:monotonic_time(millisecond),
    [] = os:cmd("kill -9 " ++ integer_to_list(Old)),
    Got = collect_reads(PollId, N, T0 + 60000, []),
    Ms = erlang:monotonic_time(millisecond) - T0,
    Want = lists:sort([FD || {_, FD} <- Rxs]),
    Want = lists:sort(Got),
    #{os_pid := New, armed := Armed} = inert:info(),
    Ready = maps:from_keys(Want, true),
    [] = [A || {FD, _, _, _} = A <- Armed, is_map_key(FD, Ready)],
    true = New =/= Old,
    PollId = inert:pollid(),
    refute_message({inert_read, '_', '_'}),
    ct:pal("round ~b: ~b ready fds, kill -9 to the last of ~b events: ~b ms",
           [Round, N, N, Ms]),
    %% Empty the sockets for the next round.
    [{ok, _} = gen_udp:recv(S, 0, 1000) || {S, _} <- Rxs],
    ok.

collect_reads(_PollId, 0, _Deadline, Acc) ->
    Acc;
collect_reads(PollId, Left, Deadline, Acc) ->
    receive
        {inert_read, PollId, FD} -> collect_reads(PollId, Left - 1, Deadline, [FD | Acc])
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
        %% Not a call: the service may be the one that is stuck.
        ct:fail({events_missing_after_restart, Left,
                 process_info(PollId, [current_stacktrace, message_queue_len])})
    end.

%% inertd's own count of armed interests is Enough (the pollers of the
%% bursty case come and go).
await_daemon_armed(Enough, Ms) ->
    #{counters := #{armed := A}} = inert:info(),
    case Enough(A) of
        true -> ok;
        false when Ms =< 0 -> ct:fail({armed_not_reached, A});
        false -> receive after 100 -> await_daemon_armed(Enough, Ms - 100) end
    end.

sigstop_inertd_poll_timeouts_are_honoured_and_it_recovers(_Config) ->
    Pairs = [udp_pair() || _ <- lists:seq(1, 10)],
    [ok = inert:fdset(FD, read) || {_, FD, _} <- Pairs],
    #{os_pid := OsPid, service := #{restarts := Restarts}} = inert:info(),
    Pid = integer_to_list(OsPid),
    {Rx3, FD3, Tx3} = udp_pair(),
    [] = os:cmd("kill -STOP " ++ Pid),
    try
        [ok = send_to(Tx, Rx) || {Rx, _, Tx} <- Pairs],
        {Rx1, FD1, Tx1} = udp_pair(),
        ok = send_to(Tx1, Rx1),
        %% The fd is ready but the daemon is stopped: the timeout rules.
        T0 = erlang:monotonic_time(millisecond),
        {error, timeout} = inert:poll(FD1, read, 300),
        Elapsed = erlang:monotonic_time(millisecond) - T0,
        ct:pal("poll/3 with 300 ms returned after ~b ms with inertd stopped", [Elapsed]),
        true = Elapsed >= 300 andalso Elapsed < 1500,
        %% fdset does not wait for inertd: with the daemon stopped it
        %% still returns at once, ownership (ebusy) is decided in the VM,
        %% and the interest is armed when the daemon runs again.
        T1 = erlang:monotonic_time(millisecond),
        ok = inert:fdset(FD3, read),
        {error, ebusy} = in_other_process(fun() -> inert:fdset(FD3) end),
        FdsetMs = erlang:monotonic_time(millisecond) - T1,
        ct:pal("fdset and a rival's ebusy took ~b ms with inertd stopped", [FdsetMs]),
        true = FdsetMs < 100,
        ok = send_to(Tx3, Rx3),
        %% Stopped for 2 s in all, as the issue asks.
        receive after max(0, 2000 - Elapsed) -> ok end,
        close_all([Rx1, Tx1])
    after
        os:cmd("kill -CONT " ++ Pid)
    end,
    [receive {inert_read, _, FD} -> ok after 5000 -> ct:fail({no_event_after_cont, FD}) end
     || FD <- [FD3 | [F || {_, F, _} <- Pairs]]],
    close_all([Rx3, Tx3]),
    #{os_pid := OsPid, armed := [], service := #{restarts := Restarts}} = inert:info(),
    {Rx2, FD2, Tx2} = udp_pair(),
    {ok, write} = inert:poll(FD2, write, 1000),
    refute_message('_'),
    close_all([Rx2, Tx2 | lists:append([[Rx, Tx] || {Rx, _, Tx} <- Pairs])]).

full_side_channel_bounds_fdset_and_poll_and_recovers(_Config) ->
    %% inertd stopped, one client re-arming one fd in a loop: the side
    %% channel's buffer fills. From then on an fdset returns {error,
    %% eagain} within its 2 s send timeout, every poll/3 honours its
    %% timeout, and after SIGCONT everything works again.
    #{os_pid := OsPid, service := #{restarts := Restarts}} = inert:info(),
    Pid = integer_to_list(OsPid),
    {Rx, FD, Tx} = udp_pair(),
    {Rx2, FD2, Tx2} = udp_pair(),
    {Rx3, FD3, Tx3} = udp_pair(),
    Self = self(),
    [] = os:cmd("kill -STOP " ++ Pid),
    try
        Loop = fun Loop(N) ->
            case inert:fdset(FD, read) of
                ok -> Loop(N + 1);
                Other -> Self ! {rearmer, N, Other}
            end
        end,
        Rearmer = spawn_link(fun() -> Loop(0) end),
        receive
            {rearmer, N, Result} ->
                ct:pal("the side channel was full after ~b fdsets; the next one: ~p", [N, Result]),
                {error, eagain} = Result
        after 30000 ->
            ct:fail({fdset_blocked_on_a_full_side_channel,
                     process_info(Rearmer, current_stacktrace)})
        end,
        %% Another caller's poll: its timeout rules, though it cannot
        %% even send.
        T0 = erlang:monotonic_time(millisecond),
        {error, timeout} = in_other_process(fun() -> inert:poll(FD2, write, 300) end),
        PollMs = erlang:monotonic_time(millisecond) - T0,
        %% Another caller's fdset: bounded, with the documented answer,
        %% and nothing claimed (a rival is not refused ebusy).
        T1 = erlang:monotonic_time(millisecond),
        {error, eagain} = in_other_process(fun() -> inert:fdset(FD3, read) end),
        FdsetMs = erlang:monotonic_time(millisecond) - T1,
        [] = inert_table:holders(inert_srv:table(inert:pollid()), FD3),
        ct:pal("with the side channel full: poll/3 of 300 ms took ~b ms, fdset ~b ms",
               [PollMs, FdsetMs]),
        true = PollMs >= 300 andalso PollMs < 1500,
        true = FdsetMs >= 2000 andalso FdsetMs < 3500
    after
        os:cmd("kill -CONT " ++ Pid)
    end,
    %% Recovered: the requests queued go through, new ones too.
    {ok, write} = inert:poll(FD2, write, 5000),
    ok = inert:fdset(FD3, read),
    ok = send_to(Tx3, Rx3),
    receive {inert_read, _, FD3} -> ok after 5000 -> ct:fail(no_event_after_cont) end,
    %% The re-armer has exited: its interest is cleared.
    #{os_pid := OsPid, service := #{restarts := Restarts}} = inert:info(),
    await_armed(0),
    close_all([Rx, Tx, Rx2, Tx2, Rx3, Tx3]).

ten_kills_in_a_few_seconds_keep_the_pollid_and_every_interest(_Config) ->
    %% Each daemon is killed as soon as it is up: after five quick
    %% restarts the service backs off, but keeps its pid (the PollId) and
    %% its table. Callers are not blocked during the backoff.
    PollId = inert:pollid(),
    Pairs = [udp_pair() || _ <- lists:seq(1, 50)],
    [ok = inert:fdset(FD, read) || {_, FD, _} <- Pairs],
    await_armed(50),
    T0 = erlang:monotonic_time(millisecond),
    Kill = fun(Last) ->
        OsPid = await_daemon_up(PollId, Last, 30000),
        [] = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
        OsPid
    end,
    LastPid = lists:foldl(fun(_, Last) -> Kill(Last) end, 0, lists:seq(1, 10)),
    KillMs = erlang:monotonic_time(millisecond) - T0,
    %% While the service backs off: a poll keeps its timeout, an fdset
    %% returns at once and is armed once a daemon is up.
    {Rx1, FD1, Tx1} = udp_pair(),
    T1 = erlang:monotonic_time(millisecond),
    Polled = in_other_process(fun() -> inert:poll(FD1, read, 300) end),
    PollMs = erlang:monotonic_time(millisecond) - T1,
    T2 = erlang:monotonic_time(millisecond),
    ok = inert:fdset(FD1, read),
    FdsetMs = erlang:monotonic_time(millisecond) - T2,
    _ = await_daemon_up(PollId, LastPid, 30000),
    UpMs = erlang:monotonic_time(millisecond) - T0,
    ct:pal("10 kills in ~b ms; then poll/3 of 300 ms: ~p after ~b ms, fdset ~b ms; "
           "a daemon up again ~b ms after the first kill", [KillMs, Polled, PollMs, FdsetMs, UpMs]),
    {error, timeout} = Polled,
    true = PollMs >= 300 andalso PollMs < 1500,
    true = FdsetMs < 100,
    PollId = inert:pollid(),
    #{service := #{restarts := Restarts}} = inert:info(),
    true = Restarts >= 10,
    All = [{Rx1, FD1, Tx1} | Pairs],
    [ok = send_to(Tx, Rx) || {Rx, _, Tx} <- All],
    Want = lists:sort([FD || {_, FD, _} <- All]),
    Got = lists:sort([receive {inert_read, PollId, FD} -> FD
                      after 10000 -> ct:fail({lost_after_kills, I}) end
                      || I <- lists:seq(1, length(All))]),
    Want = Got,
    refute_message({inert_read, '_', '_'}),
    await_armed(0),
    close_all(lists:append([[Rx, Tx] || {Rx, _, Tx} <- All])).

inertd_that_cannot_start_blocks_no_caller_and_recovers(Config) ->
    %% A private service whose INERTD is a script that runs the real
    %% daemon, then (while the daemon is killed) exits at once, then runs
    %% it again. Meanwhile no caller is blocked, failures are logged at
    %% most every 10 s, and once the real daemon is back the interests
    %% are armed as callers left them.
    Wrapper = filename:join(?config(priv_dir, Config), "inertd-wrapper"),
    Real = filename:join(code:priv_dir(inert), "inertd"),
    Script = fun(Body) ->
        Tmp = Wrapper ++ ".tmp",
        ok = file:write_file(Tmp, ["#!/bin/sh\n", Body, "\n"]),
        ok = file:change_mode(Tmp, 8#755),
        ok = file:rename(Tmp, Wrapper)
    end,
    Script(["exec '", Real, "' \"$@\""]),
    true = os:putenv("INERTD", Wrapper),
    P = try prim_inert:start() after os:unsetenv("INERTD") end,
    true = is_pid(P),
    [{RxA, A, TxA}, {RxB, B, TxB}, {RxC, C, TxC}, {RxD, D, TxD}, {RxE, E, TxE}] =
        [udp_pair() || _ <- lists:seq(1, 5)],
    [ok = prim_inert:fdset(P, FD, read) || FD <- [A, B, C]],
    #{armed := [_, _, _]} = prim_inert:info(P),
    #{os_pid := OsPid} = inert_srv:status(P),
    Script("exit 1"),
    ok = inert_test_lib:collect_logs(warning),
    try
        [] = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
        ok = await(fun() -> maps:get(daemon, inert_srv:status(P)) =:= down end, 10000),
        Timed = fun(F) ->
            T0 = erlang:monotonic_time(millisecond),
            R = F(),
            {R, erlang:monotonic_time(millisecond) - T0}
        end,
        {ok, FdsetMs} = Timed(fun() -> prim_inert:fdset(P, D, read) end),
        {ok, FdclrMs} = Timed(fun() -> prim_inert:fdclr(P, B) end),
        {{error, timeout}, PollMs} = Timed(fun() -> prim_inert:poll(P, E, write, 300) end),
        {Info, InfoMs} = Timed(fun() -> prim_inert:info(P) end),
        {{error, closed}, DupMs} = Timed(fun() -> prim_inert:dup(P, A) end),
        ct:pal("inertd cannot start: fdset ~b ms, fdclr ~b ms, poll/3 of 300 ms ~b ms, "
               "info ~b ms, dup ~b ms; info: ~p", [FdsetMs, FdclrMs, PollMs, InfoMs, DupMs, Info]),
        #{armed := Armed, service := #{daemon := down}} = Info,
        [A, C, D] = [FD || {FD, read, _, fdset} <- Armed],
        true = lists:all(fun(Ms) -> Ms < 100 end, [FdsetMs, FdclrMs, InfoMs, DupMs]),
        true = PollMs >= 300 andalso PollMs < 1500,
        %% Failing for 2 s more: at most one report of it.
        receive after 2000 -> ok end,
        Failed = [M || {warning, {Fmt, _} = M} <- inert_test_lib:logged(),
                       string:find(Fmt, "could not be started") =/= nomatch],
        ct:pal("logged while failing: ~p", [Failed]),
        true = length(Failed) =< 1,
        Script(["exec '", Real, "' \"$@\""]),
        ok = await(fun() -> maps:get(daemon, inert_srv:status(P)) =:= up end, 15000)
    after
        inert_test_lib:stop_collecting_logs()
    end,
    #{armed := [{A, read, _, fdset}, {C, read, _, fdset}, {D, read, _, fdset}]} = prim_inert:info(P),
    [ok = send_to(Tx, Rx) || {Rx, Tx} <- [{RxA, TxA}, {RxB, TxB}, {RxC, TxC}, {RxD, TxD}]],
    [receive {inert_read, P, FD} -> ok after 5000 -> ct:fail({no_event_after_recovery, FD}) end
     || FD <- [A, C, D]],
    #{armed := []} = prim_inert:info(P),
    {messages, Msgs} = process_info(self(), messages),
    [] = [M || {inert_read, P2, _} = M <- Msgs, P2 =:= P],
    {ok, write} = prim_inert:poll(P, E, write, 1000),
    ok = prim_inert:stop(P),
    close_all([RxA, TxA, RxB, TxB, RxC, TxC, RxD, TxD, RxE, TxE]).

%% The OS pid of the service's daemon once it is up and is not Last.
await_daemon_up(Srv, Last, Ms) ->
    case inert_srv:status(Srv) of
        #{daemon := up, os_pid := OsPid} when OsPid =/= Last -> OsPid;
        _ when Ms =< 0 -> ct:fail({daemon_not_up, Last});
        _ -> receive after 5 -> await_daemon_up(Srv, Last, Ms - 5) end
    end.

kill_vm_takes_inertd_within_1s(_Config) ->
    {ok, Peer, _} = peer:start_link(#{connection => standard_io,
                                      args => ["-pa" | code:get_path()]}),
    ok = peer:call(Peer, inert, start, []),
    #{os_pid := DaemonPid} = peer:call(Peer, inert, info, []),
    VmPid = peer:call(Peer, os, getpid, []),
    unlink(Peer),
    T0 = erlang:monotonic_time(millisecond),
    _ = os:cmd("kill -9 " ++ VmPid),
    ok = await(inertd_gone_after_kill_of_its_vm, fun() -> not os_pid_alive(DaemonPid) end, 5000),
    Gone = erlang:monotonic_time(millisecond) - T0,
    ct:pal("inertd gone ~b ms after kill -9 of its VM", [Gone]),
    true = Gone =< 1000.

caller_killed_mid_call_is_cleared_and_copies_closed(_Config) ->
    Base = daemon_fds(),
    Pairs = [udp_pair() || _ <- lists:seq(1, 50)],
    FDs = [FD || {_, FD, _} <- Pairs],
    Self = self(),
    Loop = fun Loop(N) ->
        [begin ok = inert:fdset(FD, read_write), ok = inert:fdset(FD, read) end || FD <- FDs],
        N =:= 0 andalso (Self ! looping),
        Loop(N + 1)
    end,
    %% Killed wherever it is: in a sendmsg, waiting for an answer, or
    %% between calls.
    [begin
         {Pid, MRef} = spawn_monitor(fun() -> Loop(0) end),
         receive looping -> ok after 10000 -> ct:fail(caller_not_running) end,
         exit(Pid, kill),
         %% The next caller takes over the fds once it can see this one
         %% is dead: the kill is a signal in flight until then.
         receive {'DOWN', MRef, process, Pid, _} -> ok after 5000 -> ct:fail(caller_not_killed) end
     end || _ <- lists:seq(1, 5)],
    await_armed(0),
    ok = await_value(inertd_sockets_back_to_base, fun() -> daemon_fds() end, Base, 5000),
    close_all(lists:append([[Rx, Tx] || {Rx, _, Tx} <- Pairs])).

%%--------------------------------------------------------------------
%% Bad input
%%--------------------------------------------------------------------

fds_that_cannot_be_waited_on_are_ready_under_each_poller(Config) ->
    %% A regular file and /dev/null: epoll_ctl refuses both with EPERM,
    %% io_uring polls them as always ready. Under either poller (the
    %% application's `poller'), fdset reports them ready and poll returns
    %% ready, every time (a directory is covered by the Go tests: OTP
    %% cannot open one).
    Path = filename:join(?config(priv_dir, Config), "regular"),
    ok = file:write_file(Path, <<"x">>),
    {ok, File} = file:open(Path, [read, raw]),
    {ok, Null} = file:open("/dev/null", [read, raw]),
    try
        under_each_poller([epoll, io_uring], fun(Poller) ->
            PollId = inert:pollid(),
            [begin
                 FD = vm_fd_of(P),
                 [begin
                      ok = inert:fdset(FD),
                      receive {inert_read, PollId, FD} -> ok
                      after 5000 -> ct:fail({not_reported_ready, Poller, P}) end
                  end || _ <- [1, 2]],
                 {ok, write} = inert:poll(FD, write, 100)
             end || P <- [Path, "/dev/null"]],
            {Rx, UFD, Tx} = udp_pair(),
            {ok, write} = inert:poll(UFD, write),
            #{armed := []} = inert:info(),
            close_all([Rx, Tx])
        end)
    after
        ok = file:close(File),
        ok = file:close(Null)
    end.

fd_number_reused_while_armed_replaces_the_stale_copy(_Config) ->
    %% Close an armed TCP socket in the VM and get its number back for a
    %% UDP socket: re-arming the number must drop inertd's copy of the old
    %% socket (its peer then sees EOF) and watch the new one.
    case armed_tcp_closed_and_number_reused() of
        {ok, FD, Client, Udp} ->
            ok = inert:fdset(FD, read),
            {error, closed} = gen_tcp:recv(Client, 0, 5000),
            {ok, Tx} = gen_udp:open(0, [{ip, {127,0,0,1}}]),
            ok = send_to(Tx, Udp),
            receive {inert_read, _, FD} -> ok after 5000 -> ct:fail(no_event_for_new_file) end,
            close_all([Udp, Tx]);
        none ->
            {skip, "could not get the fd number back"}
    end.

%% An armed TCP socket closed in the VM without fdclr, and its fd number
%% taken by a new UDP socket: {ok, FD, Client, Udp} (Client the TCP
%% peer), or none if the number did not come back.
armed_tcp_closed_and_number_reused() ->
    {Server, Client} = tcp_pair(),
    {ok, FD} = inet:getfd(Server),
    ok = inert:fdset(FD, read),
    ok = gen_tcp:close(Server),
    case reopen_as_udp(FD, 20) of
        {ok, Udp} -> {ok, FD, Client, Udp};
        none -> none
    end.

reopen_as_udp(_FD, 0) ->
    none;
reopen_as_udp(FD, Tries) ->
    {ok, S} = gen_udp:open(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    case inet:getfd(S) of
        {ok, FD} -> {ok, S};
        _ -> Result = reopen_as_udp(FD, Tries - 1), gen_udp:close(S), Result
    end.

broken_control_stream_on_stdin_restarts_inertd_and_interests_survive(_Config) ->
    %% Two stray bytes written into inertd's stdin (through /proc, as
    %% another process of the same user could): the {packet,4} stream
    %% is out of step for good. inertd exits (status 4) at the next
    %% frame the VM writes, the service restarts it and re-arms: PollId
    %% unchanged, an armed interest still delivers, info and fdclr answer.
    %% A whole frame that is not a request does the same.
    PollId = inert:pollid(),
    {Rx, FD, Tx} = udp_pair(),
    ok = inert:fdset(FD, read),
    Broken = [fun(OsPid) ->
                  ok = file:write_file("/proc/" ++ integer_to_list(OsPid) ++ "/fd/0", <<1, 2>>)
              end,
              fun(_OsPid) ->
                  {_Sock, Port} = inert_srv:lookup(inert:pollid()),
                  true = erlang:port_command(Port, <<"garbage">>)
              end],
    [begin
         #{os_pid := Old, service := #{restarts := R0}} = inert:info(),
         Break(Old),
         %% The VM acknowledges every 64th frame: each info is one.
         ok = await(fun() ->
                        #{os_pid := New, service := #{restarts := R}} = inert:info(),
                        New =/= Old andalso R =:= R0 + 1
                    end, 10000),
         false = os_pid_alive(Old),
         PollId = inert:pollid(),
         [#{mode := read}] = inert_test_lib:armed_entries(FD)
     end || Break <- Broken],
    ok = send_to(Tx, Rx),
    receive {inert_read, PollId, FD} -> ok after 5000 -> ct:fail(no_event_after_restart) end,
    ok = inert:fdset(FD, read),
    ok = inert:fdclr(FD),
    #{armed := []} = inert:info(),
    close_all([Rx, Tx]).

%%--------------------------------------------------------------------
%% Exhaustion
%%--------------------------------------------------------------------

emfile_answers_the_caller_and_the_daemon_goes_on(Config) ->
    %% A private daemon whose fd limit is 32 (about 20 fds left for
    %% duplicates once Go's and the loop's own fds are counted).
    Wrapper = filename:join(?config(priv_dir, Config), "inertd-32"),
    Real = filename:join(code:priv_dir(inert), "inertd"),
    ok = file:write_file(Wrapper, ["#!/bin/sh\nulimit -n 32\nexec '", Real, "' \"$@\"\n"]),
    ok = file:change_mode(Wrapper, 8#755),
    true = os:putenv("INERTD", Wrapper),
    PollId = try prim_inert:start() after os:unsetenv("INERTD") end,
    true = is_pid(PollId),
    Pairs = [udp_pair() || _ <- lists:seq(1, 40)],
    [ok = prim_inert:fdset(PollId, FD, read) || {_, FD, _} <- Pairs],
    %% inertd answers requests in order: when info is answered, every
    %% fdset it could not arm has been reported ready.
    #{armed := Armed} = prim_inert:info(PollId),
    Full = [FD || {_, FD, _} <- Pairs,
                  receive {inert_read, PollId, FD} -> true after 0 -> false end],
    Ok = [FD || {_, FD, _} <- Pairs, not lists:member(FD, Full)],
    ct:pal("~b armed, then ~b reported ready and answered emfile", [length(Ok), length(Full)]),
    true = length(Ok) > 0 andalso length(Full) > 0,
    true = length(Armed) =:= length(Ok),
    %% The caller that hit the limit gets the error on its next call.
    [{error, emfile} = prim_inert:fdset(PollId, FD, read) || FD <- Full],
    %% Still serving: an armed fd delivers, clearing frees room, and the
    %% freed room can be armed again.
    [{Rx, FD0, Tx} | _] = [P || {_, F, _} = P <- Pairs, F =:= hd(Ok)],
    ok = send_to(Tx, Rx),
    receive {inert_read, PollId, FD0} -> ok after 5000 -> ct:fail(no_event_when_full) end,
    [ok = prim_inert:fdclr(PollId, FD) || FD <- tl(Ok)],
    ok = prim_inert:fdset(PollId, hd(Full), read),
    #{armed := [{Again, read, _, fdset}]} = prim_inert:info(PollId),
    Again = hd(Full),
    refute_message({inert_read, PollId, Again}),
    ok = prim_inert:stop(PollId),
    close_all(lists:append([[R, T] || {R, _, T} <- Pairs])).

%% Generous bounds for a loaded 2-core host: 25 VMs boot at once (about
%% half a second of CPU each) while 125 inertd start.
-define(MANY_UP_MS, 120000).
-define(MANY_CALL_MS, 60000).
-define(MANY_GONE_MS, 60000).

hundred_private_instances_and_25_vms_start_at_once_and_each_answers(_Config) ->
    %% Each io_uring ring counts against the user's RLIMIT_MEMLOCK: with
    %% this VM's own inertd, 126 daemons of one user start at the same
    %% time: 100 private instances (prim_inert:start/0) in this VM, each
    %% from its own process, and 25 peer VMs each running inert:start/0.
    %% Each answers {ok, write} for a UDP socket on 127.0.0.1 under
    %% whichever poller it got (io_uring, or epoll where a ring could not
    %% be set up). Then everything is stopped: every inertd and every VM
    %% seen is gone.
    Self = self(),
    Seen = ets:new(many_os_pids, [public, bag]),
    T0 = erlang:monotonic_time(millisecond),
    Holders = maps:from_list(
                [spawn_holder(peer, fun() -> peer_vm(Self, Seen) end) || _ <- lists:seq(1, 25)] ++
                [spawn_holder(private, fun() -> private_instance(Self, Seen) end)
                 || _ <- lists:seq(1, 100)]),
    try
        Ups = collect_ups(Holders, T0 + ?MANY_UP_MS, []),
        UpMs = erlang:monotonic_time(millisecond) - T0,
        Count = fun(Kind) ->
                    lists:foldl(fun(Poller, Acc) -> maps:update_with(Poller, fun(N) -> N + 1 end, 1, Acc) end,
                                #{}, [Poller || {K, Poller, _} <- Ups, K =:= Kind])
                end,
        ct:pal("100 private instances and 25 peer VMs up and answered in ~b ms; pollers: "
               "private ~p, peer VMs ~p", [UpMs, Count(private), Count(peer)]),
        case [U || {_, Poller, Answer} = U <- Ups,
                   Answer =/= {ok, write} orelse not lists:member(Poller, [io_uring, epoll])] of
            [] -> ok;
            Bad -> ct:fail({instances_without_a_poller_or_an_ok_write, Bad})
        end,
        T1 = erlang:monotonic_time(millisecond),
        [H ! stop || H <- maps:keys(Holders)],
        ok = await_holders_stopped(Holders, T1 + ?MANY_GONE_MS),
        OsPids = lists:usort([P || {P} <- ets:tab2list(Seen)]),
        ok = await_value({inertd_and_peer_vms_gone, length(OsPids)},
                         fun() -> [P || P <- OsPids, os_pid_alive(P)] end, [], ?MANY_GONE_MS),
        ct:pal("stopped: all ~b inertd and VM OS pids gone ~b ms after the stop; ~b ms in all",
               [length(OsPids), erlang:monotonic_time(millisecond) - T1,
                erlang:monotonic_time(millisecond) - T0])
    after
        [begin erlang:demonitor(M, [flush]), exit(H, shutdown) end
         || {H, {_, M}} <- maps:to_list(Holders)],
        kill_os_pids_left(Seen),
        ets:delete(Seen)
    end.

spawn_holder(Kind, Fun) ->
    {Pid, MRef} = spawn_monitor(Fun),
    {Pid, {Kind, MRef}}.

%% A private instance started by its own process (its owner): it records
%% its inertd's OS pid, reports its poller and its answer, and stops when
%% told.
private_instance(Parent, Seen) ->
    P = case prim_inert:start() of
            Pid when is_pid(Pid) -> Pid;
            Error -> exit({prim_inert_start, Error})
        end,
    #{os_pid := OsPid, poller := Poller} = prim_inert:info(P),
    true = ets:insert(Seen, {OsPid}),
    Answer = poll_of_a_udp_socket(fun(FD) -> prim_inert:poll(P, FD, write, ?MANY_CALL_MS) end),
    Parent ! {up, self(), private, Poller, Answer},
    receive stop -> ok end,
    ok = prim_inert:stop(P).

%% A peer VM (over its stdio) running inert:start/0: it records the VM's
%% and its inertd's OS pids, reports the poller and the answer, and on
%% stop stops inert and the VM.
peer_vm(Parent, Seen) ->
    {ok, Peer, _} = peer:start_link(#{connection => standard_io, wait_boot => ?MANY_UP_MS,
                                      args => ["-pa" | code:get_path()]}),
    VmPid = list_to_integer(peer:call(Peer, os, getpid, [], ?MANY_CALL_MS)),
    true = ets:insert(Seen, {VmPid}),
    ok = peer:call(Peer, inert, start, [], ?MANY_CALL_MS),
    #{os_pid := OsPid, poller := Poller} = peer:call(Peer, inert, info, [], ?MANY_CALL_MS),
    true = ets:insert(Seen, {OsPid}),
    Answer = peer:call(Peer, ?MODULE, inert_poll_of_a_udp_socket, [?MANY_CALL_MS],
                       ?MANY_CALL_MS + 5000),
    Parent ! {up, self(), peer, Poller, Answer},
    receive stop -> ok end,
    ok = peer:call(Peer, inert, stop, [], ?MANY_CALL_MS),
    ok = peer:stop(Peer).

%% Run in a peer VM (an exported call, not a fun).
inert_poll_of_a_udp_socket(Timeout) ->
    poll_of_a_udp_socket(fun(FD) -> inert:poll(FD, write, Timeout) end).

poll_of_a_udp_socket(Poll) ->
    {ok, S} = gen_udp:open(0, [{ip, {127,0,0,1}}]),
    {ok, FD} = inet:getfd(S),
    try Poll(FD) after gen_udp:close(S) end.

%% {Kind, Poller, Answer} of every holder, or a failure naming the
%% holders that did not report (or why one died) by Deadline.
collect_ups(Holders, _Deadline, Acc) when length(Acc) =:= map_size(Holders) ->
    Acc;
collect_ups(Holders, Deadline, Acc) ->
    receive
        {up, _H, Kind, Poller, Answer} ->
            collect_ups(Holders, Deadline, [{Kind, Poller, Answer} | Acc]);
        {'DOWN', _, process, H, Reason} when is_map_key(H, Holders) ->
            {Kind, _} = maps:get(H, Holders),
            ct:fail({instance_died_before_it_answered, Kind, Reason})
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
        ct:fail({instances_not_up_and_answered_within_ms, ?MANY_UP_MS,
                 {answered, length(Acc)}, {of_, map_size(Holders)}})
    end.

%% Every holder has stopped what it started and exited normally.
await_holders_stopped(Holders, Deadline) ->
    maps:foreach(
      fun(H, {Kind, MRef}) ->
          receive
              {'DOWN', MRef, process, H, normal} -> ok;
              {'DOWN', MRef, process, H, Reason} -> ct:fail({stop_failed, Kind, Reason})
          after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
              ct:fail({instance_not_stopped_within_ms, ?MANY_GONE_MS, Kind,
                       process_info(H, current_stacktrace)})
          end
      end, Holders).

%% After a failure: the holders have been shut down (their private
%% instances and peer VMs go with them); what is still running after a
%% while is killed by the OS pid it was seen with.
kill_os_pids_left(Seen) ->
    OsPids = [P || {P} <- ets:tab2list(Seen)],
    _ = catch await_value(cleanup, fun() -> [P || P <- OsPids, os_pid_alive(P)] end, [], 10000),
    [os:cmd("kill -9 " ++ integer_to_list(P)) || P <- OsPids, os_pid_alive(P)],
    ok.

flood_without_waiting_is_bounded(_Config) ->
    %% A process writes 50,000 poll requests of an always-writable fd
    %% straight to the side channel and never reads an answer: each one
    %% makes an entry. The flow-control window holds inertd back,
    %% so neither inertd nor the port owner's mailbox grows without bound.
    PollId = inert:pollid(),
    {Sock, _Port} = inert_srv:lookup(PollId),
    #{os_pid := OsPid} = inert:info(),
    Rss0 = rss_kib(OsPid),
    {Rx, FD, Tx} = udp_pair(),
    Self = self(),
    Flooder = spawn(fun() ->
        [ok = inert_req:send(Sock, inert_req:poll(self(), make_ref(), FD, write, []), FD, infinity)
         || _ <- lists:seq(1, 50000)],
        Self ! flooded,
        receive stop -> ok end
    end),
    MaxQueue = sample_queue(PollId, 0),
    receive flooded -> ok after 120000 -> ct:fail(flood_stuck) end,
    Rss1 = rss_kib(OsPid),
    ct:pal("inertd RSS ~b KiB -> ~b KiB; port owner queue peaked at ~b", [Rss0, Rss1, MaxQueue]),
    true = Rss1 - Rss0 < 32 * 1024,
    true = MaxQueue < 2000,
    exit(Flooder, kill),
    await_armed(0),
    {ok, write} = inert:poll(FD, write, 1000),
    close_all([Rx, Tx]).

%% Sample the port owner's queue until the flooder reports.
sample_queue(Srv, Max) ->
    {message_queue_len, Len} = process_info(Srv, message_queue_len),
    receive
        flooded -> self() ! flooded, max(Max, Len)
    after 5 ->
        sample_queue(Srv, max(Max, Len))
    end.

%%--------------------------------------------------------------------
%% Leaks
%%--------------------------------------------------------------------

soak_poll_cycles_leave_no_leak(_Config) ->
    %% INERT_SOAK_CYCLES poll cycles (default 100,000; RELIABILITY.md has a
    %% 10^6 run) over 100 fds by 100 processes.
    Cycles = list_to_integer(os:getenv("INERT_SOAK_CYCLES", "100000")),
    Procs = 100,
    Pairs = [udp_pair() || _ <- lists:seq(1, Procs)],
    #{os_pid := OsPid} = inert:info(),
    VmFds0 = vm_fds(),
    DaemonFds0 = daemon_fds(OsPid),
    %% Warm up (the Go heap grows to its working size), then run the rest
    %% in two halves: RSS must not grow from the first half to the second.
    run_polls(Pairs, Cycles div 5 div Procs),
    #{counters := #{goroutines := G0}} = inert:info(),
    T0 = erlang:monotonic_time(millisecond),
    run_polls(Pairs, Cycles * 2 div 5 div Procs),
    Rss1 = rss_kib(OsPid),
    run_polls(Pairs, Cycles * 2 div 5 div Procs),
    Rss2 = rss_kib(OsPid),
    Ms = erlang:monotonic_time(millisecond) - T0,
    #{armed := [], counters := #{goroutines := G1}} = inert:info(),
    ct:pal("~b poll cycles, ~b ms after warm-up; inertd sockets ~b -> ~b, VM fds ~b -> ~b, "
           "RSS ~b -> ~b KiB, goroutines ~b -> ~b",
           [Cycles, Ms, DaemonFds0, daemon_fds(OsPid), VmFds0, vm_fds(), Rss1, Rss2, G0, G1]),
    %% The last polls' copies are closed after their answers are written,
    %% and the VM's own fds (logs, ports) come and go: wait for each count
    %% to come back rather than read it once.
    ok = await_value(inertd_sockets_back_to_start, fun() -> daemon_fds(OsPid) end, DaemonFds0, 5000),
    ok = await_value(vm_fds_back_to_start, fun vm_fds/0, VmFds0, 5000),
    ok = await_value(inertd_goroutines_back_to_start,
                     fun() -> #{counters := #{goroutines := G}} = inert:info(), G end, G0, 5000),
    true = Rss2 - Rss1 < 2048,
    close_all(lists:append([[Rx, Tx] || {Rx, _, Tx} <- Pairs])).

run_polls(Pairs, PerProc) ->
    Self = self(),
    Pids = [spawn_link(fun() ->
                [{ok, write} = inert:poll(FD, write) || _ <- lists:seq(1, PerProc)],
                Self ! {done, self()}
            end) || {_, FD, _} <- Pairs],
    [receive {done, P} -> ok after 120000 -> ct:fail({soak_stuck, P}) end || P <- Pids],
    ok.

vm_fds() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    length(Names).

rss_kib(OsPid) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]),
              binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kib | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kib).

%%--------------------------------------------------------------------
%% Fds the VM closes while armed, and inertd's own plumbing
%%--------------------------------------------------------------------

%% How long inertd may take to release an fd the VM closed while armed:
%% its re-check interval (500 ms) and a pass, with room for a loaded host.
-define(RELEASE_BOUND_MS, 5000).

armed_fds_closed_without_fdclr_are_released_under_each_poller(_Config) ->
    %% 50 gen_tcp and 50 gen_udp sockets armed, then closed without
    %% fdclr ("time out, then close"): inertd drops its copies within
    %% the bound, so every TCP peer sees EOF and every UDP port can be
    %% bound again; its fd count returns to its base; nothing is left
    %% armed and no event arrives.
    under_each_poller([epoll, io_uring], fun(Poller) ->
        Base = daemon_fds(),
        Tcp = [tcp_pair() || _ <- lists:seq(1, 50)],
        Udp = [begin
                   {ok, S} = gen_udp:open(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
                   {ok, P} = inet:port(S),
                   {S, P}
               end || _ <- lists:seq(1, 50)],
        [begin {ok, FD} = inet:getfd(S), ok = inert:fdset(FD, read) end
         || S <- [Server || {Server, _} <- Tcp] ++ [S || {S, _} <- Udp]],
        ok = await(fun() -> daemon_fds() =:= Base + 100 end, 5000),
        T0 = erlang:monotonic_time(millisecond),
        [ok = gen_tcp:close(Server) || {Server, _} <- Tcp],
        [ok = gen_udp:close(S) || {S, _} <- Udp],
        [{error, closed} = gen_tcp:recv(Client, 0, ?RELEASE_BOUND_MS) || {_, Client} <- Tcp],
        EOF = erlang:monotonic_time(millisecond) - T0,
        [ok = await(fun() -> udp_port_free(P) end, ?RELEASE_BOUND_MS) || {_, P} <- Udp],
        ok = await(fun() -> daemon_fds() =:= Base end, ?RELEASE_BOUND_MS),
        #{armed := [], counters := #{vm_closed := 100}} = inert:info(),
        refute_message({inert_read, '_', '_'}),
        ct:pal("~p: 100 armed fds closed in the VM, every TCP peer saw EOF within ~b ms", [Poller, EOF]),
        [gen_tcp:close(Client) || {_, Client} <- Tcp]
    end).

udp_port_free(Port) ->
    case gen_udp:open(Port, [{ip, {127,0,0,1}}]) of
        {ok, S} -> ok = gen_udp:close(S), true;
        {error, eaddrinuse} -> false
    end.

fdclr_of_a_closed_armed_fd_is_ok(_Config) ->
    %% The VM cannot pass a closed fd (sendmsg: ebadf): the fdclr goes
    %% without it, clears the interest and releases inertd's copy.
    {Server, Client} = tcp_pair(),
    {ok, FD} = inet:getfd(Server),
    ok = inert:fdset(FD, read),
    ok = gen_tcp:close(Server),
    ok = inert:fdclr(FD),
    [] = inert_test_lib:armed_entries(FD),
    {error, closed} = gen_tcp:recv(Client, 0, 5000),
    ok = inert:fdclr(FD),
    refute_message({inert_read, '_', '_'}),
    gen_tcp:close(Client).

closed_and_reused_number_gets_no_event_for_the_old_interest(_Config) ->
    %% fdset(N), close N, another socket gets number N and is not armed:
    %% inertd drops the old interest (its peer sees EOF, which would have
    %% made the old socket readable) and sends no event for it.
    case armed_tcp_closed_and_number_reused() of
        {ok, FD, Client, Udp} ->
            ok = gen_tcp:send(Client, <<"makes the old socket readable">>),
            {error, closed} = gen_tcp:recv(Client, 0, ?RELEASE_BOUND_MS),
            ok = await(fun() -> inert_test_lib:armed_entries(FD) =:= [] end, ?RELEASE_BOUND_MS),
            refute_message({inert_read, '_', FD}),
            %% The new socket on the number is armed as any other.
            ok = inert:fdset(FD, read),
            {ok, Tx} = gen_udp:open(0, [{ip, {127,0,0,1}}]),
            ok = send_to(Tx, Udp),
            receive {inert_read, _, FD} -> ok after 5000 -> ct:fail(no_event_for_new_file) end,
            close_all([Udp, Tx]),
            gen_tcp:close(Client);
        none ->
            {skip, "could not get the fd number back"}
    end.

inertd_refuses_its_own_plumbing_and_exits_after_stop(_Config) ->
    %% The scenario that left inertd alive after stop(): sockets opened
    %% before inert starts, armed, closed without fdclr, inertd killed
    %% once, so that the new daemon's pipes and side channel take their
    %% numbers and the re-arm hands them over; then the VM's ends of the
    %% running daemon's plumbing armed directly. inertd holds none of
    %% them (each fdset of them is reported ready and the next returns
    %% einval), and after stop() it is gone within a second.
    ok = inert:stop(),
    Socks = [begin {ok, S} = gen_udp:open(0, [{ip, {127,0,0,1}}]), S end || _ <- lists:seq(1, 8)],
    FDs = [begin {ok, FD} = inet:getfd(S), FD end || S <- Socks],
    ok = inert:start(),
    PollId = inert:pollid(),
    [ok = inert:fdset(FD, read) || FD <- FDs],
    close_all(Socks),
    #{os_pid := First} = inert:info(),
    _ = os:cmd("kill -9 " ++ integer_to_list(First)),
    ok = await(fun() -> #{os_pid := P} = inert:info(), P =/= First end, 10000),
    #{os_pid := OsPid} = inert:info(),
    Own = plumbing_fds(OsPid),
    ct:pal("the VM's ends of inertd's stdin, stdout and side channel: ~p; armed before the restart: ~p", [Own, FDs]),
    3 = length(Own),
    %% The re-arm handed inertd some of them: each was refused, which the
    %% caller sees as readiness and a reason kept for its next call.
    _ = inert:info(),
    flush_mailbox(),
    [begin
         ok = inert:fdclr(FD),  % forgets a kept reason
         ok = inert:fdset(FD, read),
         receive {inert_read, PollId, FD} -> ok after 5000 -> ct:fail({not_refused, FD}) end,
         {error, einval} = inert:fdset(FD, read)
     end || FD <- Own],
    #{armed := Armed} = inert:info(),
    [] = [A || {FD, _, _, _} = A <- Armed, lists:member(FD, Own)],
    T0 = erlang:monotonic_time(millisecond),
    ok = inert:stop(),
    ok = await(fun() -> not os_pid_alive(OsPid) end, 1000),
    ct:pal("inertd gone ~b ms after stop()", [erlang:monotonic_time(millisecond) - T0]),
    ok = inert:start().

%% The VM's fd numbers of a daemon's plumbing: the ends of its stdin and
%% stdout pipes (the same pipe inodes as its fds 0 and 1) and of its
%% side channel.
plumbing_fds(OsPid) ->
    Dir = "/proc/" ++ integer_to_list(OsPid) ++ "/fd/",
    Pipes = [begin {ok, L} = file:read_link(Dir ++ N), L end || N <- ["0", "1"]],
    Self = "/proc/self/fd/",
    {ok, Names} = file:list_dir(Self),
    Ends = [list_to_integer(N) || N <- Names,
                                  lists:member(element(2, file:read_link(Self ++ N)), Pipes)],
    {Sock, _Port} = inert_srv:lookup(inert:pollid()),
    {ok, SideFD} = socket:getopt(Sock, otp, fd),
    lists:usort([SideFD | Ends]).

%% Run in a peer VM (an exported call, not a fun: the peer may have
%% another build of this module): arm the plumbing of its inertd, and arm
%% sockets and close them without fdclr.
arm_plumbing_and_close_armed(DaemonPid) ->
    [ok = inert:fdset(FD, read) || FD <- plumbing_fds(DaemonPid)],
    Socks = [begin {ok, S} = gen_udp:open(0, [{ip, {127,0,0,1}}]), S end || _ <- lists:seq(1, 8)],
    [begin {ok, FD} = inet:getfd(S), ok = inert:fdset(FD, read) end || S <- Socks],
    close_all(Socks),
    ok.

vm_killed_while_inertd_was_handed_its_plumbing_takes_inertd(_Config) ->
    %% A peer VM arms its inertd's plumbing and closes armed sockets
    %% without fdclr, then is killed -9: inertd is gone within a second.
    {ok, Peer, _} = peer:start_link(#{connection => standard_io,
                                      args => ["-pa" | code:get_path()]}),
    ok = peer:call(Peer, inert, start, []),
    #{os_pid := DaemonPid} = peer:call(Peer, inert, info, []),
    ok = peer:call(Peer, ?MODULE, arm_plumbing_and_close_armed, [DaemonPid]),
    VmPid = peer:call(Peer, os, getpid, []),
    unlink(Peer),
    T0 = erlang:monotonic_time(millisecond),
    _ = os:cmd("kill -9 " ++ VmPid),
    ok = await(fun() -> not os_pid_alive(DaemonPid) end, 1000),
    ct:pal("inertd gone ~b ms after kill -9 of its VM", [erlang:monotonic_time(millisecond) - T0]).
