//go:build unix && !linux && !freebsd

package protocol

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// macOS and the other systems here lack SOCK_CLOEXEC, accept4 or
// MSG_CMSG_CLOEXEC: fds are marked close-on-exec right after they are made,
// under syscall.ForkLock so that os/exec cannot fork in between (the
// fallback Go's own net package uses). SOCK_SEQPACKET is defined, but macOS
// refuses it for AF_UNIX at run time.
const (
	recvFlags   = 0
	recvCloexec = false
)

// sideSocket makes the listening socket: SOCK_SEQPACKET, close-on-exec, non-blocking.
func sideSocket() (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	return nonblock(fd, err)
}

// sideAccept takes a waiting connection as a close-on-exec, non-blocking fd.
func sideAccept(fd int) (int, error) {
	syscall.ForkLock.RLock()
	nfd, _, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	return nonblock(nfd, err)
}

// nonblock sets O_NONBLOCK on a fresh fd, closing it on failure.
func nonblock(fd int, err error) (int, error) {
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
