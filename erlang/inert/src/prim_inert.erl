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
%% VM, in the service's ownership table (see `inert_table'): the caller
%% claims the fd there atomically (`ebusy' if a live process holds it),
%% sends the request and returns. An interest inertd then cannot arm
%% (inertd out of fds, ...) is reported ready at once, and the caller's
%% next `fdset' or `poll' of that fd returns the reason (`{error,
%% emfile}', ...). An fd that cannot be waited on (a regular file) is
%% not a failure: inertd reports it ready, as poll(2) does.
%%
%% This module checks the arguments and options of each call and finds
%% the service; inert_call carries the call out in the caller's process
%% (claim, send, wait, retry on a restarted daemon). It owns no data: the
%% table is inert_table's, the request terms inert_req's, the daemon
%% inert_srv's.
-module(prim_inert).

-export([start/0, stop/1]).
-export([fdset/2, fdset/3, fdclr/2, fdclr/3, poll/2, poll/3, poll/4,
         controlling_process/2, info/1]).
-export([dup/2, open/2, termios/3]).

-ifdef(TEST).
-export([options/2, valid_fd/1]).
-endif.

-export_type([handle/0, mode/0, options/0, errno/0, fd/0]).

-type handle() :: pid() | atom().
%% A service: the PollId `start/0' returned, or a registered name (the
%% shared service is `inert').
-type mode() :: read | write | read_write.
%% The directions of an interest.
-type fd() :: inert_fdlib:fd().
%% A file descriptor the VM holds: an integer from 0 to 16#7fffffff.
-type errno() :: {error, closed | ecanceled | inet:posix()}.
%% `closed': the service is gone; `ecanceled': an `fdclr' ended the poll;
%% `ebadf', `einval': bad arguments, or an fd not open in the VM; `ebusy':
%% another live process holds the fd; `eagain': inertd did not take the
%% fdset for 2 s; any other: the errno inertd met (`emfile', ...), by its
%% Linux name, which `inet:posix()' names but for rare ones (`euclean',
%% `ehwpoison', ...).
-type options() :: mode() | [{mode, mode()} | {timeout, timeout()}].
%% A mode, or a list of `{mode, Mode}' (default `read'; `read_write' for
%% `fdclr') and `{timeout, Timeout}' in ms (default `infinity'; `poll'
%% only).

-define(MAX_FD, 16#7fffffff).

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
-spec fdset(handle(), fd()) -> ok | errno().
fdset(Handle, FD) ->
    fdset(Handle, FD, read).

%% @doc Arm a one-shot interest: one `{inert_read, PollId, FD}' and/or
%% `{inert_write, PollId, FD}' message per requested direction. A second
%% call by the same process replaces the mode; an fd armed by another
%% process gives `{error, ebusy}'.
-spec fdset(handle(), fd(), options()) -> ok | errno().
fdset(Handle, FD, Options) ->
    case {valid_fd(FD), options(Options, read)} of
        {false, _} -> {error, ebadf};
        {_, error} -> {error, einval};
        {true, {Mode, _Timeout}} ->
            case service(Handle) of
                undefined -> {error, closed};
                {Srv, Tab} -> inert_call:fdset(Srv, Tab, FD, Mode)
            end
    end.

%% @doc Clear both directions of `FD'.
-spec fdclr(handle(), fd()) -> ok | errno().
fdclr(Handle, FD) ->
    fdclr(Handle, FD, read_write).

%% @doc Clear directions of `FD', whoever armed them.
-spec fdclr(handle(), fd(), options()) -> ok | errno().
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
                    ok = inert_table:forget_reason(Tab, FD),
                    Build = fun(Ref) -> inert_req:fdclr(self(), Ref, FD, Mode) end,
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
-spec poll(handle(), fd()) -> {ok, read} | {error, timeout} | errno().
poll(Handle, FD) ->
    poll(Handle, FD, read, infinity).

%% @doc Wait until `FD' is ready; `Options' is a mode or a proplist with
%% `mode' and `timeout'.
-spec poll(handle(), fd(), options()) -> {ok, read | write} | {error, timeout} | errno().
poll(Handle, FD, Options) ->
    case options(Options, read) of
        error -> poll_checked(Handle, FD, bad, infinity);
        {Mode, Timeout} -> poll_checked(Handle, FD, Mode, Timeout)
    end.

%% @doc Wait until `FD' is ready in `Mode', at most `Timeout' ms. A poll
%% that returns, however it returns, leaves nothing armed and no message
%% behind.
-spec poll(handle(), fd(), options(), timeout()) ->
    {ok, read | write} | {error, timeout} | errno().
poll(Handle, FD, Options, Timeout) when is_list(Options) ->
    case options(Options, read) of
        {Mode, _} -> poll_checked(Handle, FD, Mode, Timeout);
        error -> poll_checked(Handle, FD, bad, Timeout)
    end;
poll(Handle, FD, Mode, Timeout) ->
    poll_checked(Handle, FD, Mode, Timeout).

%% Any argument may be bad: the fd is checked first (ebadf), then the
%% mode and timeout (einval).
poll_checked(Handle, FD, Mode, Timeout) ->
    case {valid_fd(FD), valid_mode(Mode), valid_timeout(Timeout)} of
        {false, _, _} -> {error, ebadf};
        {true, true, true} ->
            case service(Handle) of
                undefined -> {error, closed};
                {Srv, Tab} -> inert_call:poll(Srv, Tab, FD, Mode, inert_deadline:at(Timeout))
            end;
        _ -> {error, einval}
    end.

%% @doc Make `Pid' the controlling process of the service. Only the
%% current controlling process may do it; the new one is linked to the
%% service. Interests keep reporting to the processes that armed them.
-spec controlling_process(handle(), pid()) -> ok | {error, not_owner | einval | closed}.
controlling_process(Handle, Pid) when is_pid(Pid) ->
    request(Handle, none, fun(Ref) -> inert_req:controlling_process(self(), Ref, Pid) end, infinity,
            fun no_daemon/0);
controlling_process(_Handle, _Pid) ->
    {error, einval}.

%% @doc The daemon's view (armed fds with mode, owner and kind; counters)
%% merged with the service's (restarts, daemon OS pid).
-spec info(handle()) -> map() | {error, closed}.
info(Handle) ->
    case request(Handle, none, fun(Ref) -> inert_req:info(self(), Ref) end, infinity,
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
            inert_table:armed(Tab)
    end.

%% @doc Have inertd duplicate `FD' through an SCM_RIGHTS round trip: the
%% new fd refers to the same open file. The caller owns it (see
%% `inert_fd:close/1').
-spec dup(handle(), fd()) -> {ok, fd()} | errno().
dup(Handle, FD) ->
    case valid_fd(FD) of
        false -> {error, ebadf};
        true -> handover(request(Handle, FD, fun(Ref) -> inert_req:dup(self(), Ref, FD) end, infinity,
                                 fun no_daemon/0))
    end.

%% @doc Have inertd open the socket or device `Spec' describes (see
%% `inert_fd:open/2') and hand it over; the caller owns its fds.
-spec open(handle(), inert_fdlib:spec()) ->
    {ok, fd()} | {ok, fd(), inert_handover:info()} | errno().
open(Handle, Spec) ->
    case inert_fdlib:spec(Spec) of
        {ok, Full} -> handover(request(Handle, none, fun(Ref) -> inert_req:open(self(), Ref, Full) end,
                                       infinity, fun no_daemon/0));
        error -> {error, einval}
    end.

%% @doc Have inertd set the line of the tty `FD' (see
%% `inert_fd:termios/3'); `FD' stays the caller's.
-spec termios(handle(), fd(), inert_fdlib:termios() | list()) -> ok | errno().
termios(Handle, FD, Termios) ->
    case {valid_fd(FD), inert_fdlib:termios(Termios)} of
        {false, _} -> {error, ebadf};
        {true, error} -> {error, einval};
        {true, {ok, Full}} -> request(Handle, FD, fun(Ref) -> inert_req:termios(self(), Ref, FD, Full) end,
                                      infinity, fun no_daemon/0)
    end.

%%--------------------------------------------------------------------
%% Internal functions
%%--------------------------------------------------------------------

%% An fd handed over by the service (PROTOCOL.md, "Handing fds to the
%% VM"): acknowledge it, so that the service no longer closes it if this
%% process dies.
handover({fd, _Srv, _Token, FD} = Offer) ->
    ok = inert_handover:taken(Offer),
    {ok, FD};
handover({fd, _Srv, _Token, FD, Info} = Offer) ->
    ok = inert_handover:taken(Offer),
    {ok, FD, Info};
handover(Reply) ->
    Reply.

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

%% Send a request and wait for its answer (inert_call); Down() is the
%% answer while inertd cannot be started.
request(Handle, FD, Build, Timeout, Down) ->
    case whereis_srv(Handle) of
        undefined -> {error, closed};
        Srv -> inert_call:request(Srv, FD, Build, inert_deadline:at(Timeout), Down)
    end.

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
