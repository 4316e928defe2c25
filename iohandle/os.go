package iohandle

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/retry"
)

// OS is the Kernel of a real inertd.
type OS struct{}

// Prepare reads fd's access mode and, for a socket, its type, and
// makes it non-blocking: a pipe, a FIFO or a pty's slave side is first
// reopened in place (ownFile), so that the flag is on an open file of
// inertd's own; anything else gets O_NONBLOCK on the open file it shares
// with the VM's fd.
func (OS) Prepare(fd int) (Access, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return Access{}, os.NewSyscallError("fcntl", err)
	}
	own := ownFile(fd, fl)
	if own {
		fl |= unix.O_NONBLOCK
	}
	if fl&unix.O_NONBLOCK == 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl|unix.O_NONBLOCK); err != nil {
			return Access{}, os.NewSyscallError("fcntl", err)
		}
	}
	acc := Access{Own: own}
	switch fl & unix.O_ACCMODE {
	case unix.O_RDONLY:
		acc.Read = true
	case unix.O_WRONLY:
		acc.Write = true
	default:
		acc.Read, acc.Write = true, true
	}
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil {
		acc.Socket = true
		acc.Datagrams = typ == unix.SOCK_DGRAM || typ == unix.SOCK_RAW
	}
	return acc, nil
}

// Read is read(2), or recv(2) with MSG_DONTWAIT for a socket; EINTR
// retried.
func (OS) Read(fd int, p []byte, acc Access) (n int, err error) {
	err = retry.Retry(func() (err error) {
		if acc.Socket {
			n, _, err = unix.Recvfrom(fd, p, unix.MSG_DONTWAIT)
		} else {
			n, err = unix.Read(fd, p)
		}
		return err
	})
	return n, err
}

// Write is write(2), or send(2) with MSG_DONTWAIT (and no SIGPIPE
// where the OS has MSG_NOSIGNAL) for a socket; EINTR retried.
func (OS) Write(fd int, p []byte, acc Access) (n int, err error) {
	err = retry.Retry(func() (err error) {
		if acc.Socket {
			n, err = unix.SendmsgN(fd, p, nil, nil, unix.MSG_DONTWAIT|msgNoSignal)
		} else {
			n, err = unix.Write(fd, p)
		}
		return err
	})
	return max(n, 0), err
}
