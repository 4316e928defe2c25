%% @doc The ownership table of a service: who holds which fd, in which
%% mode, for what. One record per fd armed through the service:
%%
%%   fd, pid (the holder), mode (read | write | read_write), kind, ref
%%
%% Kind is `fdset' (ref an integer, new for every fdset, that inertd
%% echoes in the events of the interest), `poll' (ref the reference the
%% caller waits on), or `{error, Reason}': an fdset inertd could not arm,
%% whose reason the next fdset or poll of the fd by its holder returns.
%%
%% The table is written by the callers (claim/2, unclaim/3, drop/2,
%% forget_reason/2, in their own processes: that is what makes `fdset'
%% answer without a round trip) and by the service process (the rest).
%% Every change of a record someone else may change too is a
%% compare-and-swap on the whole record, so two writers never both win.
%%
%% This module is the only one that calls `ets' on the table or knows the
%% shape of a record. It sends no message and knows nothing of inertd:
%% what a change means for a caller (an event to send, a poll to end) it
%% returns, and the service does it.
%%
%% @private
-module(inert_table).

-export([new/0, delete/1, fdset/4, poll/4, claim/2, unclaim/3, drop/2, forget_reason/2,
         delivered/5, failed/5, closed/3, cleared/4, clear/3, forget/2,
         fold_fdsets/3, current/2, armed/1, size/1, holders/2]).

-ifdef(TEST).
-export([minus/2]).
-endif.

-export_type([table/0, rec/0, mode/0]).

-type mode() :: read | write | read_write.
-type kind() :: fdset | poll | {error, atom()}.

-record(rec, {
    fd :: non_neg_integer(),
    pid :: pid(),
    mode :: mode(),
    kind :: kind(),
    ref :: integer() | reference()
}).

-opaque rec() :: #rec{}.
-type table() :: ets:tid().

%% @doc A new table. Writes outnumber reads (a claim inserts, an event
%% deletes), so no read_concurrency: it made the update of each event
%% 0.78 instead of 0.59 us (BENCHMARKS.md).
-spec new() -> table().
new() ->
    ets:new(?MODULE, [set, public, {write_concurrency, true}, {keypos, #rec.fd}]).

%% @doc Delete the table (a benchmark's or a test's; a service's goes
%% with its process).
-spec delete(table()) -> ok.
delete(Tab) ->
    true = ets:delete(Tab),
    ok.

%% @doc The record of an fdset of `FD' by `Pid' whose events carry `Gen'.
-spec fdset(non_neg_integer(), pid(), mode(), integer()) -> rec().
fdset(FD, Pid, Mode, Gen) ->
    #rec{fd = FD, pid = Pid, mode = Mode, kind = fdset, ref = Gen}.

%% @doc The record of a poll of `FD' by `Pid' answered with `Ref'.
-spec poll(non_neg_integer(), pid(), mode(), reference()) -> rec().
poll(FD, Pid, Mode, Ref) ->
    #rec{fd = FD, pid = Pid, mode = Mode, kind = poll, ref = Ref}.

%% @doc Make `Rec' (of the calling process) the record of its fd: at once
%% if the fd is free; over the caller's own record, a kept reason, or the
%% record of a dead process (whose interest inertd is to drop: `Dead');
%% `ebusy' if a live process holds the fd. A kept reason of the caller's
%% own is returned instead, once. `Old' is what `unclaim/3' gives back.
-spec claim(table(), rec()) ->
    {ok, Old :: rec() | none, Dead :: [pid()]} | {error, ebusy | closed | atom()}.
claim(Tab, Rec) ->
    try
        claim1(Tab, Rec)
    catch
        error:badarg -> {error, closed}   % the service is gone
    end.

claim1(Tab, #rec{fd = FD, pid = Self} = Rec) ->
    case ets:insert_new(Tab, Rec) of
        true ->
            {ok, none, []};
        false ->
            case ets:lookup(Tab, FD) of
                [] ->
                    claim1(Tab, Rec);
                [#rec{pid = Self, kind = {error, Reason}} = Old] ->
                    _ = ets:delete_object(Tab, Old),
                    {error, Reason};
                [#rec{pid = Owner, kind = Kind} = Old] ->
                    %% Held: an interest of another process.
                    Held = Owner =/= Self andalso is_atom(Kind),
                    case Held andalso is_process_alive(Owner) of
                        true ->
                            {error, ebusy};
                        false ->
                            Dead = [Owner || Held],
                            case swap(Tab, Old, Rec) of
                                true -> {ok, Old, Dead};
                                false -> claim1(Tab, Rec)
                            end
                    end
            end
    end.

%% @doc Undo a claim whose request could not be sent: give the caller's
%% own previous interest back, or free the fd.
-spec unclaim(table(), rec(), rec() | none) -> ok.
unclaim(Tab, #rec{pid = Self} = Rec, #rec{pid = Self, kind = Kind} = Old) when is_atom(Kind) ->
    _ = catch swap(Tab, Rec, Old),
    ok;
unclaim(Tab, Rec, _Old) ->
    drop(Tab, Rec).

%% @doc `Rec' goes, if it is still there as it is (a poll that returned).
-spec drop(table(), rec()) -> ok.
drop(Tab, Rec) ->
    _ = catch ets:delete_object(Tab, Rec),
    ok.

%% @doc A reason kept for `FD' goes (an fdclr forgets it).
-spec forget_reason(table(), non_neg_integer()) -> ok.
forget_reason(Tab, FD) ->
    _ = catch ets:select_delete(Tab, [{pattern([{#rec.fd, FD}, {#rec.kind, {error, '_'}}]), [], [true]}]),
    ok.

%% @doc An event of the interest `Gen' on `FD': its record loses `Dir',
%% and goes when nothing is left, unless the caller has re-armed the fd
%% since (another `Gen'). `false' when the record changed meanwhile.
-spec delivered(table(), non_neg_integer(), pid(), read | write, integer()) -> boolean().
delivered(Tab, FD, Pid, Dir, Gen) ->
    case ets:lookup(Tab, FD) of
        [#rec{pid = Pid, mode = Mode, kind = fdset, ref = Gen} = Rec] ->
            narrow(Tab, Rec, minus(Mode, Dir));
        _ ->
            true
    end.

%% @doc inertd could not arm the fdset `Gen' of `FD': its record keeps
%% `Reason' for the holder's next call, and `{ok, Mode}' says which
%% directions to report ready. `stale' when the holder has re-armed or
%% cleared the fd since.
-spec failed(table(), non_neg_integer(), pid(), integer(), atom()) -> {ok, mode()} | stale.
failed(Tab, FD, Pid, Gen, Reason) ->
    case ets:lookup(Tab, FD) of
        [#rec{pid = Pid, mode = Mode, kind = fdset, ref = Gen} = Rec] ->
            case swap(Tab, Rec, Rec#rec{kind = {error, Reason}}) of
                true -> {ok, Mode};
                false -> stale
            end;
        _ ->
            stale
    end.

%% @doc inertd dropped the fdset `Gen' of `FD' because the VM closed the
%% fd: its record goes if it is still that interest's.
-spec closed(table(), non_neg_integer(), integer()) -> ok.
closed(Tab, FD, Gen) ->
    _ = ets:select_delete(Tab, [{pattern([{#rec.fd, FD}, {#rec.kind, fdset}, {#rec.ref, Gen}]), [], [true]}]),
    ok.

%% @doc inertd cleared the interest `IRef' of `FD', leaving `Left'. A
%% poll cleared whole is `{poll_ended, Pid}': its caller waits for an
%% answer nobody else will give (the record is the caller's to drop).
-spec cleared(table(), non_neg_integer(), mode() | none, integer() | reference()) ->
    ok | {poll_ended, pid()}.
cleared(Tab, FD, Left, IRef) ->
    case ets:lookup(Tab, FD) of
        [#rec{pid = Poller, kind = poll, ref = IRef}] when Left =:= none ->
            {poll_ended, Poller};
        [#rec{kind = Kind, ref = IRef} = Rec] when is_atom(Kind) ->
            _ = narrow(Tab, Rec, Left),
            ok;
        _ ->
            ok
    end.

%% @doc What inertd does for an fdclr of `Mode', done in the table while
%% none runs: `Mode' leaves the fdset record of `FD'; a poll waiting for
%% any of `Mode' ends (`{poll_ended, Pid, Ref}': its caller is to be
%% told).
-spec clear(table(), non_neg_integer(), mode()) -> ok | {poll_ended, pid(), reference()}.
clear(Tab, FD, Mode) ->
    case ets:lookup(Tab, FD) of
        [#rec{pid = Pid, mode = Armed, kind = poll, ref = Ref}] ->
            case minus(Armed, Mode) =/= Armed of
                true -> {poll_ended, Pid, Ref};
                false -> ok
            end;
        [#rec{mode = Armed, kind = fdset} = Rec] ->
            _ = narrow(Tab, Rec, minus(Armed, Mode)),
            ok;
        _ ->
            ok
    end.

%% @doc The records of a dead caller go.
-spec forget(table(), pid()) -> ok.
forget(Tab, Pid) ->
    _ = ets:match_delete(Tab, pattern([{#rec.pid, Pid}])),
    ok.

%% @doc Fold over the fdset records (what a restarted daemon is re-armed
%% with): `Fun(Rec, {FD, Pid, Mode, Gen}, Acc)'.
-spec fold_fdsets(fun((rec(), {non_neg_integer(), pid(), mode(), integer()}, Acc) -> Acc),
                  Acc, table()) -> Acc.
fold_fdsets(Fun, Acc0, Tab) ->
    ets:foldl(fun(#rec{fd = FD, pid = Pid, mode = Mode, kind = fdset, ref = Gen} = Rec, Acc) ->
                      Fun(Rec, {FD, Pid, Mode, Gen}, Acc);
                 (_, Acc) ->
                      Acc
              end, Acc0, Tab).

%% @doc Whether `Rec' is still the record of its fd, as it is.
-spec current(table(), rec()) -> boolean().
current(Tab, #rec{fd = FD} = Rec) ->
    ets:lookup(Tab, FD) =:= [Rec].

%% @doc The interests (not kept reasons), as `info' reports them.
-spec armed(table()) -> [{non_neg_integer(), mode(), pid(), fdset | poll}].
armed(Tab) ->
    lists:sort([{FD, Mode, Pid, Kind} || #rec{fd = FD, pid = Pid, mode = Mode, kind = Kind}
                                             <- ets:tab2list(Tab), is_atom(Kind)]).

%% @doc How many records the table holds.
-spec size(table()) -> non_neg_integer().
size(Tab) ->
    ets:info(Tab, size).

%% @doc Who holds `FD', and how: `[]' when nobody does.
-spec holders(table(), non_neg_integer()) -> [{pid(), mode(), kind()}].
holders(Tab, FD) ->
    [{Pid, Mode, Kind} || #rec{pid = Pid, mode = Mode, kind = Kind} <- ets:lookup(Tab, FD)].

%% A match pattern of records with the given fields ('_' elsewhere):
%% not a #rec{} with '_' fields, whose types say what a record holds.
pattern(Fields) ->
    lists:foldl(fun({Pos, Value}, Pat) -> setelement(Pos, Pat, Value) end,
                erlang:make_tuple(record_info(size, rec), '_', [{1, rec}]), Fields).

%% Old becomes New, if Old is still there as it is.
swap(Tab, Old, New) ->
    1 =:= ets:select_replace(Tab, [{Old, [], [{const, New}]}]).

%% Leave Left of the record Rec, if it is still there as it is.
narrow(Tab, Rec, none) ->
    ets:delete_object(Tab, Rec);
narrow(Tab, Rec, Left) ->
    swap(Tab, Rec, Rec#rec{mode = Left}).

-spec minus(mode(), read | write | read_write) -> mode() | none.
minus(_, read_write) -> none;
minus(read_write, read) -> write;
minus(read_write, write) -> read;
minus(Mode, Mode) -> none;
minus(Mode, _) -> Mode.
