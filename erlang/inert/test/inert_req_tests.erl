%% inert_req's encoding of one request of every row of PROTOCOL.md's
%% requests table, against protocol/testdata/inert_req.frames: the file
%% inertd's decoder is tested on (protocol/op_test.go,
%% TestOpTableMatchesInertReqFrames). The file is written by write/0
%% (`make req-frames'), never by hand; when inert_req's output changes,
%% these tests fail until the file is written again, and the Go test then
%% says whether inertd still reads every request as PROTOCOL.md says.
%%
%% The file is a sequence of {packet,4} frames (a big-endian 32-bit
%% length, then the bytes), in the order of samples/0. The pids and
%% references are of a fixed node (inert@frames, creation 1), so the
%% bytes do not depend on the node the tests run on; the encoding of
%% atoms is the running OTP's default (OTP 25: ATOM_EXT).
-module(inert_req_tests).

-include_lib("eunit/include/eunit.hrl").

-export([write/0]).

%% Write inert_req's frames into the file (`make req-frames').
write() ->
    File = frames_file(),
    ok = file:write_file(File, [<<(byte_size(F)):32, F/binary>> || {_, F} <- samples()]),
    io:format("wrote ~s~n", [File]).

%% One request of each PROTOCOL.md row, built and encoded by inert_req
%% as the service does, with distinct values in every field.
samples() ->
    P = pid(1), Dead = pid(2), NewOwner = pid(3),
    {ok, Spec} = inert_fdlib:spec(#{type => udp, addr => loopback, port => 5353, reuseaddr => true}),
    [{hello, inert_req:encode(inert_req:hello(P))},
     {fdset, inert_req:encode(inert_req:fdset(P, 42, 7, read, []))},
     {fdset_dead, inert_req:encode(inert_req:fdset(P, 43, 8, write, [Dead]))},
     {poll, inert_req:encode(inert_req:poll(P, ref(1), 9, read_write, []))},
     {poll_dead, inert_req:encode(inert_req:poll(P, ref(2), 10, read, [Dead]))},
     {fdclr, inert_req:encode(inert_req:fdclr(P, ref(3), 11, write))},
     {cancel, inert_req:encode(inert_req:cancel(ref(4), 12))},
     {down, inert_req:encode(inert_req:down(Dead))},
     {controlling_process, inert_req:encode(inert_req:controlling_process(P, ref(5), NewOwner))},
     {info, inert_req:encode(inert_req:info(P, ref(6)))},
     {dup, inert_req:encode(inert_req:dup(P, ref(7), 13))},
     {open, inert_req:encode(inert_req:open(P, ref(8), Spec))},
     {termios, inert_req:encode(inert_req:termios(P, ref(9), 14, #{speed => 115200, raw => true}))},
     {io_open, inert_req:encode(inert_req:io_open(P, ref(10), 15, stream, 65536, 262144))},
     {io_credit, inert_req:encode(inert_req:io_credit(P, ref(10), 131072))},
     {io_send, inert_req:encode(inert_req:io_send(P, ref(10), <<"hello">>))},
     {io_close, inert_req:encode(inert_req:io_close(P, ref(10)))},
     {ack, inert_req:ack(5)}].

-define(NODE, "inert@frames").

%% NEW_PID_EXT and NEWER_REFERENCE_EXT of node inert@frames.
pid(N) ->
    binary_to_term(<<131, 88, 100, (length(?NODE)):16, ?NODE, N:32, 0:32, 1:32>>).

ref(N) ->
    binary_to_term(<<131, 90, 3:16, 100, (length(?NODE)):16, ?NODE, 1:32, N:32, 0:32, 0:32>>).

%% This file is erlang/inert/test/ in the repository.
frames_file() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    Root = filename:dirname(filename:dirname(filename:dirname(filename:dirname(Source)))),
    filename:join([Root, "protocol", "testdata", "inert_req.frames"]).

read_frames() ->
    {ok, Bin} = file:read_file(frames_file()),
    split(Bin).

split(<<>>) -> [];
split(<<N:32, Frame:N/binary, Rest/binary>>) -> [Frame | split(Rest)].

%% The committed file is what inert_req writes now, frame by frame.
frames_file_is_inert_reqs_encoding_test() ->
    ?assertEqual(ok, compare(samples(), read_frames())).

compare(Samples, Frames) when length(Samples) =/= length(Frames) ->
    {stale, hint(), {samples, length(Samples)}, {frames_in_file, length(Frames)}};
compare(Samples, Frames) ->
    case [{Name, {inert_req, binary_to_term(W)}, {file, catch binary_to_term(H)}}
          || {{Name, W}, H} <- lists:zip(Samples, Frames), W =/= H] of
        [] -> ok;
        Stale -> {stale, hint(), Stale}
    end.

hint() ->
    "inert_req's encoding differs from protocol/testdata/inert_req.frames: "
    "run `make req-frames`, then `go test ./protocol/`".

%% Every request inert_req can build has a sample (a new constructor
%% without one would leave its frames untested by inertd's decoder).
every_request_constructor_has_a_sample_test() ->
    Constructors = [F || {F, _} <- inert_req:module_info(exports),
                         not lists:member(F, [encode, send, gone, module_info])],
    Sampled = [element(1, binary_to_term(F)) || {_, F} <- samples()],
    ?assertEqual([], lists:usort(Constructors) -- Sampled).
