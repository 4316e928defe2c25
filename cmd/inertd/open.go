package main

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/protocol"
)

// osSockets is driver.Sockets on the real kernel: the open request is
// socket, setsockopt, bind and, for tcp, listen. The socket is blocking
// and close-on-exec in inertd; the VM gets its own fd for it when it is
// handed over. Errors carry the errno of the failing call, which the
// driver turns into the atom the caller sees (eaddrinuse, eacces, ...).
type osSockets struct{}

func (osSockets) Open(s *protocol.OpenSpec) (int, error) {
	domain, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: int(s.Port)})
	if s.Family == protocol.FamilyInet6 {
		domain = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(s.Port)}
	}
	if s.Addr.IsValid() {
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			a.Addr = s.Addr.As4()
		case *unix.SockaddrInet6:
			a.Addr = s.Addr.As16()
		}
	}
	typ := unix.SOCK_STREAM
	if s.Proto == protocol.ProtoUDP {
		typ = unix.SOCK_DGRAM
	}
	fd, err := cloexecSocket(domain, typ)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := setUp(fd, s, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// setUp sets the options of s on fd, binds it to sa and, for tcp, listens.
func setUp(fd int, s *protocol.OpenSpec, sa unix.Sockaddr) error {
	for _, opt := range []struct {
		on   bool
		name int
	}{{s.ReuseAddr, unix.SO_REUSEADDR}, {s.ReusePort, unix.SO_REUSEPORT}} {
		if !opt.on {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt.name, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if err := bindSocket(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if s.Proto == protocol.ProtoTCP {
		if err := unix.Listen(fd, int(s.Backlog)); err != nil {
			return os.NewSyscallError("listen", err)
		}
	}
	return nil
}

// bindSocket is the bind of open, the one call a privileged port needs a
// capability for: CAP_NET_BIND_SERVICE, if inertd was given it, is
// effective on this thread for the bind alone (see caps_linux.go).
func bindSocket(fd int, sa unix.Sockaddr) error {
	return withBindService(func() error { return unix.Bind(fd, sa) })
}
