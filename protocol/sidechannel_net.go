//go:build unix

package protocol

import (
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/retry"
)

// SendFDs sends payload and, in one SCM_RIGHTS control message, fds over a
// unix socket of any type ("unix", "unixpacket" or "unixgram", for instance
// one the VM connects to with socket:open(local, ...)). It blocks like
// conn.Write and honours its deadline. The fds stay open in the caller; the
// receiver gets its own copies. On a stream socket the fds go with the first
// byte and a payload the kernel takes only in part is finished with
// conn.Write. An empty payload with fds goes out as one zero byte.
func SendFDs(conn *net.UnixConn, payload []byte, fds ...int) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	var n int
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = retry.Retry(func() (err error) {
			n, err = unix.SendmsgN(int(fd), payload, oob, nil, 0)
			return err
		})
		return serr != unix.EAGAIN // EAGAIN: wait until writable
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("sendmsg", serr)
	}
	if n < len(payload) {
		_, err = conn.Write(payload[n:])
	}
	return err
}

// RecvFDs reads one message into payload, with at most maxFDs fds; on a
// stream socket, the bytes waiting (the kernel does not join the bytes of
// two sends when the second carries fds). It blocks
// like conn.Read and honours its deadline. The fds returned are
// close-on-exec and belong to the caller.
//
// It keeps the rules of Conn.Recv: if the message carries more than maxFDs
// fds, other control data, or was truncated, every fd that came with it is
// closed and ErrTooManyFDs, ErrUnexpectedControl or ErrMsgTruncated is
// returned, with n and payload[:n] still set. A peer that
// closed the connection gives io.EOF.
func RecvFDs(conn *net.UnixConn, payload []byte, maxFDs int) (n int, fds []int, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	maxFDs = max(maxFDs, 0)
	oob := make([]byte, unix.CmsgSpace(4*maxFDs))
	fds = make([]int, maxFDs)
	var nfds int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, nfds, rerr = recvmsg(int(fd), payload, oob, fds)
		return rerr != unix.EAGAIN // EAGAIN: wait until readable
	})
	if err == nil {
		err = rerr
	}
	if nfds == 0 {
		fds = nil
	}
	return n, fds[:nfds], err
}
