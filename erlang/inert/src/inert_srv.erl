%% @doc The process that owns inertd: it spawns the daemon as a port,
%% connects the fd side channel, forwards the daemon's entries to the
%% processes they are for, and restarts the daemon when it dies (with a
%% backoff, and without blocking: a restart's frames come as messages).
%%
%% Callers do not go through this process to make a request: they send
%% straight to the side channel (inert_call, through inert_req) and get
%% their answer from here, because every frame inertd writes arrives at
%% the port owner.
%%
%% It creates the service's ownership table (inert_table, which alone
%% reads and writes it); what inertd's entries mean for the table and the
%% callers (an interest delivered, cleared or failed, an fd the VM
%% closed, a cancelled poll's late answer dropped) is inert_relay's. The
%% table is what makes `fdset' answer without a round trip to inertd,
%% and what a restarted daemon is re-armed from. This process monitors
%% every process that arms an fd, so that its records go when it dies
%% (once inertd has been told). It also reads the side channel, where
%% inertd hands over the fds of dup and open, and closes any fd whose
%% caller dies before it has taken it.
%%
%% It must not wait on the daemon: its own requests (re-arms, cancel,
%% down) go through the feeder (inert_feeder), a process that may block
%% on a full side channel while this one keeps acknowledging frames. It
%% builds no request term itself (inert_req does), touches no record of
%% the table but through inert_table, opens and closes the daemon through
%% inert_daemon and decodes hand-overs through inert_handover. The wire
%% protocol is in protocol/PROTOCOL.md.
%%
%% @private
-module(inert_srv).
-behaviour(gen_server).

-export([start/1, start_link/2, lookup/1, table/1, await_restart/4, cancel/3, watch/2, sync/1,
         clear_down/3, status/1, info_keys/0, errnos/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).


-define(START_TIMEOUT, 10000).
%% How long cancel/3 waits for its cancel to be sent (a full side channel).
-define(CANCEL_WAIT_MS, 2000).
%% Every restart counts one, every FORGIVE_MS a daemon ran takes one off
%% (a start that fails counts one too): past MAX_RESTARTS each start
%% waits BACKOFF_MIN_MS, doubling up to BACKOFF_MAX_MS.
-define(MAX_RESTARTS, 5).
-define(FORGIVE_MS, 1000).
-define(BACKOFF_MIN_MS, 100).
-define(BACKOFF_MAX_MS, 5000).
%% A daemon that cannot be started is logged at most once per this long.
-define(LOG_EVERY_MS, 10000).
%% Acknowledge every ACK_EVERY frames: inertd stops reading requests when
%% 256 frames are unacknowledged (PROTOCOL.md, "Flow control").
-define(ACK_EVERY, 64).


%% When a caller waiting for a restart wants `down' instead: never
%% (wait), or while the daemon cannot be started and the next start
%% waits for the backoff (failing).
-type if_down() :: wait | failing.

-record(st, {
    owner :: pid(),
    exe :: file:filename(),
    port :: port() | undefined,
    sock :: socket:socket() | undefined,
    %% the process that sends this service's own requests to the daemon
    %% (re-arms, cancel, down): see inert_feeder
    feeder :: pid() | undefined,
    %% the daemon: starting (port open, waiting for its ready and hello
    %% frames), rearming (the feeder re-arms every record), up (callers
    %% send to it), down (none runs; a start is due at start_timer)
    phase = starting :: starting | rearming | up | down,
    start_timer :: reference() | undefined,
    %% restarts not forgiven yet (see FORGIVE_MS), and when the running
    %% daemon started
    quick = 0 :: non_neg_integer(),
    started_at = 0 :: integer(),
    %% failed starts not logged yet, and when one was last logged
    unlogged = 0 :: non_neg_integer(),
    logged_at :: integer() | undefined,
    os_pid = 0 :: non_neg_integer(),
    %% frames received from this inertd, ready, hello and those between
    %% them (log lines) included
    frames = 0 :: non_neg_integer(),
    %% the ownership table (inert_table)
    tab :: inert_table:table(),
    %% callers we monitor -> monitor reference
    mons = #{} :: #{pid() => reference()},
    %% what the entries of inertd mean for the table and the callers
    relay :: inert_relay:relay(),
    %% callers waiting for the daemon to be restarted, and when they want
    %% to be told that none runs (see await_restart/4)
    waiters = [] :: [{gen_server:from(), if_down()}],
    %% fds handed to callers that have not taken them yet, by the
    %% monitor reference that is also the token of the handover
    handovers = #{} :: #{reference() => {pid(), [non_neg_integer()]}},
    restarts_total = 0 :: non_neg_integer()
}).

%%--------------------------------------------------------------------
%% API
%%--------------------------------------------------------------------

%% @doc Start a private service controlled by `Owner'. It links itself to
%% `Owner' once it runs: a service that cannot start sends nobody an exit
%% signal, it returns `{error, Reason}'.
-spec start(pid()) -> {ok, pid()} | {error, term()}.
start(Owner) when is_pid(Owner) ->
    gen_server:start(?MODULE, Owner, []).

%% @doc Start a registered service that is its own controlling process.
-spec start_link({local, atom()}, service) -> {ok, pid()} | {error, term()}.
start_link(Name, service) ->
    gen_server:start_link(Name, ?MODULE, service, []).

%% @doc The side channel and port of a running service, or `undefined'.
-spec lookup(pid()) -> {socket:socket(), port()} | undefined.
lookup(Srv) ->
    persistent_term:get({?MODULE, Srv}, undefined).

%% @doc The ownership table of a service, or `undefined'.
-spec table(pid()) -> inert_table:table() | undefined.
table(Srv) ->
    persistent_term:get({?MODULE, table, Srv}, undefined).

%% @doc Have the service monitor `Pid' as it monitors the callers that
%% arm fds: when `Pid' dies inertd is told (`{down, Pid}'), which clears
%% its interests and closes its I/O handles.
-spec watch(pid(), pid()) -> ok.
watch(Srv, Pid) ->
    Srv ! {monitor, Pid},
    ok.

%% @doc Return once the service has relayed every entry it had read
%% before this call: a barrier for a process that changes where the
%% relay sends entries (inert_io_window). A service that is gone has
%% nothing left to relay.
-spec sync(pid()) -> ok.
sync(Srv) ->
    try
        gen_server:call(Srv, sync, infinity)
    catch
        exit:_ -> ok
    end.

%% @doc Wait at most `Timeout' ms until the daemon behind `Port' has
%% been replaced and its successor re-armed (or the service is gone).
%% Every answer the old daemon produced has been forwarded when this
%% returns `ok'; `down' (see if_down()) when no daemon runs.
-spec await_restart(pid(), port(), timeout(), if_down()) ->
    ok | down | {error, closed | timeout}.
await_restart(Srv, Port, Timeout, IfDown) ->
    try
        gen_server:call(Srv, {await_restart, Port, IfDown}, Timeout)
    catch
        exit:{timeout, _} -> {error, timeout};
        exit:_ -> {error, closed}
    end.

%% @doc An fdclr while no daemon runs: the service clears `Mode' of the
%% record of `FD' itself (a poll it ends is answered `{error,
%% ecanceled}'), so that the next daemon is not armed with it. `retry'
%% when a daemon runs (again): send the fdclr to it.
-spec clear_down(pid(), non_neg_integer(), prim_inert:mode()) -> ok | retry | {error, closed}.
clear_down(Srv, FD, Mode) ->
    try
        gen_server:call(Srv, {clear_down, FD, Mode}, infinity)
    catch
        exit:_ -> {error, closed}
    end.

%% @doc Cancel a poll that timed out. When this returns, no answer for
%% `Ref' will be forwarded any more; answers forwarded before are already
%% in the caller's mailbox. It returns once the cancel is on the side
%% channel, so the caller's next requests reach inertd after it (a
%% cancelled poll must not make inertd refuse the next fdset of FD as
%% busy); at most CANCEL_WAIT_MS when the channel is full.
-spec cancel(pid(), reference(), non_neg_integer()) -> ok | {error, closed}.
cancel(Srv, Ref, FD) ->
    try
        gen_server:call(Srv, {cancel, Ref, FD}, ?CANCEL_WAIT_MS)
    catch
        %% The cancel waits behind a full side channel; its answers are
        %% dropped already.
        exit:{timeout, _} -> ok;
        exit:_ -> {error, closed}
    end.

%% @doc What the VM side knows: daemon OS pid, restarts, armed record.
-spec status(pid()) -> map() | {error, closed}.
status(Srv) ->
    try
        gen_server:call(Srv, status, infinity)
    catch
        exit:_ -> {error, closed}
    end.

%% @doc The atoms inertd uses in its info reply. Listing them here puts
%% them in the atom table when this module loads, so frames decode with
%% binary_to_term(_, [safe]).
-spec info_keys() -> [atom(), ...].
info_keys() ->
    [version, os_pid, owner, armed, counters, requests, events, errors,
     fds_received, fds_closed, dropped, frames, goroutines, heap_bytes,
     sys_bytes, fds_opened, fds_sent, vm_closed, fdset, poll, none, poller,
     io_uring, epoll, kqueue, closed, io_handles, io_data, io_sent, io_closed, eof].

%% @doc The errno atoms inertd may answer with (the names of x/sys/unix's
%% Linux errno table, lowercased; 117 is euclean in the x/sys of go.mod,
%% efscorrupted in newer ones), in the atom table once this module is
%% loaded, for the same reason as `info_keys/0': an `open' can fail with
%% any errno of socket, setsockopt, bind or listen (`eaddrnotavail', ...).
-spec errnos() -> [atom(), ...].
errnos() ->
    [eperm, enoent, esrch, eintr, eio, enxio, e2big, enoexec, ebadf, echild,
     eagain, enomem, eacces, efault, enotblk, ebusy, eexist, exdev, enodev,
     enotdir, eisdir, einval, enfile, emfile, enotty, etxtbsy, efbig, enospc,
     espipe, erofs, emlink, epipe, edom, erange, edeadlk, enametoolong,
     enolck, enosys, enotempty, eloop, enomsg, eidrm, echrng, el2nsync,
     el3hlt, el3rst, elnrng, eunatch, enocsi, el2hlt, ebade, ebadr, exfull,
     enoano, ebadrqc, ebadslt, ebfont, enostr, enodata, etime, enosr, enonet,
     enopkg, eremote, enolink, eadv, esrmnt, ecomm, eproto, emultihop,
     edotdot, ebadmsg, eoverflow, enotuniq, ebadfd, eremchg, elibacc, elibbad,
     elibscn, elibmax, elibexec, eilseq, erestart, estrpipe, eusers, enotsock,
     edestaddrreq, emsgsize, eprototype, enoprotoopt, eprotonosupport,
     esocktnosupport, enotsup, epfnosupport, eafnosupport, eaddrinuse,
     eaddrnotavail, enetdown, enetunreach, enetreset, econnaborted,
     econnreset, enobufs, eisconn, enotconn, eshutdown, etoomanyrefs,
     etimedout, econnrefused, ehostdown, ehostunreach, ealready, einprogress,
     estale, euclean, efscorrupted, enotnam, enavail, eisnam, eremoteio, edquot,
     enomedium, emediumtype, ecanceled, enokey, ekeyexpired, ekeyrevoked,
     ekeyrejected, eownerdead, enotrecoverable, erfkill, ehwpoison, eftype].

%%--------------------------------------------------------------------
%% gen_server callbacks
%%--------------------------------------------------------------------

-spec init(pid() | service) -> {ok, #st{}} | {stop, term()}.
init(Owner0) ->
    process_flag(trap_exit, true),
    Owner = case Owner0 of
        service -> self();
        Pid -> Pid
    end,
    Tab = inert_table:new(),
    persistent_term:put({?MODULE, table, self()}, Tab),
    case start_sync(#st{owner = Owner, exe = inert_daemon:path(), tab = Tab,
                        relay = inert_relay:new(Tab)}) of
        {ok, St} ->
            %% The owner of a private service (it may be dead already:
            %% then its 'EXIT' stops the service at once).
            _ = Owner =:= self() orelse link(Owner),
            %% Nothing to re-arm: callers may send at once.
            {ok, published(St)};
        {error, Reason} ->
            _ = persistent_term:erase({?MODULE, table, self()}),
            {stop, Reason}
    end.

-spec handle_call(term(), gen_server:from(), #st{}) ->
    {reply, term(), #st{}} | {noreply, #st{}}.
handle_call({await_restart, Port, IfDown}, From, #st{port = P, phase = Phase} = St) ->
    if
        Phase =:= up, P =/= Port ->
            {reply, ok, St};
        IfDown =:= failing, Phase =:= down ->
            {reply, down, St};
        true ->
            %% The daemon's exit has not been handled yet, or its
            %% successor is not re-armed yet: answer once callers may
            %% send to it (or, as IfDown says, once none runs).
            {noreply, St#st{waiters = [{From, IfDown} | St#st.waiters]}}
    end;
handle_call({clear_down, FD, Mode}, _From, #st{phase = Phase} = St)
  when Phase =:= starting; Phase =:= down ->
    ok = inert_relay:clear_down(FD, Mode, St#st.relay),
    {reply, ok, St};
handle_call({clear_down, _FD, _Mode}, _From, St) ->
    {reply, retry, St};
handle_call({cancel, Ref, FD}, From, #st{feeder = Feeder} = St0) ->
    St = St0#st{relay = inert_relay:cancel(Ref, St0#st.relay)},
    case Feeder of
        undefined ->
            {reply, ok, St};
        _ ->
            %% The feeder answers once the cancel is sent.
            inert_feeder:send(Feeder, inert_req:cancel(Ref, FD), From),
            {noreply, St}
    end;
handle_call(sync, _From, St) ->
    {reply, ok, St};
handle_call(status, _From, St) ->
    Reply = #{
        os_pid => St#st.os_pid,
        daemon => St#st.phase,
        owner => St#st.owner,
        restarts => St#st.restarts_total,
        armed => inert_table:size(St#st.tab),
        monitored => maps:size(St#st.mons),
        handovers => maps:size(St#st.handovers)
    },
    {reply, Reply, St};
handle_call(_Request, _From, St) ->
    {reply, {error, einval}, St}.

-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast({taken, Token}, #st{handovers = Handovers} = St) ->
    %% From inert_handover:taken/1.
    %% The caller has the fd: it is its own from now on.
    erlang:demonitor(Token, [flush]),
    {noreply, St#st{handovers = maps:remove(Token, Handovers)}};
handle_cast(_Msg, St) ->
    {noreply, St}.

-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, term(), #st{}}.
handle_info({Port, _} = Msg, #st{port = Port, phase = starting} = St) ->
    start_step(starting(Msg, St));
handle_info({timeout, T, {start_timeout, _}} = Msg, #st{start_timer = T, phase = starting} = St) ->
    start_step(starting(Msg, St));
handle_info({timeout, T, start}, #st{start_timer = T, phase = down} = St) ->
    attempt(St#st{start_timer = undefined});
handle_info({timeout, _OldTimer, _}, St) ->
    {noreply, St};
handle_info({Port, {data, Frame}}, #st{port = Port} = St0) ->
    St = ack(St0),
    try binary_to_term(Frame, [safe]) of
        Entries when is_list(Entries) ->
            {noreply, lists:foldl(fun entry/2, St, Entries)};
        Other ->
            logger:error("inert: frame from inertd is not a list: ~p", [Other]),
            {noreply, St}
    catch
        error:badarg ->
            logger:error("inert: undecodable frame from inertd (~b bytes)", [byte_size(Frame)]),
            {noreply, St}
    end;
handle_info({Port, {exit_status, Status}}, #st{port = Port} = St) ->
    logger:warning("inert: inertd (os pid ~b) exited with status ~b; restarting",
                   [St#st.os_pid, Status]),
    restart(St);
handle_info({'EXIT', Port, Reason}, #st{port = Port} = St) ->
    logger:warning("inert: inertd port closed (~p); restarting", [Reason]),
    restart(St);
handle_info({rearmed, Feeder}, #st{feeder = Feeder} = St) ->
    %% Every record is re-armed: callers' requests go after the re-arms.
    {noreply, published(St)};
handle_info({rearmed, _OldFeeder}, St) ->
    %% From the feeder of a daemon that died since.
    {noreply, St};
handle_info({'EXIT', Feeder, Reason}, #st{feeder = Feeder} = St) ->
    logger:error("inert: feeder of inertd (os pid ~b) failed: ~p; restarting",
                 [St#st.os_pid, Reason]),
    restart(St#st{feeder = undefined});
handle_info({'$socket', Sock, select, _Handle}, #st{sock = Sock} = St) ->
    {noreply, read_side(St)};
handle_info({'$socket', _OldSock, _SelectOrAbort, _Info}, St) ->
    %% The side channel of a daemon that is gone.
    {noreply, St};
handle_info({'DOWN', Token, process, _Pid, _}, #st{handovers = Handovers} = St)
  when is_map_key(Token, Handovers) ->
    %% A caller died before taking the fd it asked for.
    {_, FDs} = maps:get(Token, Handovers),
    _ = [inert_fdlib:close(FD) || FD <- FDs],
    {noreply, St#st{handovers = maps:remove(Token, Handovers)}};
handle_info({'DOWN', _MRef, process, Pid, _}, #st{mons = Mons} = St) when is_map_key(Pid, Mons) ->
    %% A caller died: inertd clears (and closes) whatever it still holds,
    %% and then its records go (a new holder's request comes after; until
    %% then a new holder takes the fd over from the dead one).
    _ = case St#st.feeder of
        undefined -> inert_table:forget(St#st.tab, Pid);
        Feeder -> inert_feeder:down(Feeder, Pid)
    end,
    %% If it was an I/O handle's process that died unawares (killed),
    %% its senders stop writing to inertd for it.
    ok = inert_io_window:forget(Pid),
    {noreply, St#st{mons = maps:remove(Pid, Mons)}};
handle_info({monitor, Pid}, St) ->
    %% A caller about to arm its first fd through this service.
    {noreply, monitor_caller(Pid, St)};
handle_info({'EXIT', Owner, Reason}, #st{owner = Owner} = St) ->
    %% The controlling process is linked to the service, as in the
    %% original driver: its death stops the service.
    {stop, {shutdown, {owner_exit, Reason}}, St};
handle_info({'EXIT', _Pid, _Reason}, St) ->
    %% A former owner (unlinked since) or an old port.
    {noreply, St};
handle_info({_OldPort, _}, St) ->
    %% Late data or exit status of a daemon already replaced.
    {noreply, St};
handle_info(Msg, St) ->
    logger:notice("inert: unexpected message ~p", [Msg]),
    {noreply, St}.

-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, St) ->
    _ = persistent_term:erase({?MODULE, self()}),
    _ = persistent_term:erase({?MODULE, table, self()}),
    close_daemon(St),
    %% Handed fds whose callers are gone; a live caller may still take its.
    _ = [inert_fdlib:close(FD) || {Pid, FDs} <- maps:values(St#st.handovers),
                               not is_process_alive(Pid), FD <- FDs],
    ok.

%%--------------------------------------------------------------------
%% Entries from inertd
%%--------------------------------------------------------------------

entry({owner, Pid, Ref, NewOwner}, #st{owner = Old} = St) ->
    true = link(NewOwner),
    _ = Old =:= self() orelse Old =:= NewOwner orelse unlink(Old),
    Pid ! {Ref, ok},
    St#st{owner = NewOwner};
entry({hello, _Owner, Version} = Entry, St) ->
    %% A hello after the start's (its own was checked then).
    case Version =:= inert_daemon:version() of
        true -> St;
        false -> unknown_entry(Entry, St)
    end;
entry(Entry, #st{relay = Relay} = St) ->
    case inert_relay:entry(Entry, Relay) of
        unknown -> unknown_entry(Entry, St);
        Relay1 -> St#st{relay = Relay1}
    end.

unknown_entry(Entry, St) ->
    logger:notice("inert: unknown entry from inertd: ~p", [Entry]),
    St.

%%--------------------------------------------------------------------
%% Handovers on the side channel (PROTOCOL.md, "Handing fds to the VM")
%%--------------------------------------------------------------------

%% Read every handover waiting, then wait for the next select message.
read_side(#st{sock = Sock} = St) ->
    case inert_handover:read(Sock) of
        {ok, {fd, _, _, _} = Handover} ->
            read_side(hand_over(Handover, St));
        {ok, {fd, _, _, _, _} = Handover} ->
            read_side(hand_over(Handover, St));
        {ok, {error, Pid, Ref, Reason}} ->
            Pid ! {Ref, {error, Reason}},
            read_side(St);
        {dropped, Why} ->
            logger:error("inert: side channel message from inertd dropped: ~p", [Why]),
            read_side(St);
        select ->
            St;
        eof ->
            %% inertd closed the side channel. Its exit is handled when
            %% it comes.
            St;
        {error, Reason} ->
            %% The daemon is going away; its exit is handled when it comes.
            logger:notice("inert: side channel recvmsg: ~p", [Reason]),
            St
    end.

%% The caller owns the fds of a handover once it acknowledges it
%% (inert_handover:taken/1); if it dies first (or is dead already) they
%% are closed.
hand_over(Handover, #st{handovers = Handovers} = St) ->
    {Pid, Token} = case Handover of
        {fd, P, Ref, FD} -> {P, inert_handover:offer(P, Ref, FD)};
        {fd, P, Ref, FD, Info} -> {P, inert_handover:offer(P, Ref, FD, Info)}
    end,
    St#st{handovers = Handovers#{Token => {Pid, inert_handover:fds(Handover)}}}.

%% Count a frame; tell inertd every ?ACK_EVERY frames.
ack(#st{frames = N, port = Port} = St) when (N + 1) rem ?ACK_EVERY =:= 0 ->
    true = erlang:port_command(Port, inert_req:ack(N + 1)),
    St#st{frames = N + 1};
ack(#st{frames = N} = St) ->
    St#st{frames = N + 1}.

monitor_caller(Pid, #st{mons = Mons} = St) when is_map_key(Pid, Mons) ->
    St;
monitor_caller(Pid, #st{mons = Mons} = St) ->
    St#st{mons = Mons#{Pid => erlang:monitor(process, Pid)}}.

%%--------------------------------------------------------------------
%% The daemon
%%--------------------------------------------------------------------

%% Starting a daemon: open its port; its ready frame says where the side
%% channel is (connect it, say hello as the owner), its hello frame ends
%% the start (PROTOCOL.md, "Start-up"). The first start, in init/1,
%% waits for those frames (start_sync/1); a restart takes them as
%% messages, so that this process serves callers meanwhile.
open_daemon(#st{exe = Exe} = St) ->
    case inert_daemon:open(Exe) of
        {ok, Port} ->
            Timer = erlang:start_timer(?START_TIMEOUT, self(), {start_timeout, Port}),
            {ok, St#st{port = Port, sock = undefined, os_pid = 0, frames = 0, phase = starting,
                       start_timer = Timer}};
        {error, _} = Error ->
            Error
    end.

%% One message of a daemon that is starting.
-spec starting(term(), #st{}) -> {starting | started, #st{}} | {error, term(), #st{}}.
starting({Port, {data, Frame}}, #st{port = Port, sock = undefined, owner = Owner} = St) ->
    case inert_daemon:ready(Frame) of
        {ok, OsPid, Path} ->
            case inert_daemon:connect_side(Path) of
                {ok, Sock} ->
                    St1 = St#st{sock = Sock, os_pid = OsPid, frames = 1,
                                relay = inert_relay:daemon(OsPid, St#st.relay)},
                    case inert_req:send(Sock, inert_req:hello(Owner), none, infinity) of
                        ok -> {starting, St1};
                        {error, Why} -> {error, {inertd, {side_channel, Why}}, St1}
                    end;
                {error, Why} ->
                    {error, {inertd, {side_channel, Why}}, St}
            end;
        {error, Why} ->
            {error, {inertd, Why}, St}
    end;
starting({Port, {data, Frame}}, #st{port = Port, owner = Owner} = St0) ->
    St = St0#st{frames = St0#st.frames + 1},
    case inert_daemon:hello(Frame, Owner) of
        {ok, Logs} -> {started, lists:foldl(fun entry/2, St, Logs)};
        {more, Logs} -> {starting, lists:foldl(fun entry/2, St, Logs)};
        {error, Why} -> {error, {inertd, Why}, St}
    end;
starting({Port, {exit_status, Status}}, #st{port = Port} = St) ->
    {error, {inertd, {exit_status, Status}}, St};
starting({timeout, _, {start_timeout, Port}}, #st{port = Port} = St) ->
    {error, {inertd, start_timeout}, St}.

%% The first start: wait for the daemon's frames here.
start_sync(St0) ->
    case open_daemon(St0) of
        {ok, St} -> start_sync_loop(St);
        {error, _} = Error -> Error
    end.

start_sync_loop(#st{port = Port, start_timer = T} = St) ->
    Step = receive
        {Port, _} = Msg -> starting(Msg, St);
        {timeout, T, _} = Msg -> starting(Msg, St)
    end,
    case Step of
        {starting, St1} -> start_sync_loop(St1);
        {started, St1} -> {ok, started(St1, false)};
        {error, Reason, St1} -> close_daemon(St1), {error, Reason}
    end.

%% A restart's step.
start_step({starting, St}) ->
    {noreply, St};
start_step({started, #st{logged_at = At} = St}) ->
    %% After failures that were reported, say that it works again.
    _ = At =:= undefined orelse
        logger:notice("inert: inertd (os pid ~b) started", [St#st.os_pid]),
    {noreply, started(St#st{unlogged = 0, logged_at = undefined}, true)};
start_step({error, Reason, St}) ->
    failed(Reason, St).

%% The daemon said hello: re-arm it (Rearm: not at the first start).
started(St0, Rearm) ->
    _ = erlang:cancel_timer(St0#st.start_timer),
    St = St0#st{phase = rearming, start_timer = undefined,
                started_at = erlang:monotonic_time(millisecond)},
    read_side(St#st{feeder = inert_feeder:start_link(St#st.sock, St#st.tab, Rearm)}).

%% inertd died: start a new one and re-arm every recorded interest, so
%% callers see a delay and not a lost wake-up. The re-arm is the
%% feeder's: this process goes back to its mailbox and forwards (and
%% acknowledges) the frames the new daemon writes meanwhile. The PollId
%% and the table stay, however often the daemon dies.
restart(#st{started_at = Started, quick = Quick} = St) ->
    close_daemon(St),
    Lived = erlang:monotonic_time(millisecond) - Started,
    Quick0 = max(0, Quick - Lived div ?FORGIVE_MS),
    schedule(St#st{port = undefined, sock = undefined, feeder = undefined,
                   start_timer = undefined, relay = inert_relay:restarted(St#st.relay),
                   quick = Quick0 + 1}).

%% A start that failed: try again later; say so, at most every
%% LOG_EVERY_MS.
failed(Reason, #st{logged_at = At, unlogged = N} = St0) ->
    close_daemon(St0),
    Now = erlang:monotonic_time(millisecond),
    St = case At =:= undefined orelse Now - At >= ?LOG_EVERY_MS of
        true ->
            logger:warning("inert: inertd (~ts) could not be started: ~p (~b more failures "
                           "since the last report); retrying", [St0#st.exe, Reason, N]),
            St0#st{logged_at = Now, unlogged = 0};
        false ->
            St0#st{unlogged = N + 1}
    end,
    schedule(St#st{port = undefined, sock = undefined, feeder = undefined,
                   start_timer = undefined, quick = St#st.quick + 1}).

%% Start the next daemon, at once or after the backoff. Callers waiting
%% for it that asked for it learn that none runs.
schedule(#st{quick = Quick} = St0) ->
    case backoff(Quick) of
        0 ->
            attempt(St0#st{phase = down});
        Delay ->
            St = tell_down(St0#st{phase = down}),
            {noreply, St#st{start_timer = erlang:start_timer(Delay, self(), start)}}
    end.

tell_down(#st{waiters = Waiters} = St) ->
    _ = [gen_server:reply(From, down) || {From, failing} <- Waiters],
    St#st{waiters = [W || {_, wait} = W <- Waiters]}.

backoff(Quick) when Quick =< ?MAX_RESTARTS ->
    0;
backoff(Quick) ->
    min(?BACKOFF_MIN_MS bsl min(Quick - ?MAX_RESTARTS - 1, 16), ?BACKOFF_MAX_MS).

attempt(St0) ->
    St = St0#st{restarts_total = St0#st.restarts_total + 1},
    case open_daemon(St) of
        {ok, St1} -> {noreply, St1};
        {error, Reason} -> failed(Reason, St)
    end.

%% Callers may send to the daemon: they find its side channel and port
%% with lookup/1, and those waiting in await_restart/4 go on.
published(#st{sock = Sock, port = Port, waiters = Waiters} = St) ->
    persistent_term:put({?MODULE, self()}, {Sock, Port}),
    _ = [gen_server:reply(From, ok) || {From, _} <- Waiters],
    St#st{phase = up, waiters = []}.

%% The feeder first (it may be blocked on the side channel), then the
%% port: inertd's stdin reaches EOF, its normal way out.
close_daemon(#st{port = Port, sock = Sock, feeder = Feeder, start_timer = Timer}) ->
    _ = Timer =:= undefined orelse erlang:cancel_timer(Timer),
    _ = Feeder =:= undefined orelse begin unlink(Feeder), exit(Feeder, kill) end,
    inert_daemon:close(Port, Sock).
