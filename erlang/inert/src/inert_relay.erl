%% @doc What the entries of inertd mean (PROTOCOL.md, "Entries"): the
%% change each one makes to the ownership table (through inert_table)
%% and the message it sends to the process it is for (for the entries of
%% I/O handles, `{'$inert_io', Ref, What}' to the handle process, see
%% inert_io_srv). Called in the
%% service process (inert_srv), whose pid is the PollId of every event.
%%
%% Owns the set of polls cancelled after a timeout, whose late answers
%% are dropped instead of reaching a mailbox, and turns inertd's log
%% lines into logger events (PROTOCOL.md, "Log lines"). Must not send to
%% inertd nor wait: the service's entries about the daemon itself (hello,
%% owner) are inert_srv's.
%%
%% @private
-module(inert_relay).

-include_lib("kernel/include/logger.hrl").

-export([new/1, entry/2, cancel/2, restarted/1, daemon/2, clear_down/3]).

-export_type([relay/0]).

-record(relay, {
    tab :: inert_table:table(),
    %% polls cancelled after a timeout whose answers must be dropped
    cancelled = #{} :: #{reference() => true},
    %% the OS pid of the daemon whose entries these are (its ready entry)
    os_pid = 0 :: non_neg_integer()
}).

-opaque relay() :: #relay{}.

%% @doc The relay of the service whose table is `Tab'.
-spec new(inert_table:table()) -> relay().
new(Tab) ->
    #relay{tab = Tab}.

%% @doc The poll `Ref' was cancelled: an answer inertd still sends for it
%% is dropped, until inertd confirms the cancel (`{cancelled, Ref}').
-spec cancel(reference(), relay()) -> relay().
cancel(Ref, #relay{cancelled = Cancelled} = R) ->
    R#relay{cancelled = Cancelled#{Ref => true}}.

%% @doc A new daemon: the old one's cancelled polls are forgotten.
-spec restarted(relay()) -> relay().
restarted(R) ->
    R#relay{cancelled = #{}, os_pid = 0}.

%% @doc The entries from now on are those of the daemon of OS pid `OsPid'
%% (named in its ready entry).
-spec daemon(non_neg_integer(), relay()) -> relay().
daemon(OsPid, R) ->
    R#relay{os_pid = OsPid}.

%% @doc What inertd does for an fdclr, done here while none runs: `Mode'
%% leaves the fdset record of `FD'; a poll waiting for any of `Mode' ends.
-spec clear_down(non_neg_integer(), inert_table:mode(), relay()) -> ok.
clear_down(FD, Mode, #relay{tab = Tab, cancelled = Cancelled}) ->
    case inert_table:clear(Tab, FD, Mode) of
        {poll_ended, Pid, Ref} ->
            %% Its caller waits for a daemon and finds this answer then,
            %% or at its timeout.
            _ = is_map_key(Ref, Cancelled) orelse (Pid ! {Ref, {error, ecanceled}}),
            ok;
        ok ->
            ok
    end.

%% @doc Carry out one entry of a frame; `unknown' for an entry that is
%% not one of these.
-spec entry(term(), relay()) -> relay() | unknown.
entry({inert_read, Pid, FD, Ref}, #relay{tab = Tab} = R) ->
    _ = inert_table:delivered(Tab, FD, Pid, read, Ref),
    Pid ! {inert_read, self(), FD},
    R;
entry({inert_write, Pid, FD, Ref}, #relay{tab = Tab} = R) ->
    _ = inert_table:delivered(Tab, FD, Pid, write, Ref),
    Pid ! {inert_write, self(), FD},
    R;
entry({polled, Pid, Ref, _FD, Dir}, #relay{cancelled = Cancelled} = R) ->
    %% The poll's record is the caller's to drop: it does when its poll
    %% returns, however it returns (inert_call).
    _ = is_map_key(Ref, Cancelled) orelse (Pid ! {Ref, {ok, Dir}}),
    R;
entry({failed, Pid, Ref, FD, Why}, #relay{tab = Tab} = R) ->
    %% An fdset inertd could not arm (emfile, ...): report it ready,
    %% as poll(2) reports an fd it cannot wait on, and keep the reason for
    %% the caller's next call on FD. Unless the caller has re-armed or
    %% cleared FD since: then this answer is out of date.
    Reason = case Why of
        {ebusy, _} -> ebusy;
        _ -> Why
    end,
    case inert_table:failed(Tab, FD, Pid, Ref, Reason) of
        {ok, Mode} -> lists:foreach(fun(Tag) -> Pid ! {Tag, self(), FD} end, tags(Mode));
        stale -> ok
    end,
    R;
entry({cleared, Pid, Ref, FD, Left, IRef}, #relay{tab = Tab} = R) ->
    case inert_table:cleared(Tab, FD, Left, IRef) of
        {poll_ended, Poller} ->
            %% The whole poll is cleared: its caller waits for an answer
            %% nobody else will give (its record is its own to drop).
            _ = is_map_key(IRef, R#relay.cancelled) orelse (Poller ! {IRef, {error, ecanceled}}),
            ok;
        ok ->
            ok
    end,
    Pid ! {Ref, ok},
    R;
entry({closed, _Pid, Ref, FD}, #relay{tab = Tab} = R) ->
    %% inertd dropped the fdset Ref because the VM closed FD without
    %% fdclr (or the number names another file now): the record goes if
    %% it is still that interest's; nobody is sent anything.
    ok = inert_table:closed(Tab, FD, Ref),
    R;
entry({cancelled, Ref}, R) ->
    R#relay{cancelled = maps:remove(Ref, R#relay.cancelled)};
entry({error, Pid, Ref, Reason}, R) when is_integer(Ref) ->
    %% An fdset whose fd inertd could not even read (prim_inert checks
    %% it): nobody waits for this answer.
    logger:warning("inert: inertd refused an fdset of ~p: ~p", [Pid, Reason]),
    R;
entry({error, Pid, Ref, Reason}, #relay{cancelled = Cancelled} = R) ->
    _ = is_map_key(Ref, Cancelled) orelse (Pid ! {Ref, {error, Reason}}),
    R;
entry({reply, Pid, Ref, Term}, R) ->
    Pid ! {Ref, Term},
    R;
entry({log, Level, Time, Text}, #relay{os_pid = OsPid} = R)
  when is_integer(Time), is_binary(Text),
       (Level =:= debug orelse Level =:= info orelse Level =:= notice orelse
        Level =:= warning orelse Level =:= error) ->
    %% A line inertd logged: an event like any other, for the user's
    %% logger configuration to filter (domain), format and silence. The
    %% macro makes the module level of this module apply
    %% (logger:set_application_level(inert, ...)).
    ?LOG(Level, "inertd (os pid ~b): ~ts", [OsPid, Text],
         #{domain => [inert], os_pid => OsPid, time => Time}),
    R;
entry({io_data, Pid, Ref, Chunks}, R) ->
    %% I/O handles (inert_io): to the handle's process or, while its
    %% route is direct, to its owner.
    ok = inert_io_window:data(Pid, Ref, Chunks),
    R;
entry({io_sent, Pid, Ref, Bytes}, R) ->
    %% The send window is shared with the handle's senders: counted
    %% here, the handle's process told only when it waits for room.
    ok = inert_io_window:sent(Pid, Ref, Bytes),
    R;
entry({io_closed, Pid, Ref, Reason}, R) ->
    Pid ! {'$inert_io', Ref, {closed, Reason}},
    R;
entry(_Entry, _R) ->
    unknown.

tags(read) -> [inert_read];
tags(write) -> [inert_write];
tags(read_write) -> [inert_read, inert_write].
