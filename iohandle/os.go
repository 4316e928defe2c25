package iohandle

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/retry"
)

// OS is the Kernel of a real inertd.
type OS struct{}

// Prepare sets O_NONBLOCK on fd's open file (shared with the VM's fd)
// and reads its access mode and, for a socket, its type.
func (OS) Prepare(fd int) (Access, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return Access{}, os.NewSyscallError("fcntl", err)
	}
	if fl&unix.O_NONBLOCK == 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl|unix.O_NONBLOCK); err != nil {
			return Access{}, os.NewSyscallError("fcntl", err)
		}
	}
	var acc Access
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
