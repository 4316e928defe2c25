// Package protocol is inertd's side of the wire protocol written down in
// PROTOCOL.md: the Erlang external term format (ETF) of requests and
// entries, the {packet,4} framing of stdio, and the fd side channel.
//
// The codec is hand-written for the few shapes the protocol has and runs
// on bytes from the VM, so it is bounded on any input: it never allocates
// from a length field and never recurses.
//
//   - Decoder (etf_decode.go) is a cursor over one buffer: typed readers
//     for tuples, lists, maps, atoms, integers, pids, references and
//     binaries, and Skip for any other term. Errors are *DecodeError values
//     carrying an offset and one of the Err* sentinels.
//   - ParseRequest (request_decode.go) decodes one request into a Request
//     without allocating; AppendRequest (request_encode.go) is its inverse
//     for tests and tools.
//   - The Append* functions (etf_encode.go) write terms byte for byte as
//     OTP's term_to_binary(T, [{minor_version, 2}]) does.
//   - Batch (batch.go) builds one stdout frame of entries, one method per
//     entry of PROTOCOL.md.
//   - FrameReader and AppendFrame (frame.go) split and write {packet,4}
//     frames.
//
// testdata/golden holds term_to_binary output from OTP 25, written by
// testdata/gen_golden.escript; the tests compare the codec with it and
// with an independent codec (github.com/ergo-services/ergo/etf, tests
// only), and fuzz targets check that no input makes it panic or grow.
package protocol
