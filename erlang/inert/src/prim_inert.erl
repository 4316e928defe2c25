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

%% @doc Start a private inert service, linked to and controlled by the
%% caller. Returns its PollId, the second element of every message.
-spec start() -> pid() | {error, term()}.
start() ->
    case inert_srv:start_link(self()) of
        {ok, Pid} -> Pid;
        {error, _} = Error -> Error
    end.

%% @doc Stop a service: inertd exits and closes every fd it held.
-spec stop(handle()) -> ok.
stop(Handle) ->
    case whereis_srv(Handle) of
        undefined ->
            ok;
        Srv ->
            unlink(Srv),
            try
                gen_server:stop(Srv)
            catch
                exit:_ -> ok
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
                    case request(Srv, FD, Build, infinity) of
                        {error, ebadf} ->
                            %% FD is closed in the VM, so sendmsg could
                            %% not pass it: inertd carries out an fdclr
                            %% without its fd, and clears whatever
                            %% interest the number still has.
                            request(Srv, none, Build, infinity);
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
    request(Handle, none, fun(Ref) -> {controlling_process, self(), Ref, Pid} end, infinity);
controlling_process(_Handle, _Pid) ->
    {error, einval}.

%% @doc The daemon's view (armed fds with mode, owner and kind; counters)
%% merged with the service's (restarts, daemon OS pid).
-spec info(handle()) -> map() | {error, closed}.
info(Handle) ->
    case request(Handle, none, fun(Ref) -> {info, self(), Ref} end, infinity) of
        Daemon when is_map(Daemon) ->
            case inert_srv:status(whereis_srv(Handle)) of
                Service when is_map(Service) ->
                    maps:merge(maps:with(inert_srv:info_keys(), Daemon),
                               #{service => Service});
                Error ->
                    Error
            end;
        Error ->
            Error
    end.

%% @doc Have inertd duplicate `FD' through an SCM_RIGHTS round trip: the
%% new fd refers to the same open file. The caller owns it (see
%% `inert_fd:close/1').
-spec dup(handle(), term()) -> {ok, non_neg_integer()} | errno().
dup(Handle, FD) ->
    case valid_fd(FD) of
        false -> {error, ebadf};
        true -> handover(request(Handle, FD, fun(Ref) -> {dup, self(), Ref, FD} end, infinity))
    end.

%% @doc Have inertd open the socket `Spec' describes (see
%% `inert_fd:open/2') and hand it over; the caller owns it.
-spec open(handle(), term()) -> {ok, non_neg_integer()} | errno().
open(Handle, Spec) ->
    case inert_fd:spec(Spec) of
        {ok, Full} -> handover(request(Handle, none, fun(Ref) -> {open, self(), Ref, Full} end, infinity));
        error -> {error, einval}
    end.

%% @private Send one request on a side channel, with `FD' as SCM_RIGHTS
%% unless it is `none'.
-spec send_request(socket:socket(), tuple(), non_neg_integer() | none) -> ok | {error, term()}.
send_request(Sock, Req, none) ->
    socket:send(Sock, term_to_binary(Req));
send_request(Sock, Req, FD) ->
    socket:sendmsg(Sock, #{iov => [term_to_binary(Req)],
                           ctrl => [#{level => socket, type => rights,
                                      data => <<FD:32/native>>}]}).

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
                    case send_request(Sock, list_to_tuple([poll, self(), Ref, FD, Mode | Dead]), FD) of
                        ok ->
                            Again = fun() -> poll_claim(Srv, Tab, FD, Mode, Deadline) end,
                            Reply = wait(Srv, FD, Deadline, Port, Ref, Again),
                            _ = catch ets:delete_object(Tab, Rec),
                            poll_reply(Reply);
                        {error, ebadf} ->
                            erlang:demonitor(Ref, [flush]),
                            unclaim(Tab, Rec, Old),
                            {error, ebadf};
                        {error, _} ->
                            erlang:demonitor(Ref, [flush]),
                            after_restart(Srv, Port, fun() -> poll_claim(Srv, Tab, FD, Mode, Deadline) end)
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
arm_request(Srv, Tab, {FD, Self, Mode, fdset, Gen} = Rec, Old, Dead, {Sock, Port}) ->
    case send_request(Sock, list_to_tuple([fdset, Self, Gen, FD, Mode | Dead]), FD) of
        ok ->
            ok;
        {error, ebadf} ->
            %% sendmsg could not pass the fd: it is not open in the VM.
            unclaim(Tab, Rec, Old),
            {error, ebadf};
        {error, _} ->
            %% The side channel is gone with its daemon. The record is
            %% in the table, so the next daemon may have been armed from
            %% it already; arming it again is harmless (same pid, same
            %% file).
            after_restart(Srv, Port,
                          fun() -> arm_request(Srv, Tab, Rec, Old, Dead, inert_srv:lookup(Srv)) end)
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

after_restart(Srv, Port, Then) ->
    case inert_srv:await_restart(Srv, Port) of
        ok -> Then();
        {error, closed} -> {error, closed}
    end.

%%--------------------------------------------------------------------
%% Requests answered through the service
%%--------------------------------------------------------------------

%% Send a request and wait for its answer `{Ref, Reply}'.
request(Handle, FD, Build, Timeout) ->
    case whereis_srv(Handle) of
        undefined -> {error, closed};
        Srv -> request(Srv, FD, Build, deadline(Timeout), inert_srv:lookup(Srv))
    end.

request(_Srv, _FD, _Build, _Deadline, undefined) ->
    {error, closed};
request(Srv, FD, Build, Deadline, {Sock, Port}) ->
    Ref = erlang:monitor(port, Port),
    case send_request(Sock, Build(Ref), FD) of
        ok ->
            Again = fun() -> request(Srv, FD, Build, Deadline, inert_srv:lookup(Srv)) end,
            wait(Srv, FD, Deadline, Port, Ref, Again);
        {error, ebadf} ->
            %% sendmsg could not pass the fd: it is not open in the VM.
            erlang:demonitor(Ref, [flush]),
            {error, ebadf};
        {error, _} ->
            %% The side channel is gone with its daemon: try the next one.
            erlang:demonitor(Ref, [flush]),
            retry(Srv, FD, Build, Deadline, Port)
    end.

%% Wait for the answer to the request Ref. If the daemon dies first, the
%% request is made again (Again) to its successor; at the deadline (a
%% poll's timeout) it is cancelled.
wait(Srv, FD, Deadline, Port, Ref, Again) ->
    receive
        {Ref, Reply} ->
            erlang:demonitor(Ref, [flush]),
            Reply;
        {'DOWN', Ref, port, Port, _} ->
            %% Answers of the old daemon are forwarded before
            %% await_restart/2 returns: pick up one that made it.
            case inert_srv:await_restart(Srv, Port) of
                ok -> flush(Ref, Again);
                {error, closed} -> flush(Ref, fun() -> {error, closed} end)
            end
    after timeout(Deadline) ->
        erlang:demonitor(Ref, [flush]),
        %% After cancel/3 no answer for Ref is forwarded; one forwarded
        %% before is already here.
        _ = inert_srv:cancel(Srv, Ref, FD),
        flush(Ref, fun() -> {error, timeout} end)
    end.

retry(Srv, FD, Build, Deadline, Port) ->
    after_restart(Srv, Port, fun() -> request(Srv, FD, Build, Deadline, inert_srv:lookup(Srv)) end).

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
        lists:foldl(fun option/2, {Default, infinity}, Opts)
    catch
        throw:einval -> error
    end;
options(_, _) ->
    error.

option({mode, M}, {_, T}) ->
    valid_mode(M) orelse throw(einval),
    {M, T};
option({timeout, T}, {M, _}) ->
    valid_timeout(T) orelse throw(einval),
    {M, T};
option(_, _) ->
    throw(einval).
