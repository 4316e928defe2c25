//go:build unix && !linux

package protocol

import "golang.org/x/sys/unix"

// recvmsgConn is recvmsg(2) on a connected socket. Outside Linux it is
// unix.Recvmsg, which allocates the sender's address on each call.
func recvmsgConn(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, err error) {
	n, oobn, recvflags, _, err = unix.Recvmsg(fd, p, oob, flags)
	return n, oobn, recvflags, err
}
