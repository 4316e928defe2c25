%% @doc The send window of the I/O handles (`inert_io'), shared by a
%% handle's process, the processes that send on it and the service that
%% relays inertd's `io_sent' entries.
%%
%% A sender writes its `io_send' request on the side channel itself,
%% without a call to the handle's process, while the window has room;
%% otherwise it leaves the data to the handle's queue (`inert_io_srv').
%% What makes that safe is one `atomics' counter per handle: the bytes
%% handed to inertd and not reported written yet, plus `?GATE' while the
%% handle's process wants every send to come through it (senders queued,
%% close/1 waiting, the handle ended). A sender adds its size and goes
%% on only if the sum is within the window, so a gate raised at any
%% moment is seen by every send that comes after it, and the handle's
%% process, once its gate is up, counts exactly the sends that went
%% before (a sender that added and then saw the gate takes its size back
%% before it calls the handle's process).
%%
%% The row of a handle: `{Handle, Sock, Ref, Counter, Type, Packet,
%% SendQueue}'. The handle's process writes it (open/2, set_packet/2,
%% forget/1 as it ends); the service clears it with forget/1 when that
%% process dies, as it is told (it monitors every handle). The table
%% belongs to inert_io_sup, which outlives every handle.
%
% @private
-module(inert_io_window).

-export([new_table/0, open/2, set_packet/2, forget/1]).
-export([send/2, sent/3, in_flight/1, reserve/2, release/2, raise/1, lower/1]).

-export_type([counter/0, handle_info/0]).

-define(TABLE, ?MODULE).
%% Above any send_queue (at most 64 MiB) plus any sum of sends within
%% one; the counter is signed 64-bit.
-define(GATE, (1 bsl 40)).
%% How long a sender waits for room on a full side channel before it
%% leaves its data to the handle's process (which retries).
-define(SIDE_WAIT_MS, 1000).

-opaque counter() :: atomics:atomics_ref().
-type handle_info() :: {socket:socket(), reference(), inert_io_frame:type(),
                        inert_io_frame:packet(), pos_integer()}.

%% @doc Create the table (in inert_io_sup's process, which owns it).
-spec new_table() -> ok.
new_table() ->
    ?TABLE = ets:new(?TABLE, [set, public, named_table, {read_concurrency, true}]),
    ok.

%% @doc Handle `H' is open in inertd as `Ref' behind side channel
%% `Sock': its row and its counter, with the gate up (the handle's
%% process lowers it when nothing is queued).
-spec open(pid(), handle_info()) -> counter().
open(H, {Sock, Ref, Type, Packet, SQ}) ->
    C = atomics:new(1, [{signed, true}]),
    ok = atomics:put(C, 1, ?GATE),
    true = ets:insert(?TABLE, {H, Sock, Ref, C, Type, Packet, SQ}),
    C.

%% @doc The handle's `{packet, N}' changed (setopts/2).
-spec set_packet(pid(), inert_io_frame:packet()) -> ok.
set_packet(H, Packet) ->
    _ = ets:update_element(?TABLE, H, {6, Packet}),
    ok.

%% @doc The handle is gone: direct sends stop.
-spec forget(pid()) -> ok.
forget(H) ->
    try ets:delete(?TABLE, H) of
        true -> ok
    catch
        %% No I/O handles in this node (inert_io_sup not running).
        error:badarg -> ok
    end.

%% @doc Send `Data' on handle `H' from the caller's process: `ok' once
%% inertd has the request, an error of the data itself, or `queue' when
%% the handle's process must take it (the window is full or gated, the
%% data needs more than one request, the handle is unknown here).
-spec send(pid(), iodata()) -> ok | queue | {error, einval | emsgsize}.
send(H, Data) ->
    case ets:lookup(?TABLE, H) of
        [{H, Sock, Ref, C, Type, Packet, SQ}] ->
            case inert_io_frame:out(Data, Type, Packet, SQ) of
                {ok, Bin} ->
                    %% An empty stream send is the queue's to answer
                    %% (ok, or closed once the handle ended).
                    Size = byte_size(Bin),
                    case Size > 0 andalso Size =< inert_io_frame:max_send() of
                        true -> direct(H, Sock, Ref, C, SQ, Bin);
                        false -> queue
                    end;
                {error, _} = Error ->
                    Error
            end;
        [] ->
            queue
    end.

direct(H, Sock, Ref, C, SQ, Bin) ->
    Size = byte_size(Bin),
    case atomics:add_get(C, 1, Size) =< SQ of
        true ->
            Req = inert_req:io_send(H, Ref, Bin),
            case inert_req:send(Sock, Req, none, inert_deadline:at(?SIDE_WAIT_MS)) of
                ok ->
                    ok;
                {error, _} ->
                    %% A full or closed side channel: the handle's
                    %% process retries, or learns that inertd is gone.
                    back_out(C, Size)
            end;
        false ->
            back_out(C, Size)
    end.

back_out(C, Size) ->
    ok = release(C, Size),
    queue.

%% @doc inertd wrote `Bytes' of handle `H' (an `io_sent' entry, in the
%% service's process): they leave the window, and the handle's process
%% hears of it when its gate is up (it has sends queued or waits to
%% close).
-spec sent(pid(), reference(), non_neg_integer()) -> ok.
sent(H, Ref, Bytes) ->
    case ets:lookup(?TABLE, H) of
        [{H, _Sock, Ref, C, _Type, _Packet, _SQ}] ->
            _ = atomics:sub_get(C, 1, Bytes) >= ?GATE andalso (H ! {'$inert_io', Ref, sent}),
            ok;
        _ ->
            %% The handle is gone, or no table: nobody counts.
            ok
    end.

%% @doc The bytes in the window of a handle whose gate is up.
-spec in_flight(counter()) -> non_neg_integer().
in_flight(C) ->
    atomics:get(C, 1) - ?GATE.

%% @doc The handle's process sends `Size' bytes (its gate is up): they
%% count before the request goes, as its io_sent may come first.
-spec reserve(counter(), non_neg_integer()) -> ok.
reserve(C, Size) ->
    atomics:add(C, 1, Size).

%% @doc A request of `Size' bytes that did not go after all.
-spec release(counter(), non_neg_integer()) -> ok.
release(C, Size) ->
    atomics:sub(C, 1, Size).

%% @doc Raise the gate: every send after this takes the handle's queue.
-spec raise(counter()) -> ok.
raise(C) ->
    atomics:add(C, 1, ?GATE).

%% @doc Lower the gate: senders may write directly again.
-spec lower(counter()) -> ok.
lower(C) ->
    atomics:sub(C, 1, ?GATE).
