%% EUnit: the framing of I/O handles (inert_io_frame), pure functions.
-module(inert_io_frame_tests).

-include_lib("eunit/include/eunit.hrl").

stream(P) -> inert_io_frame:new(stream, P, 1000).

%% Everything a raw stream holds is one message, in order of the reads.
raw_take_gives_every_byte_held_test() ->
    F0 = inert_io_frame:push([<<"ab">>, <<"c">>], stream(raw)),
    F1 = inert_io_frame:push([<<"de">>], F0),
    ?assertEqual(5, inert_io_frame:size(F1)),
    {ok, <<"abcde">>, F2} = inert_io_frame:take(F1),
    ?assert(inert_io_frame:is_empty(F2)),
    ?assertEqual(more, inert_io_frame:take(F2)).

%% take/2 gives exactly Length bytes, and waits for them.
raw_take_length_is_exact_test() ->
    F0 = inert_io_frame:push([<<"abcdef">>], stream(raw)),
    {ok, <<"abc">>, F1} = inert_io_frame:take(3, F0),
    ?assertEqual(more, inert_io_frame:take(4, F1)),
    ?assertEqual(4, inert_io_frame:need(4, F1)),
    {ok, <<"def">>, _} = inert_io_frame:take(3, F1).

%% {packet, N}: whole packets without the header, however the reads cut
%% them; an incomplete one waits and says how much it needs.
packet_headers_cut_anywhere_test_() ->
    [fun() ->
         Wire = <<5:Bits, "hello", 0:Bits, 3:Bits, "abc">>,
         Cuts = [[B] || <<B:1/binary>> <= Wire],
         F = lists:foldl(fun inert_io_frame:push/2, stream(N), Cuts),
         {ok, <<"hello">>, F1} = inert_io_frame:take(F),
         {ok, <<>>, F2} = inert_io_frame:take(F1),
         {ok, <<"abc">>, F3} = inert_io_frame:take(F2),
         ?assertEqual(more, inert_io_frame:take(F3))
     end || N <- [1, 2, 4], Bits <- [N * 8]].

packet_incomplete_needs_header_and_body_test() ->
    F0 = inert_io_frame:push([<<0, 0, 0>>], stream(4)),
    ?assertEqual(more, inert_io_frame:take(F0)),
    ?assertEqual(4, inert_io_frame:need(0, F0)),
    F1 = inert_io_frame:push([<<10, "abc">>], F0),
    ?assertEqual(more, inert_io_frame:take(F1)),
    ?assertEqual(14, inert_io_frame:need(0, F1)).

%% A packet longer than packet_size is an error, before its body comes.
packet_too_long_is_emsgsize_test() ->
    F = inert_io_frame:push([<<1001:16>>], inert_io_frame:new(stream, 2, 1000)),
    ?assertEqual({error, emsgsize}, inert_io_frame:take(F)),
    Ok = inert_io_frame:push([<<1000:16>>], inert_io_frame:new(stream, 2, 1000)),
    ?assertEqual(more, inert_io_frame:take(Ok)).

%% Datagrams: each chunk is one message, an empty one included, whatever
%% the length asked.
datagram_each_chunk_is_a_message_test() ->
    F0 = inert_io_frame:push([<<"one">>, <<>>, <<"three">>], inert_io_frame:new(datagram, raw, 1000)),
    ?assertEqual(8, inert_io_frame:size(F0)),
    {ok, <<"one">>, F1} = inert_io_frame:take(100, F0),
    {ok, <<>>, F2} = inert_io_frame:take(F1),
    ?assertNot(inert_io_frame:is_empty(F2)),
    {ok, <<"three">>, F3} = inert_io_frame:take(F2),
    ?assert(inert_io_frame:is_empty(F3)),
    ?assertEqual(more, inert_io_frame:take(F3)).

%% set_packet reads what is held with the new packet type; clear drops it.
set_packet_and_clear_test() ->
    F0 = inert_io_frame:push([<<2, "hi", "rest">>], stream(raw)),
    {ok, <<"hi">>, F1} = inert_io_frame:take(inert_io_frame:set_packet(1, F0)),
    ?assertEqual(4, inert_io_frame:size(F1)),
    F2 = inert_io_frame:clear(F1),
    ?assert(inert_io_frame:is_empty(F2)).

header_test() ->
    ?assertEqual({ok, 258, <<"x">>}, inert_io_frame:header(2, <<1, 2, "x">>)),
    ?assertEqual(more, inert_io_frame:header(4, <<0, 0, 1>>)).
