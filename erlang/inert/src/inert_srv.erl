%% @doc The process that owns inertd: it spawns the daemon as a port,
%% connects the fd side channel, forwards the daemon's entries to the
%% processes they are for, and restarts the daemon when it dies.
%%
%% Callers do not go through this process to make a request: they send
%% straight to the side channel (see prim_inert) and get their answer from
%% here, because every frame inertd writes arrives at the port owner.
%%
%% This process owns the ownership table: one record per fd armed through
%% this service, {FD, Pid, Mode, Kind, Ref}, written by the callers when
%% they claim an fd (prim_inert) and by this process when an interest is
%% delivered, cleared or fails, or its holder dies. The table is what
%% makes `fdset' answer without a round trip to inertd, and what a
%% restarted daemon is re-armed from. This process monitors every process
%% that arms an fd, so that its interests are cleared when it dies, and
%% remembers cancelled polls so that their late answers are dropped
%% instead of reaching a mailbox. It also reads the side channel, where inertd hands over the
%% fds of dup and open, and closes any fd whose caller dies before it has
%% taken it. The wire protocol is in protocol/PROTOCOL.md.
-module(inert_srv).
-behaviour(gen_server).

-export([start_link/1, start_link/2, lookup/1, table/1, await_restart/2, cancel/3,
         status/1, info_keys/0, errnos/0]).
-export([new_table/0, delivered/5]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-ifdef(TEST).
-export([minus/2, handover_of/1]).
-endif.

-define(PROTOCOL_VERSION, 2).
-define(START_TIMEOUT, 10000).
-define(MAX_RESTARTS, 5).
-define(RESTART_PERIOD_MS, 10000).
%% Acknowledge every ACK_EVERY frames: inertd stops reading requests when
%% 256 frames are unacknowledged (PROTOCOL.md, "Flow control").
-define(ACK_EVERY, 64).
%% Requested send buffer of the side channel (bytes).
-define(SIDE_SNDBUF, 4 * 1024 * 1024).


-record(st, {
    owner :: pid(),
    exe :: file:filename(),
    port :: port() | undefined,
    sock :: socket:socket() | undefined,
    os_pid = 0 :: non_neg_integer(),
    %% frames received from this inertd, ready and hello included
    frames = 0 :: non_neg_integer(),
    %% the ownership table: {FD, Pid, Mode, Kind, Ref} (see prim_inert)
    tab :: ets:tid(),
    %% callers we monitor -> monitor reference
    mons = #{} :: #{pid() => reference()},
    %% polls cancelled after a timeout whose answers must be dropped
    cancelled = #{} :: #{reference() => true},
    %% callers waiting for the daemon to be restarted
    waiters = [] :: [gen_server:from()],
    %% fds handed to callers that have not taken them yet, by the
    %% monitor reference that is also the token of the handover
    handovers = #{} :: #{reference() => {pid(), non_neg_integer()}},
    restarts = [] :: [integer()],
    restarts_total = 0 :: non_neg_integer()
}).

%%--------------------------------------------------------------------
%% API
%%--------------------------------------------------------------------

%% @doc Start a private service controlled by `Owner' (linked to it).
-spec start_link(pid()) -> {ok, pid()} | {error, term()}.
start_link(Owner) when is_pid(Owner) ->
    gen_server:start_link(?MODULE, Owner, []).

%% @doc Start a registered service that is its own controlling process.
-spec start_link({local, atom()}, service) -> {ok, pid()} | {error, term()}.
start_link(Name, service) ->
    gen_server:start_link(Name, ?MODULE, service, []).

%% @doc The side channel and port of a running service, or `undefined'.
-spec lookup(pid()) -> {socket:socket(), port()} | undefined.
lookup(Srv) ->
    persistent_term:get({?MODULE, Srv}, undefined).

%% @doc The ownership table of a service, or `undefined'.
-spec table(pid()) -> ets:tid() | undefined.
table(Srv) ->
    persistent_term:get({?MODULE, table, Srv}, undefined).

%% @doc Wait until the daemon behind `Port' has been replaced (or the
%% service is gone). Every answer the old daemon produced has been
%% forwarded when this returns `ok'.
-spec await_restart(pid(), port()) -> ok | {error, closed}.
await_restart(Srv, Port) ->
    try
        gen_server:call(Srv, {await_restart, Port}, infinity)
    catch
        exit:_ -> {error, closed}
    end.

%% @doc Cancel a poll that timed out. When this returns, no answer for
%% `Ref' will be forwarded any more; answers forwarded before are already
%% in the caller's mailbox.
-spec cancel(pid(), reference(), non_neg_integer()) -> ok | {error, closed}.
cancel(Srv, Ref, FD) ->
    try
        gen_server:call(Srv, {cancel, Ref, FD}, infinity)
    catch
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
     io_uring, epoll, kqueue, closed].

%% @doc The errno atoms inertd may answer with (the names of x/sys/unix's
%% Linux errno table, lowercased), in the atom table once this module is
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
     estale, efscorrupted, enotnam, enavail, eisnam, eremoteio, edquot,
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
    Tab = new_table(),
    persistent_term:put({?MODULE, table, self()}, Tab),
    case spawn_inertd(#st{owner = Owner, exe = inertd_path(), tab = Tab}) of
        {ok, St} ->
            {ok, St};
        {error, Reason} ->
            _ = persistent_term:erase({?MODULE, table, self()}),
            {stop, Reason}
    end.

-spec handle_call(term(), gen_server:from(), #st{}) ->
    {reply, term(), #st{}} | {noreply, #st{}}.
handle_call({await_restart, Port}, From, #st{port = Port} = St) ->
    %% The daemon's exit has not been handled yet: answer after restart.
    {noreply, St#st{waiters = [From | St#st.waiters]}};
handle_call({await_restart, _OldPort}, _From, St) ->
    {reply, ok, St};
handle_call({cancel, Ref, FD}, _From, St) ->
    ok = send(St, {cancel, Ref, FD}),
    {reply, ok, St#st{cancelled = (St#st.cancelled)#{Ref => true}}};
handle_call(status, _From, St) ->
    Reply = #{
        os_pid => St#st.os_pid,
        owner => St#st.owner,
        restarts => St#st.restarts_total,
        armed => ets:info(St#st.tab, size),
        monitored => maps:size(St#st.mons),
        handovers => maps:size(St#st.handovers)
    },
    {reply, Reply, St};
handle_call(_Request, _From, St) ->
    {reply, {error, einval}, St}.

-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast({taken, Token}, #st{handovers = Handovers} = St) ->
    %% The caller has the fd: it is its own from now on.
    erlang:demonitor(Token, [flush]),
    {noreply, St#st{handovers = maps:remove(Token, Handovers)}};
handle_cast(_Msg, St) ->
    {noreply, St}.

-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, term(), #st{}}.
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
handle_info({'$socket', Sock, select, _Handle}, #st{sock = Sock} = St) ->
    {noreply, read_side(St)};
handle_info({'$socket', _OldSock, _SelectOrAbort, _Info}, St) ->
    %% The side channel of a daemon that is gone.
    {noreply, St};
handle_info({'DOWN', Token, process, _Pid, _}, #st{handovers = Handovers} = St)
  when is_map_key(Token, Handovers) ->
    %% A caller died before taking the fd it asked for.
    {_, FD} = maps:get(Token, Handovers),
    _ = inert_fd:close(FD),
    {noreply, St#st{handovers = maps:remove(Token, Handovers)}};
handle_info({'DOWN', _MRef, process, Pid, _}, #st{mons = Mons} = St) when is_map_key(Pid, Mons) ->
    %% A caller died: inertd clears (and closes) whatever it still holds,
    %% and then its records go (a new holder's request comes after).
    _ = send(St, {down, Pid}),
    _ = ets:match_delete(St#st.tab, {'_', Pid, '_', '_', '_'}),
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
    _ = [inert_fd:close(FD) || {Pid, FD} <- maps:values(St#st.handovers),
                               not is_process_alive(Pid)],
    ok.

%%--------------------------------------------------------------------
%% Entries from inertd
%%--------------------------------------------------------------------

entry({inert_read, Pid, FD, Ref}, #st{tab = Tab} = St) ->
    delivered(Tab, FD, Pid, read, Ref),
    Pid ! {inert_read, self(), FD},
    St;
entry({inert_write, Pid, FD, Ref}, #st{tab = Tab} = St) ->
    delivered(Tab, FD, Pid, write, Ref),
    Pid ! {inert_write, self(), FD},
    St;
entry({polled, Pid, Ref, _FD, Dir}, #st{cancelled = Cancelled} = St) ->
    %% The poll's record is the caller's to drop: it does when its poll
    %% returns, however it returns (prim_inert).
    _ = is_map_key(Ref, Cancelled) orelse (Pid ! {Ref, {ok, Dir}}),
    St;
entry({failed, Pid, Ref, FD, Why}, #st{tab = Tab} = St) ->
    %% An fdset inertd could not arm (emfile, ...): report it ready,
    %% as poll(2) reports an fd it cannot wait on, and keep the reason for
    %% the caller's next call on FD. Unless the caller has re-armed or
    %% cleared FD since: then this answer is out of date.
    Reason = case Why of
        {ebusy, _} -> ebusy;
        _ -> Why
    end,
    case ets:lookup(Tab, FD) of
        [{_, Pid, Mode, fdset, Ref} = Rec] ->
            Failed = {FD, Pid, Mode, {error, Reason}, Ref},
            case ets:select_replace(Tab, [{Rec, [], [{const, Failed}]}]) of
                1 -> lists:foreach(fun(Tag) -> Pid ! {Tag, self(), FD} end, tags(Mode));
                0 -> ok
            end;
        _ ->
            ok
    end,
    St;
entry({cleared, Pid, Ref, FD, Left, IRef}, #st{tab = Tab} = St) ->
    case ets:lookup(Tab, FD) of
        [{_, _, _, Kind, IRef} = Rec] when is_atom(Kind) ->
            narrow(Tab, Rec, Left);
        _ ->
            true
    end,
    Pid ! {Ref, ok},
    St;
entry({closed, _Pid, Ref, FD}, #st{tab = Tab} = St) ->
    %% inertd dropped the fdset Ref because the VM closed FD without
    %% fdclr (or the number names another file now): the record goes if
    %% it is still that interest's; nobody is sent anything.
    _ = ets:select_delete(Tab, [{{FD, '_', '_', fdset, Ref}, [], [true]}]),
    St;
entry({cancelled, Ref}, St) ->
    St#st{cancelled = maps:remove(Ref, St#st.cancelled)};
entry({owner, Pid, Ref, NewOwner}, #st{owner = Old} = St) ->
    true = link(NewOwner),
    _ = Old =:= self() orelse Old =:= NewOwner orelse unlink(Old),
    Pid ! {Ref, ok},
    St#st{owner = NewOwner};
entry({error, Pid, Ref, Reason}, St) when is_integer(Ref) ->
    %% An fdset whose fd inertd could not even read (prim_inert checks
    %% it): nobody waits for this answer.
    logger:warning("inert: inertd refused an fdset of ~p: ~p", [Pid, Reason]),
    St;
entry({error, Pid, Ref, Reason}, #st{cancelled = Cancelled} = St) ->
    _ = is_map_key(Ref, Cancelled) orelse (Pid ! {Ref, {error, Reason}}),
    St;
entry({reply, Pid, Ref, Term}, St) ->
    Pid ! {Ref, Term},
    St;
entry({hello, _Owner, ?PROTOCOL_VERSION}, St) ->
    St;
entry(Entry, St) ->
    logger:notice("inert: unknown entry from inertd: ~p", [Entry]),
    St.

%%--------------------------------------------------------------------
%% Handovers on the side channel (PROTOCOL.md, "Handing fds to the VM")
%%--------------------------------------------------------------------

%% Read every handover waiting, then wait for the next select message.
read_side(#st{sock = Sock} = St) ->
    case socket:recvmsg(Sock, 0, 0, [], nowait) of
        {ok, Msg} ->
            case iolist_size(maps:get(iov, Msg, [])) + length(maps:get(ctrl, Msg, [])) of
                0 ->
                    %% End of file: inertd closed the side channel. Its
                    %% exit is handled when it comes.
                    St;
                _ ->
                    read_side(side_msg(Msg, St))
            end;
        {select, _} ->
            St;
        {error, Reason} ->
            %% The daemon is going away; its exit is handled when it comes.
            logger:notice("inert: side channel recvmsg: ~p", [Reason]),
            St
    end.

%% One message from inertd: {fd, Pid, Ref} with exactly one fd.
side_msg(Msg, St) ->
    case handover_of(Msg) of
        {ok, Pid, Ref, FD} ->
            hand_over(Pid, Ref, FD, St);
        {error, Pid, Ref, Reason} ->
            Pid ! {Ref, {error, Reason}},
            St;
        {error, Why} ->
            logger:error("inert: side channel message from inertd dropped: ~p", [Why]),
            St
    end.

%% What a side channel message hands over. Every fd of the message but
%% the one returned is closed: a message that is not {fd, Pid, Ref} with
%% exactly one fd keeps none.
-spec handover_of(socket:msg_recv()) ->
    {ok, pid(), term(), non_neg_integer()} | {error, pid(), term(), atom()} | {error, term()}.
handover_of(#{iov := IOV, flags := Flags} = Msg) ->
    Taken = inert_fd:take(Msg, 1),
    try binary_to_term(iolist_to_binary(IOV), [safe]) of
        {fd, Pid, Ref} when is_pid(Pid) ->
            case Taken of
                {ok, _, [FD]} ->
                    {ok, Pid, Ref, FD};
                {ok, _, FDs} ->
                    _ = [inert_fd:close(FD) || FD <- FDs],
                    {error, Pid, Ref, einval};
                {error, _} ->
                    case lists:member(ctrunc, Flags) of
                        %% Control data cut short: the VM is at its fd limit.
                        true -> {error, Pid, Ref, emfile};
                        false -> {error, Pid, Ref, einval}
                    end
            end;
        Other ->
            _ = closed_all(Taken),
            {error, {unexpected, Other}}
    catch
        error:badarg ->
            _ = closed_all(Taken),
            {error, undecodable}
    end.

closed_all({ok, _, FDs}) -> [inert_fd:close(FD) || FD <- FDs];
closed_all({error, _}) -> [].

%% The caller owns FD once it acknowledges the handover with
%% {taken, Token}; if it dies first (or is dead already) FD is closed.
hand_over(Pid, Ref, FD, #st{handovers = Handovers} = St) ->
    Token = erlang:monitor(process, Pid),
    Pid ! {Ref, {fd, self(), Token, FD}},
    St#st{handovers = Handovers#{Token => {Pid, FD}}}.

%% Count a frame; tell inertd every ?ACK_EVERY frames.
ack(#st{frames = N, port = Port} = St) when (N + 1) rem ?ACK_EVERY =:= 0 ->
    true = erlang:port_command(Port, term_to_binary({ack, N + 1})),
    St#st{frames = N + 1};
ack(#st{frames = N} = St) ->
    St#st{frames = N + 1}.

%% @private The ownership table: written by every caller (claims) and by
%% the service. Exported for bench/bench_srv_cost.erl. Writes outnumber
%% reads (a claim inserts, an event deletes), so no read_concurrency: it
%% made the update of each event 0.78 instead of 0.59 us (BENCHMARKS.md).
-spec new_table() -> ets:tid().
new_table() ->
    ets:new(?MODULE, [set, public, {write_concurrency, true}]).

%% @private An event of the interest Ref on FD: its record loses Dir, and
%% goes when nothing is left, unless the caller has re-armed FD since
%% (another Ref). Exported for bench/bench_srv_cost.erl.
-spec delivered(ets:tid(), non_neg_integer(), pid(), read | write, integer()) -> boolean().
delivered(Tab, FD, Pid, Dir, Ref) ->
    case ets:lookup(Tab, FD) of
        [{_, Pid, Mode, fdset, Ref} = Rec] -> narrow(Tab, Rec, minus(Mode, Dir));
        _ -> true
    end.

%% Leave Left of the record Rec, if it is still there as it is.
narrow(Tab, Rec, none) ->
    ets:delete_object(Tab, Rec);
narrow(Tab, Rec, Left) ->
    1 =:= ets:select_replace(Tab, [{Rec, [], [{const, setelement(3, Rec, Left)}]}]).

tags(read) -> [inert_read];
tags(write) -> [inert_write];
tags(read_write) -> [inert_read, inert_write].

minus(read_write, read) -> write;
minus(read_write, write) -> read;
minus(Mode, Mode) -> none;
minus(Mode, _) -> Mode.

monitor_caller(Pid, #st{mons = Mons} = St) when is_map_key(Pid, Mons) ->
    St;
monitor_caller(Pid, #st{mons = Mons} = St) ->
    St#st{mons = Mons#{Pid => erlang:monitor(process, Pid)}}.

%%--------------------------------------------------------------------
%% The daemon
%%--------------------------------------------------------------------

%% Spawn inertd, connect the side channel, say hello as the owner.
spawn_inertd(#st{exe = Exe, owner = Owner} = St) ->
    try
        Port = open_port({spawn_executable, Exe},
                         [{args, ["-vm-pid", os:getpid(), "-poller", poller()]}, {packet, 4},
                          binary, exit_status, use_stdio]),
        {OsPid, Path} = await_ready(Port),
        {ok, Sock} = socket:open(local, seqpacket, default),
        %% fdsets do not wait for inertd, so many callers can have many
        %% requests in flight: a full send buffer makes them queue in
        %% the socket NIF (EAGAIN, select, retry), which cut the rate of
        %% 10 concurrent callers by more than half (BENCHMARKS.md). The
        %% kernel caps this at net.core.wmem_max; best effort.
        _ = socket:setopt(Sock, {socket, sndbuf}, ?SIDE_SNDBUF),
        case socket:connect(Sock, #{family => local, path => Path}) of
            ok -> ok;
            {error, Why} -> _ = socket:close(Sock), throw({side_channel, Why})
        end,
        St1 = St#st{port = Port, sock = Sock, os_pid = OsPid, frames = 2},
        ok = send(St1, {hello, Owner}),
        ok = await_hello(Port, Owner),
        persistent_term:put({?MODULE, self()}, {Sock, Port}),
        {ok, read_side(St1)}
    catch
        error:Error -> {error, {inertd, Error}};
        throw:Error -> {error, {inertd, Error}}
    end.

await_ready(Port) ->
    receive
        {Port, {data, Frame}} ->
            case binary_to_term(Frame, [safe]) of
                [{ready, ?PROTOCOL_VERSION, OsPid, Path}] -> {OsPid, Path};
                Other -> port_close_quiet(Port), throw({bad_ready, Other})
            end;
        {Port, {exit_status, Status}} ->
            throw({exit_status, Status})
    after ?START_TIMEOUT ->
        port_close_quiet(Port),
        throw(ready_timeout)
    end.

await_hello(Port, Owner) ->
    receive
        {Port, {data, Frame}} ->
            case binary_to_term(Frame, [safe]) of
                [{hello, Owner, ?PROTOCOL_VERSION}] -> ok;
                Other -> port_close_quiet(Port), throw({bad_hello, Other})
            end;
        {Port, {exit_status, Status}} ->
            throw({exit_status, Status})
    after ?START_TIMEOUT ->
        port_close_quiet(Port),
        throw(hello_timeout)
    end.

%% inertd died: start a new one and re-arm every recorded interest, so
%% callers see a delay and not a lost wake-up.
restart(#st{restarts = Restarts} = St0) ->
    Now = erlang:monotonic_time(millisecond),
    Recent = [T || T <- Restarts, Now - T < ?RESTART_PERIOD_MS],
    close_daemon(St0),
    St = St0#st{port = undefined, sock = undefined, cancelled = #{},
                restarts = [Now | Recent],
                restarts_total = St0#st.restarts_total + 1},
    case length(Recent) >= ?MAX_RESTARTS of
        true ->
            {stop, {inertd, too_many_restarts}, St};
        false ->
            case spawn_inertd(St) of
                {ok, St1} ->
                    St2 = rearm(St1),
                    _ = [gen_server:reply(From, ok) || From <- St2#st.waiters],
                    {noreply, St2#st{waiters = []}};
                {error, Reason} ->
                    {stop, Reason, St}
            end
    end.

%% Every fdset recorded in the table is armed again. A poll is sent again
%% by its caller, which is waiting for the restart.
rearm(#st{tab = Tab} = St) ->
    ets:foldl(fun(Rec, ok) -> rearm(Rec, St) end, ok, Tab),
    St.

rearm({FD, Pid, Mode, fdset, Gen} = Rec, #st{sock = Sock, tab = Tab}) ->
    case prim_inert:send_request(Sock, {fdset, Pid, Gen, FD, Mode}, FD) of
        ok ->
            ok;
        {error, Reason} ->
            %% The VM closed the fd while the daemon was down.
            logger:notice("inert: could not re-arm fd ~b of ~p: ~p", [FD, Pid, Reason]),
            _ = ets:delete_object(Tab, Rec),
            ok
    end;
rearm(_PollOrReason, _St) ->
    ok.

send(#st{sock = undefined}, _Req) ->
    ok;
send(#st{sock = Sock}, Req) ->
    case socket:send(Sock, term_to_binary(Req)) of
        ok -> ok;
        {error, Reason} ->
            %% The daemon is going away; its exit is handled when it comes.
            logger:notice("inert: side channel send ~p: ~p", [element(1, Req), Reason]),
            ok
    end.

%% The port first: inertd's stdin reaches EOF, its normal way out.
close_daemon(#st{port = Port, sock = Sock}) ->
    _ = Port =:= undefined orelse port_close_quiet(Port),
    _ = Sock =:= undefined orelse socket:close(Sock),
    ok.

port_close_quiet(Port) ->
    try
        erlang:port_close(Port)
    catch
        error:badarg -> true
    end.

%% The -poller of inertd: the application's `poller' (auto, io_uring,
%% epoll); inertd refuses a value it does not know, and the start fails.
poller() ->
    atom_to_list(application:get_env(inert, poller, auto)).

%% priv/inertd of the application; $INERTD overrides it.
inertd_path() ->
    case os:getenv("INERTD") of
        false ->
            Priv = case code:priv_dir(inert) of
                {error, bad_name} ->
                    filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
                Dir ->
                    Dir
            end,
            filename:join(Priv, "inertd");
        Path ->
            Path
    end.
