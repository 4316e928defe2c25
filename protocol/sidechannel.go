//go:build unix

// The fd side channel (PROTOCOL.md "Channels"; docs/contract.md, "File descriptors"): the VM connects to
// a SOCK_SEQPACKET unix socket that inertd listens on and sends one request
// per message, with the fds of the request in one SCM_RIGHTS control message.
//
// Listener and Conn are raw, non-blocking fds so that the daemon can put them
// in its own epoll/kqueue loop; they are meant to be used from that one loop
// (one goroutine) and are not safe for concurrent use.
//
// SOCK_SEQPACKET unix sockets are a Linux (and FreeBSD) feature: macOS does
// not support them, and socket(2) fails there at run time. The code builds on
// every unix so that the tree compiles for darwin and freebsd; only Linux is
// tested.

package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/retry"
)

const (
	// SocketName is the name of the side channel socket in its directory.
	SocketName = "side.sock"

	// MaxFDsPerMessage is how many fds Conn.Recv can take from one message:
	// the size of its control buffer. The kernel truncates control data
	// carrying more; the fds that did arrive are closed and Recv returns
	// ErrTooManyFDs.
	MaxFDsPerMessage = 16

	// sideBacklog is small: exactly one peer (the VM) is ever accepted.
	sideBacklog = 8
)

// Errors of Recv and RecvFDs that break a message's fd rules (docs/contract.md, "File descriptors").
// When Recv returns one of them it has closed every fd that came with the
// message (nfds is 0); n and buf[:n] still hold the payload, so the caller can
// answer the request with einval if it can read it.
var (
	// ErrMsgTruncated: the payload did not fit in buf (MSG_TRUNC); on a
	// SOCK_SEQPACKET socket the rest of the message is lost.
	ErrMsgTruncated = errors.New("protocol: message truncated")
	// ErrTooManyFDs: the message carried more fds than the caller can
	// take: more than its fds slice holds, or more than the control buffer
	// holds (MSG_CTRUNC; the kernel closes the fds it could not deliver).
	ErrTooManyFDs = errors.New("protocol: too many fds in message")
	// ErrUnexpectedControl: a control message other than SCM_RIGHTS, or
	// control data that does not parse.
	ErrUnexpectedControl = errors.New("protocol: unexpected control message")
)

// PeerError is returned by Accept for a peer that is not the expected
// process. Accept has closed the peer's connection; the listener stays
// usable, so the caller logs the error and keeps listening.
type PeerError struct {
	PID  int // the peer's pid; -1 where the OS does not report it (FreeBSD)
	UID  int // the peer's uid
	Want int // the pid Accept was asked for
}

func (e *PeerError) Error() string {
	if e.PID < 0 {
		return fmt.Sprintf("protocol: side channel peer has uid %d, not ours (%d); want pid %d, which this OS does not report",
			e.UID, os.Getuid(), e.Want)
	}
	return fmt.Sprintf("protocol: side channel peer is pid %d (uid %d), want pid %d", e.PID, e.UID, e.Want)
}

// A Listener is the listening side channel socket.
type Listener struct {
	fd   int
	path string
	dir  string // made by ListenTemp and removed by Close; "" otherwise
}

// Listen creates the side channel socket dir/side.sock (AF_UNIX,
// SOCK_SEQPACKET, close-on-exec, non-blocking) and listens on it. dir should
// be private to the user (mode 0700): the socket file's own mode is not
// relied on.
func Listen(dir string) (*Listener, error) {
	path := filepath.Join(dir, SocketName)
	fd, err := sideSocket()
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "bind", Path: path, Err: err}
	}
	if err := unix.Listen(fd, sideBacklog); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, &os.PathError{Op: "listen", Path: path, Err: err}
	}
	return &Listener{fd: fd, path: path}, nil
}

// ListenTemp makes a fresh directory of mode 0700 in os.TempDir() ($TMPDIR)
// and listens on side.sock in it. Close removes both.
func ListenTemp() (*Listener, error) {
	dir, err := os.MkdirTemp("", "inertd-")
	if err != nil {
		return nil, err
	}
	l, err := Listen(dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	l.dir = dir
	return l, nil
}

// Path is the socket's file name, for the ready frame.
func (l *Listener) Path() string { return l.path }

// FD is the listening fd, for the caller's poll set: it is readable when a
// peer is waiting to be accepted.
func (l *Listener) FD() int { return l.fd }

// Close closes the listening fd and removes the socket file and, for a
// listener made by ListenTemp, its directory. Connections already accepted
// stay open. No peer can connect afterwards.
func (l *Listener) Close() error {
	if l.fd < 0 {
		return os.ErrClosed
	}
	err := unix.Close(l.fd)
	l.fd = -1
	if err != nil {
		err = os.NewSyscallError("close", err)
	}
	if rerr := os.Remove(l.path); err == nil {
		err = rerr
	}
	if l.dir != "" {
		if rerr := os.Remove(l.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// Accept takes one waiting connection and checks that the peer is process
// wantPID (SO_PEERCRED on Linux, LOCAL_PEERPID on macOS; on FreeBSD, where
// x/sys/unix offers no peer pid, the peer's uid must be ours instead).
//
// Outcomes:
//   - a *Conn: the peer is wantPID;
//   - a *PeerError: the peer is another process; its connection is closed;
//   - unix.EAGAIN, unwrapped: nobody is waiting; wait for FD to be readable;
//   - any other error from accept or getsockopt, wrapped in *os.SyscallError.
func (l *Listener) Accept(wantPID int) (*Conn, error) {
	var fd int
	err := retry.Retry(func() (err error) {
		fd, err = sideAccept(l.fd)
		return err
	})
	if err != nil {
		return nil, sysErr("accept", err)
	}
	pid, uid, err := peerCred(fd)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockopt", err)
	}
	if (peerHasPID && pid != wantPID) || (!peerHasPID && uid != os.Getuid()) {
		unix.Close(fd)
		return nil, &PeerError{PID: pid, UID: uid, Want: wantPID}
	}
	return newConn(fd), nil
}

// A Conn is a connected side channel socket.
type Conn struct {
	fd  int
	oob []byte // control buffer, reused by every Recv
}

// newConn wraps the connected, non-blocking, close-on-exec socket fd.
func newConn(fd int) *Conn {
	return &Conn{fd: fd, oob: make([]byte, unix.CmsgSpace(4*MaxFDsPerMessage))}
}

// FD is the connected fd, for the caller's poll set.
func (c *Conn) FD() int { return c.fd }

// Close closes the connection.
func (c *Conn) Close() error {
	if c.fd < 0 {
		return os.ErrClosed
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return sysErr("close", err)
}

// Recv reads one message with a single non-blocking recvmsg: the payload
// into buf, the fds that came with it into fds (close-on-exec, owned by the
// caller from then on). On Linux it does not allocate.
//
// Outcomes:
//   - n, nfds, nil: a message of n bytes with fds[:nfds];
//   - ErrMsgTruncated, ErrTooManyFDs, ErrUnexpectedControl:
//     the message broke the rules of docs/contract.md ("File descriptors"); every fd it carried is closed,
//     nfds is 0, buf[:n] holds the payload as far as it fitted;
//   - io.EOF: the peer closed the connection (a zero-length message
//     without fds reads the same way, so senders never send one);
//   - unix.EAGAIN, unwrapped: no message yet; wait for FD to be readable;
//   - any other error from recvmsg, wrapped in *os.SyscallError.
func (c *Conn) Recv(buf []byte, fds []int) (n, nfds int, err error) {
	return recvmsg(c.fd, buf, c.oob, fds)
}

// Send sends b as one message with one non-blocking sendmsg, with fds (if
// any) in one SCM_RIGHTS control message. The fds stay open in the caller.
// unix.EAGAIN is returned unwrapped when the socket buffer is full. If b is
// empty and fds is not, one zero byte is sent in its place, as
// unix.Sendmsg does on sockets that are not SOCK_DGRAM.
func (c *Conn) Send(b []byte, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return sysErr("sendmsg", retry.Retry(func() error {
		return unix.Sendmsg(c.fd, b, oob, nil, 0)
	}))
}

// recvmsg reads one message from the non-blocking socket fd, using oob as
// the control buffer; see Conn.Recv for the outcomes.
func recvmsg(fd int, buf, oob []byte, fds []int) (n, nfds int, err error) {
	if !recvCloexec {
		// No MSG_CMSG_CLOEXEC on this OS: hold off fork+exec in other
		// goroutines (os/exec takes ForkLock) until takeRights has
		// marked the received fds close-on-exec.
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
	}
	var oobn, flags int
	err = retry.Retry(func() (err error) {
		n, oobn, flags, err = recvmsgConn(fd, buf, oob, recvFlags)
		return err
	})
	if err != nil {
		return 0, 0, sysErr("recvmsg", err)
	}
	nfds, err = takeRights(oob[:oobn], fds)
	switch {
	case flags&unix.MSG_TRUNC != 0:
		err = ErrMsgTruncated
	case flags&unix.MSG_CTRUNC != 0 && err == nil:
		// Only SCM_RIGHTS was seen, so what did not fit were fds.
		// (SCM_CREDENTIALS and the like come only to sockets that
		// asked for them with SO_PASSCRED, SO_PASSSEC...)
		err = ErrTooManyFDs
	}
	if err != nil {
		closeFDs(fds[:nfds])
		return n, 0, err
	}
	if n == 0 && nfds == 0 {
		return 0, 0, io.EOF
	}
	return n, nfds, nil
}

// takeRights walks the control messages in oob and moves the fds of its
// SCM_RIGHTS messages into fds. Every fd found is either stored in fds or,
// when fds is full, closed at once (ErrTooManyFDs); the caller closes
// fds[:nfds] if err is not nil.
func takeRights(oob []byte, fds []int) (nfds int, err error) {
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, perr := unix.ParseOneSocketControlMessage(oob)
		if perr != nil {
			// Bad lengths from the kernel: there is nothing more to parse.
			return nfds, ErrUnexpectedControl
		}
		oob = rest
		if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_RIGHTS {
			// No fds in it (SCM_CREDENTIALS and the like), but the rest
			// of oob may hold some: keep walking to close them.
			err = ErrUnexpectedControl
			continue
		}
		for ; len(data) >= 4; data = data[4:] {
			fd := int(int32(binary.NativeEndian.Uint32(data)))
			if nfds == len(fds) {
				unix.Close(fd)
				if err == nil {
					err = ErrTooManyFDs
				}
				continue
			}
			if !recvCloexec {
				unix.CloseOnExec(fd)
			}
			fds[nfds] = fd
			nfds++
		}
	}
	return nfds, err
}

// closeFDs closes fds received by a message that is being refused.
func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// sysErr tags a syscall's error with the syscall's name, except EAGAIN: that
// one goes back to the event loop as is, cheap to test and free of
// allocations, meaning "wait for readiness and call again".
func sysErr(op string, err error) error {
	if err == nil || err == unix.EAGAIN {
		return err
	}
	return os.NewSyscallError(op, err)
}
