package main

// The kernel adapters: what the driver and the loop need from the kernel,
// on the real kernel. kernel.go holds the ones every OS shares (osFiles,
// osSockets, plumbing, fdsExhausted), kernel_linux.go the Linux ones
// (ringFiles, vmFiles: the re-check of armed fds), kernel_other.go their
// stand-ins elsewhere, kernel_cloexec.go and kernel_nocloexec.go how a
// socket is made close-on-exec. They hold no state of the protocol: the
// driver decides, they make the syscalls and return errors tagged with
// the syscall's name.

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/protocol"
)

// osFiles is driver.Files on the real kernel.
type osFiles struct{}

func (osFiles) Identity(fd int) (driver.FileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return driver.FileID{}, os.NewSyscallError("fstat", err)
	}
	return driver.FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, nil
}

func (osFiles) Close(fd int) error {
	return os.NewSyscallError("close", unix.Close(fd))
}

// fdsExhausted reports whether inertd is at its fd limit, the usual reason
// the kernel truncates the control data of a one-fd message.
func fdsExhausted() bool {
	fd, err := unix.Dup(stdout)
	if err == nil {
		unix.Close(fd)
		return false
	}
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// osSockets is driver.Sockets on the real kernel: the open request of a
// socket is socket, setsockopt, bind and, for tcp, listen; a device is
// openDevice's (kernel_device_*.go). The socket is blocking and
// close-on-exec in inertd; the VM gets its own fd for it when it is
// handed over. Errors carry the errno of the failing call, which the
// driver turns into the atom the caller sees (eaddrinuse, eacces, ...).
type osSockets struct{}

func (osSockets) Open(s *protocol.OpenSpec) (driver.Opened, error) {
	if !s.Proto.IsSocket() {
		return openDevice(s)
	}
	fd, err := openSocket(s)
	if err != nil {
		return driver.Opened{}, err
	}
	return driver.Opened{FDs: []int{fd}}, nil
}

// openSocket makes the socket of s.
func openSocket(s *protocol.OpenSpec) (int, error) {
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

// plumbing recognises inertd's own plumbing among the fds the VM hands it
// to arm: an fd number in the VM may name the VM's end of inertd's stdin
// or stdout pipe, or of its side channel (after a restart the new pipes
// take the numbers of fds the VM closed; a caller may also arm any number
// it likes). Holding such a copy would keep inertd's own stdin or side
// channel from ever reaching EOF, so that inertd would outlive the port.
// Such an fd is refused (einval) and closed at once.
//
// Both ends of a pipe are one inode: an fd whose fstat dev and inode are
// those of fd 0 or fd 1 is one of them. The VM's end of the side channel
// is the one unix socket whose peer is inertd itself: SO_PEERCRED of a
// connected unix socket names the process that made the socket at its
// other end (for the VM's end, inertd's listener); every other socket the
// VM may arm names another process, or no process at all (TCP, UDP).
//
// A socket found not to be the side channel stays so: once inertd has
// accepted its one peer it listens no more, so no socket can come to have
// inertd at its other end, and a new socket that reuses the inode of a
// closed one cannot either. So each socket's SO_PEERCRED is asked once
// (the re-arms of a connection cost one fstat), with at most maxOthers
// remembered.
type plumbing struct {
	pipes  [2]driver.FileID // fstat of stdin and stdout
	self   int32
	others map[driver.FileID]struct{} // sockets whose peer is not inertd
}

// maxOthers bounds plumbing.others; past it the set starts again empty.
const maxOthers = 1 << 16

func newPlumbing() (plumbing, error) {
	p := plumbing{self: int32(os.Getpid()), others: make(map[driver.FileID]struct{})}
	for i, fd := range []int{stdin, stdout} {
		id, err := osFiles{}.Identity(fd)
		if err != nil {
			return p, err
		}
		p.pipes[i] = id
	}
	return p, nil
}

// isOwn reports whether fd is inertd's own plumbing. An fd that cannot
// be looked at is left to the driver (arming it fails with the reason).
func (p *plumbing) isOwn(fd int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	id := driver.FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	if id == p.pipes[0] || id == p.pipes[1] {
		return true
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return false
	}
	if _, other := p.others[id]; other {
		return false
	}
	if peerIs(fd, p.self) {
		return true
	}
	if len(p.others) >= maxOthers {
		clear(p.others)
	}
	p.others[id] = struct{}{}
	return false
}
