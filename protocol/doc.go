// Package protocol is inertd's side of the wire protocol written down in
// PROTOCOL.md: the Erlang external term format (ETF) of requests and
// entries, the {packet,4} framing of stdio, and the fd side channel.
//
// It owns the wire format on the Go side: every request, entry and
// handover is decoded or encoded here and nowhere else, and the operation
// table (op.go) is the one list of requests. It holds no daemon state and
// decides no answer (that is the driver's); it must not log or write to
// stdout.
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
//     for tests and tools. Both read the operation table in op.go, as does
//     Op.String.
//   - The Append* functions (etf_encode.go) write terms byte for byte as
//     OTP's term_to_binary(T, [{minor_version, 2}]) does.
//   - Batch (batch.go) builds one stdout frame of entries, one method per
//     entry of PROTOCOL.md.
//   - FrameReader and AppendFrame (frame.go) split and write {packet,4}
//     frames.
//   - AppendHandover (request_encode.go) writes the {fd, Pid, Ref} message
//     inertd sends with each fd it hands to the VM (dup and open), and
//     AppendHandoverInfo the {fd, Pid, Ref, Info} of a device open (a TUN
//     interface's name, a pty's path); OpenSpec is the decoded Spec of an
//     open request (spec_decode.go), Termios the line settings of a pty
//     open or a termios request.
//
// # Passing fds between processes
//
// SendFDs and RecvFDs (sidechannel_net.go) are the package's API for Go
// programs that pass fds over any unix socket they hold as a
// *net.UnixConn: "unix" (stream), "unixpacket" (seqpacket) or "unixgram".
// The other end can be another Go program or an Erlang VM, which uses
// inert_fd:send/3 and inert_fd:recv/3 (plain OTP socket, sendmsg and
// recvmsg with a rights control message). Both ends follow the same rules:
//
//   - SendFDs(conn, payload, fds...) sends payload with every fd in one
//     SCM_RIGHTS control message; the fds stay open in the sender, the
//     receiver gets its own. An empty payload with fds goes out as one
//     zero byte (a stream socket carries no fds without data).
//   - RecvFDs(conn, buf, maxFDs) receives one message and at most maxFDs
//     fds, close-on-exec, which the caller owns. A message with more fds,
//     with control data that was cut short or is not SCM_RIGHTS, or whose
//     payload did not fit: every fd it brought is closed before RecvFDs
//     returns ErrTooManyFDs, ErrUnexpectedControl or ErrMsgTruncated. So
//     a received fd is always either the caller's or closed.
//   - Both block like conn.Read and conn.Write and honour their deadlines.
//
// To hand over a socket a Go program holds without duplicating it, send
// its fd from inside (syscall.RawConn).Control, and close the socket
// afterwards: examples/fdpass/handoff does this with a TCP listener.
//
// Listener and Conn are the daemon's side channel: non-blocking, raw fds
// for an event loop, with Recv and Send that return unix.EAGAIN.
//
// testdata/golden holds term_to_binary output from OTP 25, written by
// testdata/gen_golden.escript; the tests compare the codec with it and
// with an independent codec (github.com/ergo-services/ergo/etf, tests
// only), and fuzz targets check that no input makes it panic or grow.
package protocol
