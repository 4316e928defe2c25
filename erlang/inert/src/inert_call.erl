%% @doc One call of the API (`prim_inert') in the calling process: the
%% claim of an fd in the service's ownership table, the request sent
%% straight to inertd on the side channel (with the fd as SCM_RIGHTS),
%% the wait for the answer the service forwards, and the same request
%% sent again to the next daemon when the one it went to dies.
%%
%% Owns no data and no process: the table is inert_table's, the request
%% terms and the send inert_req's, the daemon and the forwarding of its
%% answers inert_srv's. Must not check the API's arguments (prim_inert
%% does, before calling here) nor leave a claim, a monitor or an answer
%% behind: a call that returns, however it returns, has dropped the
%% claim of a poll, the monitor of the daemon's port and any late answer.
%% @private
-module(inert_call).

-export([fdset/4, poll/5, request/5]).

%% How long an fdset waits for room on a full side channel (inertd not
%% reading requests: stopped, or held back by flow control) before it
%% gives up with {error, eagain}.
-define(FDSET_SEND_TIMEOUT, 2000).

-type fd() :: inert_fdlib:fd().
-type mode() :: inert_table:mode().

%%--------------------------------------------------------------------
%% fdset and poll: ownership in the service's table
%%--------------------------------------------------------------------

%% @doc Claim `FD' for the caller in `Tab' and send the fdset; do not wait.
-spec fdset(pid(), inert_table:table(), fd(), mode()) -> ok | prim_inert:errno().
fdset(Srv, Tab, FD, Mode) ->
    monitor_me(Srv),
    Gen = erlang:unique_integer([positive]),
    Rec = inert_table:fdset(FD, self(), Mode, Gen),
    case inert_table:claim(Tab, Rec) of
        {ok, Old, Dead} ->
            Req = inert_req:fdset(self(), Gen, FD, Mode, Dead),
            arm_request(Tab, FD, Req, Rec, Old, inert_srv:lookup(Srv));
        {error, _} = Error ->
            Error
    end.

%% @doc Claim `FD' for a poll, send it and wait for its answer until
%% `Deadline'; the claim goes when the poll returns, however it returns.
-spec poll(pid(), inert_table:table(), fd(), mode(), inert_deadline:deadline()) ->
    {ok, read | write} | {error, timeout} | prim_inert:errno().
poll(Srv, Tab, FD, Mode, Deadline) ->
    monitor_me(Srv),
    case inert_srv:lookup(Srv) of
        undefined ->
            {error, closed};
        {Sock, Port} ->
            Ref = erlang:monitor(port, Port),
            Rec = inert_table:poll(FD, self(), Mode, Ref),
            case inert_table:claim(Tab, Rec) of
                {ok, Old, Dead} ->
                    Req = inert_req:poll(self(), Ref, FD, Mode, Dead),
                    case inert_req:send(Sock, Req, FD, Deadline) of
                        ok ->
                            Again = fun() -> poll(Srv, Tab, FD, Mode, Deadline) end,
                            Reply = wait(Srv, FD, Deadline, Port, Ref, Again, wait),
                            ok = inert_table:drop(Tab, Rec),
                            poll_reply(Reply);
                        {error, Reason} ->
                            %% Not sent: ebadf (sendmsg could not pass the
                            %% fd: it is not open in the VM), timeout (the
                            %% side channel stayed full until the deadline),
                            %% or the daemon is gone.
                            erlang:demonitor(Ref, [flush]),
                            inert_table:unclaim(Tab, Rec, Old),
                            case inert_req:gone(Reason) of
                                true ->
                                    after_restart(Srv, Port, Deadline, wait,
                                                  fun() -> poll(Srv, Tab, FD, Mode, Deadline) end);
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

%% Send an fdset; on a daemon that is gone, send it again to the next.
arm_request(_Tab, _FD, _Req, _Rec, _Old, undefined) ->
    {error, closed};
arm_request(Tab, FD, Req, Rec, Old, {Sock, _Port}) ->
    case inert_req:send(Sock, Req, FD, inert_deadline:at(?FDSET_SEND_TIMEOUT)) of
        ok ->
            ok;
        {error, timeout} ->
            %% The side channel stayed full (inertd is not reading):
            %% nothing was sent, nothing is armed.
            inert_table:unclaim(Tab, Rec, Old),
            {error, eagain};
        {error, Reason} ->
            case inert_req:gone(Reason) of
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
                    inert_table:unclaim(Tab, Rec, Old),
                    {error, Reason}
            end
    end.

%% The service monitors every process that arms an fd, to clear its
%% interests when it dies. Asked once per process and service, and the
%% caller's process dictionary is where "asked already" is kept, on
%% purpose: it is read on every fdset and poll, it is the caller's own
%% (no message to the service and no write to a shared table per call:
%% a message per fdset would double the service's mailbox traffic), and
%% it holds one small key per service the process has used. The key is
%% not erased when a service stops: a new service is a new pid, a new key.
-spec monitor_me(pid()) -> ok.
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
    case inert_srv:await_restart(Srv, Port, inert_deadline:chunk(Deadline), IfDown) of
        {error, timeout} ->
            case inert_deadline:left(Deadline) of
                0 -> {error, timeout};
                _ -> await_restart(Srv, Port, Deadline, IfDown)
            end;
        Other ->
            Other
    end.

%%--------------------------------------------------------------------
%% Requests answered through the service
%%--------------------------------------------------------------------

%% @doc Send the request `Build(Ref)' to the daemon of `Srv', with `FD'
%% unless it is `none', and wait until `Deadline' for its answer
%% `{Ref, Reply}': `Reply'. `Down()' is the answer while inertd cannot be
%% started.
-spec request(pid(), fd() | none, fun((reference()) -> inert_req:request()),
              inert_deadline:deadline(), fun(() -> Reply)) -> Reply | term().
request(Srv, FD, Build, Deadline, Down) ->
    request(Srv, FD, Build, Deadline, Down, inert_srv:lookup(Srv)).

request(_Srv, _FD, _Build, _Deadline, _Down, undefined) ->
    {error, closed};
request(Srv, FD, Build, Deadline, Down, {Sock, Port}) ->
    Ref = erlang:monitor(port, Port),
    case inert_req:send(Sock, Build(Ref), FD, Deadline) of
        ok ->
            Again = fun() -> request(Srv, FD, Build, Deadline, Down, inert_srv:lookup(Srv)) end,
            wait(Srv, FD, Deadline, Port, Ref, Again, Down);
        {error, Reason} ->
            erlang:demonitor(Ref, [flush]),
            case inert_req:gone(Reason) of
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
    after inert_deadline:chunk(Deadline) ->
        case inert_deadline:left(Deadline) of
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
