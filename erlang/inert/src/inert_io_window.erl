%% @doc The windows of the I/O handles (`inert_io'): what a handle's
%% process shares with the processes that send on it and with the
%% service that relays inertd's entries, so that neither a send nor the
%% data of an `{active, true}' handle has to pass through the handle's
%% process.
%%
%% Sending.
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
%% Reading. The relay sends the data of an `io_data' entry either to the
%% handle's process, which takes its bytes off the handle's read credit
%% as it buffers them, or, while the route is direct, straight to the
%% owner as `{inert_io, H, Data}', taking the bytes off the credit
%% itself (so the credit inertd has is known here, and the handle's
%% process hears when it falls to half of its buffer). Each entry's
%% bytes come off once, where they go. The route is direct only while
%% the handle is `{active, true}' with nothing held and no framing to do
%% (a datagram, or a raw stream), and its owner's message queue is on
%% the heap (inert_io_srv: in_send_order/1). Its counter is twice the
%% entries sent to the handle's process and not handled by it yet, plus
%% 1 while direct: the handle's process turns it direct only
%% from 0 (compare-and-swap), so no entry sent straight can overtake one
%% still on its way through that process; it turns it back before it
%% acts on a change (setopts/2, controlling_process/2, the end) and then
%% waits for the service to have relayed what it had read (inert_srv:
%% sync/1), so that nothing goes straight to the owner after that.
%%
%% The row of a handle: `{Handle, Sock, Ref, Counter, Type, Packet,
%% SendQueue, Owner}'. The handle's process writes it (open/2,
%% set_packet/2, set_owner/2, forget/1 as it ends); the service clears it
%% with forget/1 when that process dies, as it is told (it monitors every
%% handle). The table belongs to inert_io_sup, which outlives every
%% handle.
%
% @private
-module(inert_io_window).

-export([new_table/0, open/2, set_packet/2, set_owner/2, forget/1]).
-export([send/2, sent/3, in_flight/1, reserve/2, release/2, raise/1, lower/1]).
-export([data/3, size_of/1, took/2, handled/1, credit/1, grant/2, set_half/2, go_direct/1,
         go_around/1]).

-export_type([counter/0, handle_info/0]).

-define(TABLE, ?MODULE).
%% The counters of a handle.
-define(SEND, 1).
-define(CREDIT, 2).
-define(ROUTE, 3).
-define(HALF, 4).
%% Above any send_queue (at most 64 MiB) plus any sum of sends within
%% one; the counter is signed 64-bit.
-define(GATE, (1 bsl 40)).
%% How long a sender waits for room on a full side channel before it
%% leaves its data to the handle's process (which retries).
-define(SIDE_WAIT_MS, 1000).

-opaque counter() :: atomics:atomics_ref().
-type handle_info() :: {socket:socket(), reference(), inert_io_frame:type(),
                        inert_io_frame:packet(), pos_integer(), pos_integer(), pid()}.

%% @doc Create the table (in inert_io_sup's process, which owns it).
-spec new_table() -> ok.
new_table() ->
    ?TABLE = ets:new(?TABLE, [set, public, named_table, {read_concurrency, true}]),
    ok.

%% @doc Handle `H' is open in inertd as `Ref' behind side channel
%% `Sock' (with no read credit yet): its row and its counters, with the
%% gate up (the handle's process lowers it when nothing is queued) and
%% the route through the handle's process.
-spec open(pid(), handle_info()) -> counter().
open(H, {Sock, Ref, Type, Packet, SQ, Buffer, Owner}) ->
    C = atomics:new(4, [{signed, true}]),
    ok = atomics:put(C, ?SEND, ?GATE),
    ok = set_half(C, Buffer),
    true = ets:insert(?TABLE, {H, Sock, Ref, C, Type, Packet, SQ, Owner}),
    C.

%% @doc The owner the direct route sends to (set while it is not direct).
-spec set_owner(pid(), pid()) -> ok.
set_owner(H, Owner) ->
    _ = ets:update_element(?TABLE, H, {8, Owner}),
    ok.

%% @doc The handle's `{packet, N}' changed (setopts/2).
-spec set_packet(pid(), inert_io_frame:packet()) -> ok.
set_packet(H, Packet) ->
    _ = ets:update_element(?TABLE, H, {6, Packet}),
    ok.

%% The row of handle `H', or [] (none, or no table in this node).
row(H) ->
    try
        ets:lookup(?TABLE, H)
    catch
        error:badarg -> []
    end.

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
    case row(H) of
        [{H, Sock, Ref, C, Type, Packet, SQ, _Owner}] ->
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
    case atomics:add_get(C, ?SEND, Size) =< SQ of
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
    case row(H) of
        [{H, _Sock, Ref, C, _Type, _Packet, _SQ, _Owner}] ->
            _ = atomics:sub_get(C, ?SEND, Bytes) >= ?GATE andalso (H ! {'$inert_io', Ref, sent}),
            ok;
        _ ->
            %% The handle is gone, or no table: nobody counts.
            ok
    end.

%% @doc The bytes in the window of a handle whose gate is up.
-spec in_flight(counter()) -> non_neg_integer().
in_flight(C) ->
    atomics:get(C, ?SEND) - ?GATE.

%% @doc The handle's process sends `Size' bytes (its gate is up): they
%% count before the request goes, as its io_sent may come first.
-spec reserve(counter(), non_neg_integer()) -> ok.
reserve(C, Size) ->
    atomics:add(C, ?SEND, Size).

%% @doc A request of `Size' bytes that did not go after all.
-spec release(counter(), non_neg_integer()) -> ok.
release(C, Size) ->
    atomics:sub(C, ?SEND, Size).

%% @doc Raise the gate: every send after this takes the handle's queue.
-spec raise(counter()) -> ok.
raise(C) ->
    atomics:add(C, ?SEND, ?GATE).

%% @doc Lower the gate: senders may write directly again.
-spec lower(counter()) -> ok.
lower(C) ->
    atomics:sub(C, ?SEND, ?GATE).

%% @doc inertd read `Chunks' for handle `H' (an `io_data' entry, in the
%% service's process): to the owner, their bytes off the read credit,
%% while the route is direct; else to the handle's process (which takes
%% them off as it buffers them, took/2).
-spec data(pid(), reference(), [binary()]) -> ok.
data(H, Ref, Chunks) ->
    case row(H) of
        [{H, _Sock, Ref, C, Type, _Packet, _SQ, Owner}] ->
            case atomics:get(C, ?ROUTE) of
                1 ->
                    Bytes = size_of(Chunks),
                    Left = atomics:sub_get(C, ?CREDIT, Bytes),
                    ok = to_owner(Owner, H, Type, Chunks),
                    Half = atomics:get(C, ?HALF),
                    _ = Left =< Half andalso Left + Bytes > Half andalso (H ! {'$inert_io', Ref, credit}),
                    ok;
                _ ->
                    atomics:add(C, ?ROUTE, 2),
                    H ! {'$inert_io', Ref, {data, Chunks}},
                    ok
            end;
        _ ->
            %% Its process is ending (or none is left): what it makes of
            %% it does not matter any more.
            H ! {'$inert_io', Ref, {data, Chunks}},
            ok
    end.

%% @doc The bytes of an `io_data' entry's chunks.
-spec size_of([binary()]) -> non_neg_integer().
size_of(Chunks) ->
    lists:foldl(fun(B, N) -> N + byte_size(B) end, 0, Chunks).

%% One message per datagram; the chunks of a raw stream as one, as the
%% handle's process would give them.
to_owner(Owner, H, datagram, Chunks) ->
    _ = [Owner ! {inert_io, H, B} || B <- Chunks],
    ok;
to_owner(Owner, H, stream, [B]) ->
    Owner ! {inert_io, H, B},
    ok;
to_owner(Owner, H, stream, Chunks) ->
    Owner ! {inert_io, H, iolist_to_binary(Chunks)},
    ok.

%% @doc The handle's process takes the `Bytes' of an entry the relay
%% sent it off the read credit, as it puts them in its buffer: the
%% credit it grants then counts every byte either held or not read yet,
%% including those of entries still on their way to it.
-spec took(counter(), non_neg_integer()) -> ok.
took(C, Bytes) ->
    atomics:sub(C, ?CREDIT, Bytes).

%% @doc The handle's process has handled one entry the relay sent it
%% (after it delivered what it could of it).
-spec handled(counter()) -> ok.
handled(C) ->
    atomics:sub(C, ?ROUTE, 2).

%% @doc The read credit inertd has and has not used (below 0 after a
%% read longer than what was left).
-spec credit(counter()) -> integer().
credit(C) ->
    atomics:get(C, ?CREDIT).

%% @doc The handle's process gives inertd `Bytes' more read credit
%% (or takes back a grant that did not go, with a negative `Bytes').
-spec grant(counter(), integer()) -> ok.
grant(C, Bytes) ->
    atomics:add(C, ?CREDIT, Bytes).

%% @doc The handle's buffer: the handle's process hears when the credit
%% falls to half of it while the route is direct.
-spec set_half(counter(), pos_integer()) -> ok.
set_half(C, Buffer) ->
    atomics:put(C, ?HALF, Buffer div 2).

%% @doc Make the route direct, if no entry is on its way through the
%% handle's process.
-spec go_direct(counter()) -> boolean().
go_direct(C) ->
    atomics:compare_exchange(C, ?ROUTE, 0, 1) =:= ok.

%% @doc Take the route back through the handle's process (it was
%% direct); then wait with inert_srv:sync/1 for what was on its way.
-spec go_around(counter()) -> ok.
go_around(C) ->
    atomics:sub(C, ?ROUTE, 1).
