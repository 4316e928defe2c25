//go:build linux

package main

// The devices open makes (PROTOCOL.md, Spec): a TUN or TAP interface and
// a pty pair. Each is opened blocking and close-on-exec in inertd, like
// the sockets of open; the VM gets its own fds when they are handed over.

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/protocol"
)

// SetTermios applies t to the tty fd: the termios request.
func (osSockets) SetTermios(fd int, t *protocol.Termios) error { return applyTermios(fd, t) }

// openDevice opens the tun, tap or pty of s.
func openDevice(s *protocol.OpenSpec) (driver.Opened, error) {
	if s.Proto.IsTun() {
		return openTun(s)
	}
	return openPty(&s.Termios)
}

// openTun opens /dev/net/tun and makes the interface of s with TUNSETIFF,
// the one call of it that needs CAP_NET_ADMIN: effective on this thread
// for the ioctl alone when inertd was given it (caps_linux.go). The
// interface lives as long as an fd of it is open (it is not persistent).
// The handover names the interface the kernel made, which may differ
// from the one asked for (none, or a "%d" pattern: tunN).
func openTun(s *protocol.OpenSpec) (driver.Opened, error) {
	ifr, err := unix.NewIfreq(s.IfName())
	if err != nil {
		return driver.Opened{}, err // the decoder allows no such name
	}
	flags := uint16(unix.IFF_TUN)
	if s.Proto == protocol.ProtoTap {
		flags = unix.IFF_TAP
	}
	if !s.PI {
		flags |= unix.IFF_NO_PI
	}
	ifr.SetUint16(flags)
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return driver.Opened{}, os.NewSyscallError("open /dev/net/tun", err)
	}
	if err := withNetAdmin(func() error { return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr) }); err != nil {
		unix.Close(fd)
		return driver.Opened{}, os.NewSyscallError("ioctl TUNSETIFF", err)
	}
	return driver.Opened{FDs: []int{fd}, Info: protocol.HandInfo{Name: ifr.Name()}}, nil
}

// openPty makes a pty pair: posix_openpt (open /dev/ptmx), unlockpt
// (TIOCSPTLCK 0), ptsname (TIOCGPTN) and the peer opened through the
// controlling side (TIOCGPTPEER, Linux 4.13+; the path elsewhere), with
// the line settings t applied to the peer. grantpt has nothing to do on
// devpts. The handover carries both fds, the controlling side first.
func openPty(t *protocol.Termios) (driver.Opened, error) {
	ctl, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return driver.Opened{}, os.NewSyscallError("open /dev/ptmx", err)
	}
	peer, path, err := ptyPeer(ctl)
	if err == nil {
		if err = applyTermios(peer, t); err != nil {
			unix.Close(peer)
		}
	}
	if err != nil {
		unix.Close(ctl)
		return driver.Opened{}, err
	}
	return driver.Opened{FDs: []int{ctl, peer}, Info: protocol.HandInfo{Path: path, Peer: true}}, nil
}

// ptyPeer unlocks the peer of the controlling side ctl and opens it.
func ptyPeer(ctl int) (peer int, path string, err error) {
	if err := unix.IoctlSetPointerInt(ctl, unix.TIOCSPTLCK, 0); err != nil {
		return -1, "", os.NewSyscallError("ioctl TIOCSPTLCK", err)
	}
	n, err := unix.IoctlGetUint32(ctl, unix.TIOCGPTN)
	if err != nil {
		return -1, "", os.NewSyscallError("ioctl TIOCGPTN", err)
	}
	path = "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	const flags = unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ctl), unix.TIOCGPTPEER, flags)
	switch {
	case errno == 0:
		return int(r), path, nil
	case !errors.Is(errno, unix.EINVAL) && !errors.Is(errno, unix.ENOTTY):
		return -1, "", os.NewSyscallError("ioctl TIOCGPTPEER", errno)
	}
	// A kernel before TIOCGPTPEER: the path, as ptsname(3) gives it.
	peer, err = unix.Open(path, flags, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("open "+path, err)
	}
	return peer, path, nil
}

// speeds maps the rates termios(3) names to their Bnnn constants.
var speeds = map[uint32]uint32{
	50: unix.B50, 75: unix.B75, 110: unix.B110, 134: unix.B134, 150: unix.B150,
	200: unix.B200, 300: unix.B300, 600: unix.B600, 1200: unix.B1200,
	1800: unix.B1800, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600,
	19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400, 460800: unix.B460800,
	500000: unix.B500000, 576000: unix.B576000, 921600: unix.B921600,
	1000000: unix.B1000000, 1152000: unix.B1152000, 1500000: unix.B1500000,
	2000000: unix.B2000000, 2500000: unix.B2500000, 3000000: unix.B3000000,
	3500000: unix.B3500000, 4000000: unix.B4000000,
}

// applyTermios reads the line settings of fd, changes those t sets,
// writes them back (TCSETS: at once) and reads them again: a setting the
// kernel did not take is EINVAL, as is a speed that is not one of
// termios(3)'s rates. (A Linux pty always has 8 data bits and no parity:
// its driver puts them back whatever is asked.)
func applyTermios(fd int, t *protocol.Termios) error {
	if t.Set == 0 {
		return nil
	}
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return os.NewSyscallError("ioctl TCGETS", err)
	}
	mask, err := setTermios(tio, t)
	if err != nil {
		return err
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		return os.NewSyscallError("ioctl TCSETS", err)
	}
	got, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return os.NewSyscallError("ioctl TCGETS", err)
	}
	if !mask.same(tio, got) {
		return os.NewSyscallError("ioctl TCSETS (settings not taken)", unix.EINVAL)
	}
	return nil
}

// termiosMask is the flag bits setTermios decided, one mask per flag word.
type termiosMask struct{ i, o, c, l uint32 }

// same reports whether a and b agree on every bit of m.
func (m termiosMask) same(a, b *unix.Termios) bool {
	return a.Iflag&m.i == b.Iflag&m.i && a.Oflag&m.o == b.Oflag&m.o &&
		a.Cflag&m.c == b.Cflag&m.c && a.Lflag&m.l == b.Lflag&m.l
}

// setTermios changes tio as t says: raw first (cfmakeraw(3)), then the
// character size, parity, stop bits, flow control and speed. It returns
// the bits it decided, to check what the kernel took.
func setTermios(tio *unix.Termios, t *protocol.Termios) (m termiosMask, err error) {
	if t.Has(protocol.TermRaw) && t.Raw {
		m.i |= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		m.o |= unix.OPOST
		m.l |= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		m.c |= unix.CSIZE | unix.PARENB
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP |
			unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag = tio.Cflag&^(unix.CSIZE|unix.PARENB) | unix.CS8
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	}
	if t.Has(protocol.TermDataBits) {
		m.c |= unix.CSIZE
		size := [...]uint32{5: unix.CS5, 6: unix.CS6, 7: unix.CS7, 8: unix.CS8}[t.DataBits]
		tio.Cflag = tio.Cflag&^unix.CSIZE | size
	}
	if t.Has(protocol.TermParity) {
		m.c |= unix.PARENB | unix.PARODD
		m.i |= unix.INPCK
		tio.Cflag &^= unix.PARENB | unix.PARODD
		tio.Iflag &^= unix.INPCK
		switch t.Parity {
		case protocol.ParityEven:
			tio.Cflag |= unix.PARENB
			tio.Iflag |= unix.INPCK
		case protocol.ParityOdd:
			tio.Cflag |= unix.PARENB | unix.PARODD
			tio.Iflag |= unix.INPCK
		}
	}
	if t.Has(protocol.TermStopBits) {
		m.c |= unix.CSTOPB
		tio.Cflag &^= unix.CSTOPB
		if t.StopBits == 2 {
			tio.Cflag |= unix.CSTOPB
		}
	}
	if t.Has(protocol.TermFlow) {
		m.c |= unix.CRTSCTS
		m.i |= unix.IXON | unix.IXOFF | unix.IXANY
		tio.Cflag &^= unix.CRTSCTS
		tio.Iflag &^= unix.IXON | unix.IXOFF | unix.IXANY
		switch t.Flow {
		case protocol.FlowHardware:
			tio.Cflag |= unix.CRTSCTS
		case protocol.FlowSoftware:
			tio.Iflag |= unix.IXON | unix.IXOFF
		}
	}
	if t.Has(protocol.TermSpeed) {
		b, ok := speeds[t.Speed]
		if !ok {
			return m, unix.EINVAL
		}
		m.c |= unix.CBAUD
		tio.Cflag = tio.Cflag&^(unix.CBAUD|unix.CIBAUD) | b
		tio.Ispeed, tio.Ospeed = t.Speed, t.Speed
	}
	return m, nil
}
