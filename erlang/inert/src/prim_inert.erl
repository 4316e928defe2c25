%% @doc The inert API on an explicit service handle (the PollId).
%%
%% `start/0' starts a private service controlled (and linked) by the
%% caller; `inert' uses the shared one registered as `inert'. A handle is
%% the service pid or a registered name.
%%
%% A request goes from the calling process straight to inertd over the
%% side channel, with the fd attached as SCM_RIGHTS, and the answer comes
%% back through the service process. While waiting, the caller monitors
%% the daemon's port: if inertd dies the request is sent again to its
%% successor, so no caller hangs on a dead daemon.
%%
%% `fdset' does not wait for inertd. Who holds which fd is decided in the
%% VM, in the service's ownership table (see `inert_srv'): the caller
%% claims the fd there atomically (`ebusy' if a live process holds it),
%% sends the request and returns. An interest inertd then cannot arm
%% (inertd out of fds, ...) is reported ready at once, and the caller's
%% next `fdset' or `poll' of that fd returns the reason (`{error,
%% emfile}', ...). An fd that cannot be waited on (a regular file) is
%% not a failure: inertd reports it ready, as poll(2) does.
-module(prim_inert).

-export([start/0, stop/1]).
-export([fdset/2, fdset/3, fdclr/2, fdclr/3, poll/2, poll/3, poll/4,
         controlling_process/2, info/1]).
-export([dup/2, open/2]).
-export([send_request/3]).

-ifdef(TEST).
-export([options/2, valid_fd/1, claim/2]).
-endif.

-export_type([handle/0, mode/0, errno/0]).

-type handle() :: pid() | atom().
-type mode() :: read | write | read_write.
-type errno() :: {error, closed | ebadf | einval | ebusy | atom()}.
-type options() :: mode() | [{mode, mode()} | {timeout, timeout()}].

-define(MAX_FD, 16#7fffffff).
%% The longest a `receive ... after' (and a socket or gen_server call)
%% waits at once: longer timeouts are waited in chunks of it.
-define(MAX_WAIT, 16#ffffffff).
%% How long an fdset waits for room on a full side channel (inertd not
%% reading requests: stopped, or held back by flow control) before it
%% gives up with {error, eagain}.
-define(FDSET_SEND_TIMEOUT, 2000).

%% @doc Start a private inert service, linked to and controlled by the
%% caller. Returns its PollId, the second element of every message, or
%% `{error, Reason}' if inertd cannot be started (the caller is not
%% linked to anything then, and gets no exit signal).
-spec start() -> pid() | {error, term()}.
start() ->
    case inert_srv:start(self()) of
        {ok, Pid} -> Pid;
        {error, _} = Error -> Error
    end.

%% @doc Stop a service: inertd exits and closes every fd it held. `ok'
%% also when the service is gone already; `{error, einval}' when the
%% handle names a process that is not an inert service (it is left alone).
-spec stop(handle()) -> ok | {error, einval}.
stop(Handle) ->
    case whereis_srv(Handle) of
        undefined ->
            ok;
        Srv ->
            case inert_srv:table(Srv) of
                undefined ->
                    %% Not an inert service, or one that is stopping.
                    case is_process_alive(Srv) of
                        true -> {error, einval};
                        false -> ok
                    end;
                _ ->
                    unlink(Srv),
                    try
                        gen_server:stop(Srv)
                    catch
                        exit:_ -> ok
                    end
            end
    end.

%% @doc Monitor `FD' for reading.
-spec fdset(handle(), term()) -> ok | errno().
fdset(Handle, FD) ->
    fdset(Handle, FD, read).

%% @doc Arm a one-shot interest: one `{inert_read, PollId, FD}' and/or
%% `{inert_write, PollId, FD}' message per requested direction. A second
%% call by the same process replaces the mode; an fd armed by another
%% process gives `{error, ebusy}'.
-spec fdset(handle(), term(), options()) -> ok | errno().
fdset(Handle, FD, Options) ->
    case {valid_fd(FD), options(Options, read)} of
        {false, _} -> {error, ebadf};
        {_, error} -> {error, einval};
        {true, {Mode, _Timeout}} ->
            case service(Handle) of
                undefined -> {error, closed};
                {Srv, Tab} -> fdset_claim(Srv, Tab, FD, Mode)
            end
    end.

%% @doc Clear both directions of `FD'.
-spec fdclr(handle(), term()) -> ok | errno().
fdclr(Handle, FD) ->
    fdclr(Handle, FD, read_write).

%% @doc Clear directions of `FD', whoever armed them.
-spec fdclr(handle(), term(), options()) -> ok | errno().
fdclr(Handle, FD, Options) ->
    case {valid_fd(FD), options(Options, read_write)} of
        {false, _} -> {error, ebadf};
        {_, error} -> {error, einval};
        {true, {Mode, _}} ->
            case service(Handle) of
                undefined ->
                    {error, closed};
                {Srv, Tab} ->
                    %% A reason kept for this fd is forgotten too.
                    _ = catch ets:select_delete(Tab, [{{FD, '_', '_', {error, '_'}, '_'}, [], [true]}]),
                    Build = fun(Ref) -> {fdclr, self(), Ref, FD, Mode} end,
                    Down = fun() -> clear_down(Handle, Srv, FD, Options) end,
                    case request(Srv, FD, Build, infinity, Down) of
                        {error, ebadf} ->
                            %% FD is closed in the VM, so sendmsg could
                            %% not pass it: inertd carries out an fdclr
                            %% without its fd, and clears whatever
                            %% interest the number still has.
                            request(Srv, none, Build, infinity, Down);
                        Reply ->
                            Reply
                    end
            end
    end.

%% @doc Wait until `FD' is readable.
-spec poll(handle(), term()) -> {ok, read} | {error, timeout} | errno().
poll(Handle, FD) ->
    poll(Handle, FD, read, infinity).

%% @doc Wait until `FD' is ready; `Options' is a mode or a proplist with
%% `mode' and `timeout'.
-spec poll(handle(), term(), options()) -> {ok, read | write} | {error, timeout} | errno().
poll(Handle, FD, Options) ->
    case options(Options, read) of
        error -> poll(Handle, FD, bad, infinity);
        {Mode, Timeout} -> poll(Handle, FD, Mode, Timeout)
    end.

%% @doc Wait until `FD' is ready in `Mode', at most `Timeout' ms. A poll
%% that returns, however it returns, leaves nothing armed and no message
%% behind.
-spec poll(handle(), term(), term(), term()) ->
    {ok, read | write} | {error, timeout} | errno().
poll(Handle, FD, Options, Timeout) when is_list(Options) ->
    case options(Options, read) of
        {Mode, _} -> poll(Handle, FD, Mode, Timeout);
        error -> poll(Handle, FD, bad, Timeout)
    end;
poll(Handle, FD, Mode, Timeout) ->
    case {valid_fd(FD), valid_mode(Mode), valid_timeout(Timeout)} of
        {false, _, _} -> {error, ebadf};
        {true, true, true} ->
            case service(Handle) of
                undefined -> {error, closed};
                {Srv, Tab} -> poll_claim(Srv, Tab, FD, Mode, deadline(Timeout))
            end;
        _ -> {error, einval}
    end.

%% @doc Make `Pid' the controlling process of the service. Only the
%% current controlling process may do it; the new one is linked to the
%% service. Interests keep reporting to the processes that armed them.
-spec controlling_process(handle(), term()) -> ok | {error, not_owner | einval | closed}.
controlling_process(Handle, Pid) when is_pid(Pid) ->
    request(Handle, none, fun(Ref) -> {controlling_process, self(), Ref, Pid} end, infinity,
            fun no_daemon/0);
controlling_process(_Handle, _Pid) ->
    {error, einval}.

%% @doc The daemon's view (armed fds with mode, owner and kind; counters)
%% merged with the service's (restarts, daemon OS pid).
-spec info(handle()) -> map() | {error, closed}.
info(Handle) ->
    case request(Handle, none, fun(Ref) -> {info, self(), Ref} end, infinity,
                 fun() -> down end) of
        Daemon when is_map(Daemon) ->
            with_service(Handle, maps:with(inert_srv:info_keys(), Daemon));
        down ->
            %% No inertd runs (it cannot be started): what the VM knows.
            with_service(Handle, #{armed => vm_armed(Handle)});
        Error ->
            Error
    end.

with_service(Handle, Info) ->
    case inert_srv:status(whereis_srv(Handle)) of
        Service when is_map(Service) -> Info#{service => Service};
        Error -> Error
    end.

%% The interests of the service's table, as info's `armed'.
vm_armed(Handle) ->
    case service(Handle) of
        undefined ->
            [];
        {_Srv, Tab} ->
            lists:sort([{FD, Mode, Pid, Kind} || {FD, Pid, Mode, Kind, _} <- ets:tab2list(Tab),
                                                 is_atom(Kind)])
    end.

%% @doc Have inertd duplicate `FD' through an SCM_RIGHTS round trip: the
%% new fd refers to the same open file. The caller owns it (see
%% `inert_fd:close/1').
-spec dup(handle(), term()) -> {ok, non_neg_integer()} | errno().
dup(Handle, FD) ->
    case valid_fd(FD) of
        false -> {error, ebadf};
        true -> handover(request(Handle, FD, fun(Ref) -> {dup, self(), Ref, FD} end, infinity,
                                 fun no_daemon/0))
    end.

%% @doc Have inertd open the socket `Spec' describes (see
%% `inert_fd:open/2') and hand it over; the caller owns it.
-spec open(handle(), term()) -> {ok, non_neg_integer()} | errno().
open(Handle, Spec) ->
    case inert_fd:spec(Spec) of
        {ok, Full} -> handover(request(Handle, none, fun(Ref) -> {open, self(), Ref, Full} end,
                                       infinity, fun no_daemon/0));
        error -> {error, einval}
    end.

%% @private Send one request on a side channel, with `FD' as SCM_RIGHTS
%% unless it is `none'.
-spec send_request(socket:socket(), tuple(), non_neg_integer() | none) -> ok | {error, term()}.
send_request(Sock, Req, FD) ->
    send_by(Sock, Req, FD, infinity).

%% Send one request, waiting for room on the side channel until Deadline
%% (`{error, timeout}' then). A seqpacket message goes whole or not at
%% all, so a send that timed out sent nothing.
send_by(Sock, Req, FD, Deadline) ->
    send_msg(Sock, request_msg(Req, FD), Deadline).

send_msg(Sock, Msg, Deadline) ->
    case socket:sendmsg(Sock, Msg, chunk(Deadline)) of
        ok ->
            ok;
        {error, timeout} ->
            case timeout(Deadline) of
                0 -> {error, timeout};
                _ -> send_msg(Sock, Msg, Deadline)
            end;
        {error, {Reason, _Rest}} ->
            {error, Reason};
        {error, _} = Error ->
            Error;
        {ok, _Rest} ->
            %% Not on a seqpacket socket: a message is sent whole.
            {error, eio}
    end.

request_msg(Req, none) ->
    #{iov => [term_to_binary(Req)]};
request_msg(Req, FD) ->
    #{iov => [term_to_binary(Req)],
      ctrl => [#{level => socket, type => rights, data => <<FD:32/native>>}]}.

%% The send errors that mean the daemon is gone (its side channel closed):
%% the request goes again to its successor.
gone(closed) -> true;
gone(epipe) -> true;
gone(econnreset) -> true;
gone(enotconn) -> true;
gone(_) -> false.

%%--------------------------------------------------------------------
%% Internal functions
%%--------------------------------------------------------------------

%% An fd handed over by the service (PROTOCOL.md, "Handing fds to the
%% VM"): acknowledge it, so that the service no longer closes it if this
%% process dies.
handover({fd, Srv, Token, FD}) ->
    gen_server:cast(Srv, {taken, Token}),
    {ok, FD};
handover(Reply) ->
    Reply.

%%--------------------------------------------------------------------
%% fdset and poll: ownership in the service's table
%%--------------------------------------------------------------------

%% An ownership record: {FD, Pid, Mode, Kind, Ref}. Kind is fdset (Ref an
%% integer, new for every fdset, that inertd echoes in the events of the
%% interest), poll (Ref the reference the caller waits on), or
%% {error, Reason}: an fdset inertd could not arm, whose reason the next
%% fdset or poll of FD by Pid returns.

%% Claim FD for the caller and send the fdset; do not wait.
fdset_claim(Srv, Tab, FD, Mode) ->
    monitor_me(Srv),
    Rec = {FD, self(), Mode, fdset, erlang:unique_integer([positive])},
    case claim(Tab, Rec) of
        {ok, Old, Dead} ->
            arm_request(Srv, Tab, Rec, Old, Dead, inert_srv:lookup(Srv));
        {error, _} = Error ->
            Error
    end.

%% Claim FD for a poll, send it and wait for its answer; the claim goes
%% when the poll returns, however it returns.
poll_claim(Srv, Tab, FD, Mode, Deadline) ->
    monitor_me(Srv),
    case inert_srv:lookup(Srv) of
        undefined ->
            {error, closed};
        {Sock, Port} ->
            Ref = erlang:monitor(port, Port),
            Rec = {FD, self(), Mode, poll, Ref},
            case claim(Tab, Rec) of
                {ok, Old, Dead} ->
                    Req = list_to_tuple([poll, self(), Ref, FD, Mode | Dead]),
                    case send_by(Sock, Req, FD, Deadline) of
                        ok ->
                            Again = fun() -> poll_claim(Srv, Tab, FD, Mode, Deadline) end,
                            Reply = wait(Srv, FD, Deadline, Port, Ref, Again, wait),
                            _ = catch ets:delete_object(Tab, Rec),
                            poll_reply(Reply);
                        {error, Reason} ->
                            %% Not sent: ebadf (sendmsg could not pass the
                            %% fd: it is not open in the VM), timeout (the
                            %% side channel stayed full until the deadline),
                            %% or the daemon is gone.
                            erlang:demonitor(Ref, [flush]),
                            unclaim(Tab, Rec, Old),
                            case gone(Reason) of
                                true ->
                                    after_restart(Srv, Port, Deadline, wait,
                                                  fun() -> poll_claim(Srv, Tab, FD, Mode, Deadline) end);
                                false ->
                                    {error, Reason}
                            end
                    end;
                {error, _} = Error ->
                    erlang:demonitor(Ref, [flush]),
                    Error
            end
    end.

poll_reply({error, {ebusy, _}}) -> {error, ebusy};
poll_reply(Reply) -> Reply.

%% Make Rec, {FD, self(), ...}, the record of FD: at once if FD is free;
%% over the caller's own record, a kept reason, or the record of a dead
%% process (inertd is told to drop that one's interest: Dead); `ebusy'
%% if a live process holds FD. A kept reason of the caller's own is
%% returned instead, once. Every change is a compare-and-swap on the
%% whole record, so two callers never both win.
claim(Tab, Rec) ->
    try
        claim1(Tab, Rec)
    catch
        error:badarg -> {error, closed}   % the service is gone
    end.

claim1(Tab, {FD, Self, _, _, _} = Rec) ->
    case ets:insert_new(Tab, Rec) of
        true ->
            {ok, none, []};
        false ->
            case ets:lookup(Tab, FD) of
                [] ->
                    claim1(Tab, Rec);
                [{_, Self, _, {error, Reason}, _} = Old] ->
                    _ = ets:delete_object(Tab, Old),
                    {error, Reason};
                [{_, Owner, _, Kind, _} = Old] ->
                    %% Held: an interest of another process.
                    Held = Owner =/= Self andalso is_atom(Kind),
                    case Held andalso is_process_alive(Owner) of
                        true ->
                            {error, ebusy};
                        false ->
                            Dead = [Owner || Held],
                            case ets:select_replace(Tab, [{Old, [], [{const, Rec}]}]) of
                                1 -> {ok, Old, Dead};
                                0 -> claim1(Tab, Rec)
                            end
                    end
            end
    end.

%% Undo a claim whose request could not be sent: give the caller's own
%% previous record back, or free FD.
unclaim(Tab, {_, Self, _, _, _} = Rec, {_, Self, _, Kind, _} = Old) when is_atom(Kind) ->
    _ = catch ets:select_replace(Tab, [{Rec, [], [{const, Old}]}]),
    ok;
unclaim(Tab, Rec, _Old) ->
    _ = catch ets:delete_object(Tab, Rec),
    ok.

%% Send an fdset; on a daemon that is gone, send it again to the next.
arm_request(_Srv, _Tab, _Rec, _Old, _Dead, undefined) ->
    {error, closed};
arm_request(_Srv, Tab, {FD, Self, Mode, fdset, Gen} = Rec, Old, Dead, {Sock, _Port}) ->
    Req = list_to_tuple([fdset, Self, Gen, FD, Mode | Dead]),
    case send_by(Sock, Req, FD, deadline(?FDSET_SEND_TIMEOUT)) of
        ok ->
            ok;
        {error, timeout} ->
            %% The side channel stayed full (inertd is not reading):
            %% nothing was sent, nothing is armed.
            unclaim(Tab, Rec, Old),
            {error, eagain};
        {error, Reason} ->
            case gone(Reason) of
                true ->
                    %% The side channel is gone with its daemon, whose
                    %% exit is handled after this claim: the next
                    %% daemon is re-armed from the table, this record
                    %% included (inert_srv's feeder), before any caller
                    %% may send to it. Nothing to wait for.
                    ok;
                false ->
                    %% ebadf: sendmsg could not pass the fd, it is not
                    %% open in the VM.
                    unclaim(Tab, Rec, Old),
                    {error, Reason}
            end
    end.

%% The service monitors every process that arms an fd, to clear its
%% interests when it dies. Asked once per process and service.
monitor_me(Srv) ->
    case get({?MODULE, monitored, Srv}) of
        undefined ->
            Srv ! {monitor, self()},
            put({?MODULE, monitored, Srv}, true),
            ok;
        true ->
            ok
    end.

%% Then(), once the daemon behind Port has a successor that callers may
%% send to; `{error, timeout}' if that is not so by Deadline. Down is
%% what a request answers while inertd cannot be started: `wait' (a poll
%% waits for a daemon, until its deadline) or a fun that gives the
%% answer.
after_restart(Srv, Port, Deadline, Down, Then) ->
    case await_restart(Srv, Port, Deadline, if_down(Down)) of
        ok -> Then();
        down -> Down();
        {error, _} = Error -> Error
    end.

if_down(wait) -> wait;
if_down(_) -> failing.

await_restart(Srv, Port, Deadline, IfDown) ->
    case inert_srv:await_restart(Srv, Port, chunk(Deadline), IfDown) of
        {error, timeout} ->
            case timeout(Deadline) of
                0 -> {error, timeout};
                _ -> await_restart(Srv, Port, Deadline, IfDown)
            end;
        Other ->
            Other
    end.

%% An fdclr while inertd cannot be started: the service clears the
%% record itself; if a daemon runs again by then, the fdclr goes to it.
clear_down(Handle, Srv, FD, Options) ->
    case inert_srv:clear_down(Srv, FD, element(1, options(Options, read_write))) of
        retry -> fdclr(Handle, FD, Options);
        Reply -> Reply
    end.

%% dup, open and controlling_process while inertd cannot be started.
no_daemon() ->
    {error, closed}.

%%--------------------------------------------------------------------
%% Requests answered through the service
%%--------------------------------------------------------------------

%% Send a request and wait for its answer `{Ref, Reply}'; Down() is the
%% answer while inertd cannot be started.
request(Handle, FD, Build, Timeout, Down) ->
    case whereis_srv(Handle) of
        undefined -> {error, closed};
        Srv -> request(Srv, FD, Build, deadline(Timeout), Down, inert_srv:lookup(Srv))
    end.

request(_Srv, _FD, _Build, _Deadline, _Down, undefined) ->
    {error, closed};
request(Srv, FD, Build, Deadline, Down, {Sock, Port}) ->
    Ref = erlang:monitor(port, Port),
    case send_by(Sock, Build(Ref), FD, Deadline) of
        ok ->
            Again = fun() -> request(Srv, FD, Build, Deadline, Down, inert_srv:lookup(Srv)) end,
            wait(Srv, FD, Deadline, Port, Ref, Again, Down);
        {error, Reason} ->
            erlang:demonitor(Ref, [flush]),
            case gone(Reason) of
                %% The side channel is gone with its daemon: try the next one.
                true -> retry(Srv, FD, Build, Deadline, Down, Port);
                %% ebadf: sendmsg could not pass the fd, it is not open in the VM.
                false -> {error, Reason}
            end
    end.

%% Wait for the answer to the request Ref. If the daemon dies first, the
%% request is made again (Again) to its successor; at the deadline (a
%% poll's timeout) it is cancelled.
wait(Srv, FD, Deadline, Port, Ref, Again, Down) ->
    receive
        {Ref, Reply} ->
            erlang:demonitor(Ref, [flush]),
            Reply;
        {'DOWN', Ref, port, Port, _} ->
            %% Answers of the old daemon are forwarded before
            %% await_restart/4 returns: pick up one that made it.
            case await_restart(Srv, Port, Deadline, if_down(Down)) of
                ok -> flush(Ref, Again);
                down -> flush(Ref, Down);
                {error, _} = Error -> flush(Ref, fun() -> Error end)
            end
    after chunk(Deadline) ->
        case timeout(Deadline) of
            0 ->
                erlang:demonitor(Ref, [flush]),
                %% After cancel/3 no answer for Ref is forwarded; one
                %% forwarded before is already here.
                _ = inert_srv:cancel(Srv, Ref, FD),
                flush(Ref, fun() -> {error, timeout} end);
            _ ->
                %% A timeout longer than one `after' can wait.
                wait(Srv, FD, Deadline, Port, Ref, Again, Down)
        end
    end.

retry(Srv, FD, Build, Deadline, Down, Port) ->
    after_restart(Srv, Port, Deadline, Down,
                  fun() -> request(Srv, FD, Build, Deadline, Down, inert_srv:lookup(Srv)) end).

%% The answer to Ref if it is here, else Otherwise().
flush(Ref, Otherwise) ->
    receive
        {Ref, Reply} -> Reply
    after 0 ->
        Otherwise()
    end.

deadline(infinity) ->
    infinity;
deadline(Timeout) ->
    erlang:monotonic_time(millisecond) + Timeout.

timeout(infinity) ->
    infinity;
timeout(Deadline) ->
    max(0, Deadline - erlang:monotonic_time(millisecond)).

%% What is left until Deadline, at most what one wait can take.
chunk(infinity) ->
    infinity;
chunk(Deadline) ->
    min(timeout(Deadline), ?MAX_WAIT).

%% The service process of a handle and its ownership table.
service(Handle) ->
    case whereis_srv(Handle) of
        undefined ->
            undefined;
        Srv ->
            case inert_srv:table(Srv) of
                undefined -> undefined;
                Tab -> {Srv, Tab}
            end
    end.

whereis_srv(Pid) when is_pid(Pid) ->
    case is_process_alive(Pid) of
        true -> Pid;
        false -> undefined
    end;
whereis_srv(Name) when is_atom(Name) ->
    whereis(Name);
whereis_srv(_) ->
    undefined.

valid_fd(FD) ->
    is_integer(FD) andalso FD >= 0 andalso FD =< ?MAX_FD.

valid_mode(Mode) ->
    Mode =:= read orelse Mode =:= write orelse Mode =:= read_write.

valid_timeout(infinity) -> true;
valid_timeout(T) -> is_integer(T) andalso T >= 0.

%% A mode atom or a proplist of {mode, M} and {timeout, T}.
options(Mode, Default) when is_atom(Mode) ->
    options([{mode, Mode}], Default);
options(Opts, Default) when is_list(Opts) ->
    try
        fold_options(Opts, {Default, infinity})
    catch
        throw:einval -> error
    end;
options(_, _) ->
    error.

%% Not lists:foldl/3: an improper list is bad input, not a crash.
fold_options([Opt | Rest], Acc) -> fold_options(Rest, option(Opt, Acc));
fold_options([], Acc) -> Acc;
fold_options(_Tail, _Acc) -> throw(einval).

option({mode, M}, {_, T}) ->
    valid_mode(M) orelse throw(einval),
    {M, T};
option({timeout, T}, {M, _}) ->
    valid_timeout(T) orelse throw(einval),
    {M, T};
option(_, _) ->
    throw(einval).
