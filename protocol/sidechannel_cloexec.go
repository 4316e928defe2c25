//go:build linux || freebsd

package protocol

import "golang.org/x/sys/unix"

// On these systems fds are close-on-exec from the moment they exist:
// SOCK_CLOEXEC, accept4 and MSG_CMSG_CLOEXEC.
const (
	recvFlags   = unix.MSG_CMSG_CLOEXEC
	recvCloexec = true
)

// sideSocket makes the listening socket: SOCK_SEQPACKET, close-on-exec, non-blocking.
func sideSocket() (int, error) {
	return unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
}

// sideAccept takes a waiting connection as a close-on-exec, non-blocking fd.
func sideAccept(fd int) (int, error) {
	nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	return nfd, err
}
