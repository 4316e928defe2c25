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
-module(prim_inert).

-export([start/0, stop/1]).
-export([fdset/2, fdset/3, fdclr/2, fdclr/3, poll/2, poll/3, poll/4,
         controlling_process/2, info/1]).
-export([dup/2, open/2]).
-export([send_request/3]).

-ifdef(TEST).
-export([options/2, valid_fd/1]).
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
            arm(Handle, fdset, FD, Mode, infinity)
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
            request(Handle, FD, fun(Ref) -> {fdclr, self(), Ref, FD, Mode} end,
                    infinity)
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
        {true, true, true} -> arm(Handle, poll, FD, Mode, Timeout);
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

%% fdset or poll, taking over an fd whose owner turned out to be dead.
arm(Handle, Kind, FD, Mode, Timeout) ->
    arm(Handle, Kind, FD, Mode, Timeout, []).

arm(Handle, Kind, FD, Mode, Timeout, Dead) ->
    Build = fun(Ref) -> list_to_tuple([Kind, self(), Ref, FD, Mode | Dead]) end,
    case request(Handle, FD, Build, Timeout) of
        {error, {ebusy, Owner}} ->
            %% inertd may not have heard yet of a death this process has
            %% already seen: is_process_alive/1 is exact for local pids.
            case is_process_alive(Owner) of
                true -> {error, ebusy};
                false -> arm(Handle, Kind, FD, Mode, Timeout, [Owner])
            end;
        Reply ->
            Reply
    end.

%% Send a request and wait for its answer `{Ref, Reply}'. fdset answers
%% at once; a poll answers when the fd is ready, or is cancelled at the
%% deadline.
request(Handle, FD, Build, Timeout) ->
    Deadline = case Timeout of
        infinity -> infinity;
        _ -> erlang:monotonic_time(millisecond) + Timeout
    end,
    case whereis_srv(Handle) of
        undefined -> {error, closed};
        Srv -> request(Srv, FD, Build, Deadline, inert_srv:lookup(Srv))
    end.

request(_Srv, _FD, _Build, _Deadline, undefined) ->
    {error, closed};
request(Srv, FD, Build, Deadline, {Sock, Port}) ->
    Ref = erlang:monitor(port, Port),
    case send_request(Sock, Build(Ref), FD) of
        ok ->
            wait(Srv, FD, Build, Deadline, Port, Ref);
        {error, ebadf} ->
            %% sendmsg could not pass the fd: it is not open in the VM.
            erlang:demonitor(Ref, [flush]),
            {error, ebadf};
        {error, _} ->
            %% The side channel is gone with its daemon: try the next one.
            erlang:demonitor(Ref, [flush]),
            retry(Srv, FD, Build, Deadline, Port)
    end.

wait(Srv, FD, Build, Deadline, Port, Ref) ->
    receive
        {Ref, Reply} ->
            erlang:demonitor(Ref, [flush]),
            Reply;
        {'DOWN', Ref, port, Port, _} ->
            %% Answers of the old daemon are forwarded before
            %% await_restart/2 returns: pick up one that made it.
            case inert_srv:await_restart(Srv, Port) of
                ok ->
                    receive
                        {Ref, Reply} -> Reply
                    after 0 ->
                        request(Srv, FD, Build, Deadline, inert_srv:lookup(Srv))
                    end;
                {error, closed} ->
                    flush(Ref, {error, closed})
            end
    after timeout(Deadline) ->
        erlang:demonitor(Ref, [flush]),
        %% After cancel/3 no answer for Ref is forwarded; one forwarded
        %% before is already here.
        _ = inert_srv:cancel(Srv, Ref, FD),
        flush(Ref, {error, timeout})
    end.

retry(Srv, FD, Build, Deadline, Port) ->
    case inert_srv:await_restart(Srv, Port) of
        ok -> request(Srv, FD, Build, Deadline, inert_srv:lookup(Srv));
        {error, closed} -> {error, closed}
    end.

flush(Ref, Default) ->
    receive
        {Ref, Reply} -> Reply
    after 0 ->
        Default
    end.

timeout(infinity) ->
    infinity;
timeout(Deadline) ->
    max(0, Deadline - erlang:monotonic_time(millisecond)).

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
