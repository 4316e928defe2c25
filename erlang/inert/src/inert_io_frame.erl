%% @doc The framing of I/O handles (`inert_io'): the bytes a handle has
%% read and not delivered yet, and how they are cut into messages.
%%
%% `datagram': every read is one message, kept as it came. `stream':
%% the reads are one byte stream, cut by the `packet' option: `raw'
%% (whatever is there, or exactly `Length' bytes for `recv/3'), or
%% `1 | 2 | 4' (a big-endian length header of that many bytes, then the
%% packet; what is delivered is the packet without its header, as
%% `gen_tcp' does). A packet longer than `packet_size' is an error
%% (`emsgsize'), so that a peer cannot make the buffer grow without
%% bound.
%%
%% Pure functions on a value: no process, no message, no I/O.
%
% @private
-module(inert_io_frame).

-export([new/3, push/2, take/1, take/2, size/1, is_empty/1, need/2, header/2,
         set_packet/2, clear/1]).
-export([out/4, max_send/0]).

-export_type([frame/0, type/0, packet/0]).

-type type() :: stream | datagram.
-type packet() :: raw | 1 | 2 | 4.

-record(frame, {
    type :: type(),
    packet :: packet(),
    max :: pos_integer(),
    %% stream: the bytes, in order; datagram: the messages, in order
    buf = <<>> :: binary(),
    msgs = queue:new() :: queue:queue(binary()),
    size = 0 :: non_neg_integer()
}).

-opaque frame() :: #frame{}.

%% The largest Data of one io_send request (PROTOCOL.md).
-define(MAX_SEND, 60000).

%% @doc An empty buffer; `Max' is the largest packet (`packet_size').
-spec new(type(), packet(), pos_integer()) -> frame().
new(Type, Packet, Max) ->
    #frame{type = Type, packet = Packet, max = Max}.

%% @doc Change the packet type of a stream (what is buffered is read with
%% the new one).
-spec set_packet(packet(), frame()) -> frame().
set_packet(Packet, F) ->
    F#frame{packet = Packet}.

%% @doc Add the chunks of one `io_data' entry, in order.
-spec push([binary()], frame()) -> frame().
push(Chunks, #frame{type = datagram, msgs = Q, size = S} = F) ->
    {Q1, S1} = lists:foldl(fun(C, {Qa, Sa}) -> {queue:in(C, Qa), Sa + byte_size(C)} end,
                           {Q, S}, Chunks),
    F#frame{msgs = Q1, size = S1};
push(Chunks, #frame{buf = Buf} = F) ->
    %% Appending to a binary grows it in place (no copy of what is held).
    Bin = lists:foldl(fun(C, Acc) -> <<Acc/binary, C/binary>> end, Buf, Chunks),
    F#frame{buf = Bin, size = byte_size(Bin)}.

%% @doc Drop everything held.
-spec clear(frame()) -> frame().
clear(F) ->
    F#frame{buf = <<>>, msgs = queue:new(), size = 0}.

%% @doc The bytes held.
-spec size(frame()) -> non_neg_integer().
size(#frame{size = S}) -> S.

%% @doc Whether nothing is held (for a datagram buffer: no message, not
%% even an empty one).
-spec is_empty(frame()) -> boolean().
is_empty(#frame{type = datagram, msgs = Q}) -> queue:is_empty(Q);
is_empty(#frame{size = S}) -> S =:= 0.

%% @doc The next message: a datagram, a packet, or (`raw') every byte
%% held. `more' when there is none yet; `{error, emsgsize}' when the
%% next packet is longer than the largest allowed.
-spec take(frame()) -> {ok, binary(), frame()} | more | {error, emsgsize}.
take(#frame{type = datagram, msgs = Q, size = S} = F) ->
    case queue:out(Q) of
        {{value, M}, Q1} -> {ok, M, F#frame{msgs = Q1, size = S - byte_size(M)}};
        {empty, _} -> more
    end;
take(#frame{packet = raw, size = 0}) ->
    more;
take(#frame{packet = raw, buf = Buf} = F) ->
    {ok, Buf, F#frame{buf = <<>>, size = 0}};
take(#frame{packet = N, buf = Buf, max = Max} = F) ->
    case header(N, Buf) of
        {ok, Len, _} when Len > Max ->
            {error, emsgsize};
        {ok, Len, Rest} when byte_size(Rest) >= Len ->
            <<Packet:Len/binary, Tail/binary>> = Rest,
            {ok, Packet, F#frame{buf = Tail, size = byte_size(Tail)}};
        _ ->
            more
    end.

%% @doc Exactly `Length' bytes of a stream (`0': as `take/1'); of a
%% datagram buffer, the next message, whatever its length.
-spec take(non_neg_integer(), frame()) -> {ok, binary(), frame()} | more | {error, emsgsize}.
take(0, F) ->
    take(F);
take(_Length, #frame{type = datagram} = F) ->
    take(F);
take(Length, #frame{buf = Buf} = F) when byte_size(Buf) >= Length ->
    <<Bytes:Length/binary, Tail/binary>> = Buf,
    {ok, Bytes, F#frame{buf = Tail, size = byte_size(Tail)}};
take(_Length, _F) ->
    more.

%% @doc How many bytes the buffer must hold before `take(Length, F)' can
%% give something: what is held when it already can, the whole packet
%% (header included) while one is incomplete.
-spec need(non_neg_integer(), frame()) -> non_neg_integer().
need(_Length, #frame{type = datagram, size = S}) ->
    S + 1;
need(0, #frame{packet = raw, size = S}) ->
    S + 1;
need(0, #frame{packet = N, buf = Buf}) ->
    case header(N, Buf) of
        {ok, Len, _} -> N + Len;
        more -> N
    end;
need(Length, _F) ->
    Length.

%% @doc The length header of a `{packet, N}' stream: the packet's length
%% and the bytes after the header, or `more' when the header is not whole.
-spec header(1 | 2 | 4, binary()) -> {ok, non_neg_integer(), binary()} | more.
header(N, Buf) ->
    Bits = N * 8,
    case Buf of
        <<Len:Bits/big-unsigned, Rest/binary>> -> {ok, Len, Rest};
        _ -> more
    end.

%% @doc The largest data of one `io_send' request: a datagram is at most
%% this long, a longer stream send goes in pieces of it.
-spec max_send() -> 60000.
max_send() ->
    ?MAX_SEND.

%% @doc Data as it goes to inertd for a handle of `Type' and `Packet'
%% whose send queue holds `SendQueue' bytes: a datagram whole, a `{packet,
%% N}' stream with its length header, a raw stream as it is.
-spec out(iodata(), type(), packet(), pos_integer()) -> {ok, binary()} | {error, einval | emsgsize}.
out(Data, Type, Packet, SendQueue) ->
    try iolist_to_binary(Data) of
        Bin -> out_bin(Bin, Type, Packet, SendQueue)
    catch
        error:badarg -> {error, einval}
    end.

out_bin(Bin, datagram, _Packet, SQ) when byte_size(Bin) > ?MAX_SEND; byte_size(Bin) > SQ ->
    {error, emsgsize};
out_bin(Bin, datagram, _Packet, _SQ) ->
    {ok, Bin};
out_bin(Bin, stream, raw, _SQ) ->
    {ok, Bin};
out_bin(Bin, stream, N, _SQ) when byte_size(Bin) < 1 bsl (N * 8) ->
    Bits = N * 8,
    {ok, <<(byte_size(Bin)):Bits/big, Bin/binary>>};
out_bin(_Bin, stream, _N, _SQ) ->
    {error, emsgsize}.
