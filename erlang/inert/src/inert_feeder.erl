%% @doc The feeder: the process that sends a service's own requests to
%% one daemon (re-arms after a restart, cancel, down), so that the
%% service process never waits on a full side channel.
%%
%% One feeder per daemon, linked to the service and killed with the
%% daemon: it re-arms every fdset record of the table (not at the first
%% start), says {rearmed, self()} to the service, then sends what the
%% service asks, in order: send/3 (then answers the service's caller)
%% and down/2 (the records of the dead
%% caller go once inertd has been told). Its sends block when inertd
%% holds requests back (PROTOCOL.md, "Flow control"); the service does
%% not, so it keeps acknowledging and inertd resumes. Callers do not send
%% to the new daemon before the re-arm is done (inert_srv publishes the
%% daemon on {rearmed, Feeder}), so no re-arm overtakes a caller's newer
%% request for the same fd.
%%
%% It writes the table only to drop records that are out of date (a dead
%% caller's, an fd the VM closed); it must not answer callers.
%%
%% @private
-module(inert_feeder).

-export([start_link/3, send/3, down/2]).

%% @doc Start the feeder of the daemon behind `Sock', linked to the
%% calling (service) process; `Rearm': re-arm `Tab''s fdsets first.
-spec start_link(socket:socket(), inert_table:table(), boolean()) -> pid().
start_link(Sock, Tab, Rearm) ->
    Srv = self(),
    spawn_link(fun() -> feeder(Srv, Sock, Tab, Rearm) end).

%% @doc Send `Req' after what was asked before, then answer `From' (a
%% gen_server call to the service) `ok'.
-spec send(pid(), inert_req:request(), gen_server:from()) -> ok.
send(Feeder, Req, From) ->
    Feeder ! {send, Req, From},
    ok.

%% @doc The caller `Pid' died: tell inertd, then forget its records.
-spec down(pid(), pid()) -> ok.
down(Feeder, Pid) ->
    Feeder ! {down, Pid},
    ok.

feeder(Srv, Sock, Tab, Rearm) ->
    _ = Rearm andalso
        inert_table:fold_fdsets(fun(Rec, Interest, ok) ->
                                        feed_pending(Sock, Tab),
                                        rearm(Rec, Interest, Sock, Tab)
                                end, ok, Tab),
    Srv ! {rearmed, self()},
    feeder_loop(Sock, Tab).

feeder_loop(Sock, Tab) ->
    receive
        Msg ->
            feed(Sock, Tab, Msg),
            feeder_loop(Sock, Tab)
    end.

%% The service's requests that came during the re-arm: a {down, Pid} goes
%% out before any later re-arm (whose record is gone then).
feed_pending(Sock, Tab) ->
    receive
        Msg ->
            feed(Sock, Tab, Msg),
            feed_pending(Sock, Tab)
    after 0 ->
        ok
    end.

feed(Sock, Tab, {down, Pid}) ->
    feed(Sock, inert_req:down(Pid)),
    inert_table:forget(Tab, Pid);
feed(Sock, _Tab, {send, Req, From}) ->
    feed(Sock, Req),
    gen_server:reply(From, ok).

feed(Sock, Req) ->
    case inert_req:send(Sock, Req, none, infinity) of
        ok -> ok;
        {error, Reason} ->
            %% The daemon is going away; its exit is handled when it comes.
            logger:notice("inert: side channel send ~p: ~p", [element(1, Req), Reason]),
            ok
    end.

%% An fdset record is armed again if it is still in the table as it was
%% (its caller has not cleared or re-armed it, nor died since). A poll is
%% sent again by its caller, which is waiting for the restart.
rearm(Rec, {FD, Pid, Mode, Gen}, Sock, Tab) ->
    case inert_table:current(Tab, Rec) andalso
         %% A caller that died while its {down, Pid} could not be sent.
         (is_process_alive(Pid) orelse inert_table:drop(Tab, Rec) =/= ok) andalso
         inert_req:send(Sock, inert_req:fdset(Pid, Gen, FD, Mode, []), FD, infinity) of
        false ->
            ok;
        ok ->
            ok;
        {error, ebadf} ->
            %% The VM closed the fd while the daemon was down.
            logger:notice("inert: could not re-arm fd ~b of ~p: ~p", [FD, Pid, ebadf]),
            inert_table:drop(Tab, Rec);
        {error, _} ->
            %% The new daemon is going away too: the record stays for the
            %% next one (this feeder is killed when its exit is handled).
            ok
    end.

