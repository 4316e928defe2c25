%% Helpers shared by the Common Test suites: sockets on 127.0.0.1, waiting
%% for conditions, and checks of the mailbox and of the daemon's fds.
-module(inert_test_lib).

-export([udp_pair/0, send_to/2, await_readable/1, tcp_pair/0, close_all/1,
         in_other_process/1, armed_entries/1, await_armed/1, await/2, await/3,
         await_value/4, under_each_poller/2,
         refute_message/1, flush_mailbox/0, os_pid_alive/1, vm_fd_of/1,
         daemon_fds/0, daemon_fds/1, vm_sockets/0,
         waiting_for_answer/1, while_service_suspended/1, local_pair/2]).
-export([collect_logs/1, logged/0, stop_collecting_logs/0, log/2]).
-export([collect_domain/1, stop_collecting_domain/0, await_event/3]).
-export([init_per_suite/1, end_per_suite/1, init_per_testcase/1, end_per_testcase/0,
         fd_baseline/1, check_fd_baseline/1, slow_group/1]).

%%--------------------------------------------------------------------
%% Callbacks the suites share
%%--------------------------------------------------------------------

%% Every suite runs against the shared service `inert'; each case finds
%% it running (a case may have stopped it or changed its poller).
init_per_suite(Config) ->
    ok = inert:start(),
    Config.

end_per_suite(Config) ->
    ok = inert:stop(),
    Config.

init_per_testcase(Config) ->
    ok = inert:start(),
    Config.

%% A case leaves no message behind for the next one.
end_per_testcase() ->
    flush_mailbox(),
    ok.

%% The sockets of the VM and the fds of inertd at the start of a case,
%% for check_fd_baseline/1 at its end.
fd_baseline(Config) ->
    [{vm_sockets, vm_sockets()}, {daemon_fds, daemon_fds()} | Config].

%% Nothing a case received or opened is left open, here or in inertd.
check_fd_baseline(Config) ->
    ok = await_value(vm_sockets_back_to_start_of_case, fun vm_sockets/0,
                     proplists:get_value(vm_sockets, Config), 5000),
    ok = await_value(inertd_sockets_back_to_start_of_case, fun daemon_fds/0,
                     proplists:get_value(daemon_fds, Config), 5000).

%% init_per_group/2 of a group of slow cases (thousands of fds, soaks,
%% floods): run unless INERT_SKIP_SLOW=1, which a developer sets to skip
%% them locally (`INERT_SKIP_SLOW=1 make test-erlang'); `make test' and
%% CI run them.
slow_group(Config) ->
    case os:getenv("INERT_SKIP_SLOW") of
        "1" -> {skip, "INERT_SKIP_SLOW=1"};
        _ -> Config
    end.

%%--------------------------------------------------------------------
%% Sockets and checks
%%--------------------------------------------------------------------

udp_pair() ->
    {ok, Rx} = gen_udp:open(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    {ok, FD} = inet:getfd(Rx),
    {ok, Tx} = gen_udp:open(0, [binary, {ip, {127,0,0,1}}]),
    {Rx, FD, Tx}.

send_to(Tx, Rx) ->
    {ok, Port} = inet:port(Rx),
    gen_udp:send(Tx, {127,0,0,1}, Port, <<"ping">>).

await_readable(Rx) ->
    {ok, FD} = inet:getfd(Rx),
    {ok, read} = inert:poll(FD, read, 5000).

tcp_pair() ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127,0,0,1}}]),
    {ok, Port} = inet:port(L),
    {ok, Client} = gen_tcp:connect({127,0,0,1}, Port, [binary, {active, false}]),
    {ok, Server} = gen_tcp:accept(L, 5000),
    ok = gen_tcp:close(L),
    {Server, Client}.

close_all(Sockets) ->
    [catch gen_udp:close(S) || S <- Sockets],
    ok.

in_other_process(Fun) ->
    Self = self(),
    Ref = make_ref(),
    spawn(fun() -> Self ! {Ref, Fun()} end),
    receive {Ref, R} -> R after 10000 -> ct:fail(other_process_timeout) end.

armed_entries(FD) ->
    #{armed := Armed} = inert:info(),
    [#{mode => M, owner => P, kind => K} || {F, M, P, K} <- Armed, F =:= FD].

%% The daemon's armed count reaches N (it follows deaths asynchronously).
await_armed(N) ->
    ok = await({inertd_armed_count, N},
               fun() -> #{armed := A} = inert:info(), length(A) =:= N end, 5000).

%% Wait until Fun() returns true, checking every 10 ms for at most Ms
%% milliseconds, and fail naming what was awaited. A test asserts a state
%% that an asynchronous action leads to (a close, a restart, a message in
%% flight) this way, never by reading it at one moment.
await(Fun, Ms) ->
    {module, M} = erlang:fun_info(Fun, module),
    {name, F} = erlang:fun_info(Fun, name),
    await({M, F}, Fun, Ms).

await(What, Fun, Ms) ->
    await_value(What, Fun, true, Ms).

%% Wait until Fun() returns Want, as await/3, and fail with the last
%% value seen.
await_value(What, Fun, Want, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    await_value_until(What, Fun, Want, Ms, Deadline).

await_value_until(What, Fun, Want, Ms, Deadline) ->
    case Fun() of
        Want ->
            ok;
        Got ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> ct:fail({not_reached_within_ms, Ms, What, {want, Want}, {got, Got}});
                false -> receive after 10 -> await_value_until(What, Fun, Want, Ms, Deadline) end
            end
    end.

%% Run Fun(Poller) with the shared service restarted on each poller of
%% Order (a list of io_uring and epoll) that this kernel has: io_uring is
%% left out where `auto' falls back to epoll. The application's `poller'
%% is `auto' again afterwards, however Fun returns. Returns Fun's results.
under_each_poller(Order, Fun) ->
    Have = case inert:info() of
               #{poller := io_uring} -> Order;
               #{poller := epoll} -> [epoll]
           end,
    try
        [begin
             ok = inert:stop(),
             ok = application:set_env(inert, poller, Poller),
             ok = inert:start(),
             #{poller := Poller} = inert:info(),
             Fun(Poller)
         end || Poller <- Have]
    after
        ok = application:set_env(inert, poller, auto)
    end.

%% Fails if a message matching Pattern (with '_' wildcards) is in the
%% mailbox. Callers first make a round trip through the service (info) so
%% that anything already sent has arrived.
refute_message(Pattern) ->
    _ = inert:info(),
    {messages, Msgs} = process_info(self(), messages),
    case [M || M <- Msgs, matches(Pattern, M)] of
        [] -> ok;
        Stray -> ct:fail({stray_messages, Stray})
    end.

matches('_', _) -> true;
matches(P, M) when is_tuple(P), is_tuple(M), tuple_size(P) =:= tuple_size(M) ->
    lists:all(fun({A, B}) -> matches(A, B) end,
              lists:zip(tuple_to_list(P), tuple_to_list(M)));
matches(P, M) -> P =:= M.

flush_mailbox() ->
    receive _ -> flush_mailbox() after 0 -> ok end.

%% A process that has exited is gone even while it waits, a zombie, for
%% its parent to reap it.
os_pid_alive(Pid) ->
    case file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterName] = string:split(Stat, ") ", trailing),
            binary:first(AfterName) =/= $Z;
        {error, _} ->
            false
    end.

%% The VM's fd number for an open file, read from /proc.
vm_fd_of(Path) ->
    Dir = "/proc/" ++ os:getpid() ++ "/fd",
    {ok, Names} = file:list_dir(Dir),
    [FD | _] = [list_to_integer(N) || N <- Names,
                                      file:read_link(filename:join(Dir, N)) =:= {ok, Path}],
    FD.

%% Number of sockets the daemon of the shared service holds: its side
%% channel and the duplicates behind armed interests. (The Go runtime's
%% own fds, such as its netpoller's, come and go and are not counted.)
daemon_fds() ->
    #{os_pid := OsPid} = inert:info(),
    daemon_fds(OsPid).

daemon_fds(OsPid) ->
    sockets_in("/proc/" ++ integer_to_list(OsPid) ++ "/fd").

%% Number of sockets the VM holds (its own /proc/self/fd).
vm_sockets() ->
    sockets_in("/proc/self/fd").

%% Number of sockets among the fds listed in Dir, a /proc/PID/fd.
sockets_in(Dir) ->
    {ok, Names} = file:list_dir(Dir),
    length([N || N <- Names,
                 case file:read_link(filename:join(Dir, N)) of
                     {ok, "socket:" ++ _} -> true;
                     _ -> false
                 end]).

%% A logger handler that sends every event of Level or above to the
%% calling process, for logged/0.
collect_logs(Level) ->
    logger:add_handler(inert_test_collector, ?MODULE,
                       #{level => Level, config => #{collector => self()}}).

stop_collecting_logs() ->
    _ = logger:remove_handler(inert_test_collector),
    receive {logged, _, _} -> stop_collecting_logs() after 0 -> ok end.

%% The events collected so far. The handler runs in the process that
%% logs: once that process is known to be gone (a 'DOWN' from it), what it
%% logged is already here.
logged() ->
    logged([]).

logged(Acc) ->
    receive
        {logged, Level, Msg} -> logged([{Level, Msg} | Acc])
    after 0 ->
        lists:reverse(Acc)
    end.

%% A logger handler that sends the calling process every event whose
%% domain is Domain, at every level, whole (with its metadata), for
%% await_event/3. The primary level and module levels still apply.
collect_domain(Domain) ->
    logger:add_handler(inert_test_domain, ?MODULE,
                       #{level => all, filter_default => stop,
                         filters => [{domain, {fun logger_filters:domain/2, {log, equal, Domain}}}],
                         config => #{collector => self(), whole => true}}).

stop_collecting_domain() ->
    _ = logger:remove_handler(inert_test_domain),
    receive {logged_event, _} -> stop_collecting_domain() after 0 -> ok end.

%% Wait at most Ms milliseconds for an event collect_domain/1 collected
%% that Pred accepts, and return it; events it does not accept are
%% dropped. Fails naming What and the events seen.
await_event(What, Pred, Ms) ->
    await_event(What, Pred, erlang:monotonic_time(millisecond) + Ms, []).

await_event(What, Pred, Deadline, Seen) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {logged_event, Event} ->
            case Pred(Event) of
                true -> Event;
                false -> await_event(What, Pred, Deadline, [Event | Seen])
            end
    after Left ->
        ct:fail({no_log_event, What, {seen, lists:reverse(Seen)}})
    end.

%% The handler callback.
log(Event, #{config := #{collector := Pid, whole := true}}) ->
    Pid ! {logged_event, Event},
    ok;
log(#{level := Level, msg := Msg}, #{config := #{collector := Pid}}) ->
    Pid ! {logged, Level, Msg},
    ok.

%% Whether Pid is blocked in a call of the API, waiting for the answer
%% the service forwards (inert_call:wait).
-spec waiting_for_answer(pid()) -> boolean().
waiting_for_answer(Pid) ->
    case process_info(Pid, [current_function, status]) of
        [{current_function, {inert_call, wait, _}}, {status, waiting}] -> true;
        _ -> false
    end.

%% Fun() while the shared service forwards nothing, and its result. The
%% service is resumed however Fun returns: left suspended, it would answer
%% no later case's request (each would end in its timetrap).
-spec while_service_suspended(fun(() -> T)) -> T.
while_service_suspended(Fun) ->
    Srv = inert:pollid(),
    ok = sys:suspend(Srv),
    try
        Fun()
    after
        ok = sys:resume(Srv)
    end.

%% A connected pair of unix sockets of Type (stream or seqpacket), made
%% through a socket file in Dir that is gone again when this returns.
-spec local_pair(stream | seqpacket, file:filename()) -> {socket:socket(), socket:socket()}.
local_pair(Type, Dir) ->
    Path = filename:join(Dir, atom_to_list(Type) ++ ".sock"),
    _ = file:delete(Path),
    {ok, L} = socket:open(local, Type, default),
    ok = socket:bind(L, #{family => local, path => Path}),
    ok = socket:listen(L),
    {ok, A} = socket:open(local, Type, default),
    ok = socket:connect(A, #{family => local, path => Path}),
    {ok, B} = socket:accept(L, 5000),
    ok = socket:close(L),
    ok = file:delete(Path),
    {A, B}.
