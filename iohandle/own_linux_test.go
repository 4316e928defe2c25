package iohandle

import (
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
)

// A pair of fds for Prepare: vm is the VM's fd (the test clears
// O_NONBLOCK on it afterwards, as the VM may), peer the other end, for
// the bytes that show the handle's fd is still the same file.
type ownCase struct {
	name string
	make func(t *testing.T) (vm, peer int)
	own  bool
}

func pipeFDs(t *testing.T) (r, w int) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	testfd.CloseAtEnd(t, p[0], p[1])
	return p[0], p[1]
}

func ptyFDs(t *testing.T) (master, slave int) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	testfd.CloseAtEnd(t, m)
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	testfd.CloseAtEnd(t, s)
	// Raw, so that a byte written on one side is read on the other as it is.
	tio, err := unix.IoctlGetTermios(s, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ICANON | unix.ECHO
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(s, unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return m, s
}

var ownCases = []ownCase{
	{"pipe read end", func(t *testing.T) (int, int) { r, w := pipeFDs(t); return r, w }, true},
	{"pipe write end", func(t *testing.T) (int, int) { r, w := pipeFDs(t); return w, r }, true},
	{"named FIFO opened read-write", func(t *testing.T) (int, int) {
		path := filepath.Join(t.TempDir(), "fifo")
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		testfd.CloseAtEnd(t, fd)
		return fd, fd
	}, true},
	{"pty slave", func(t *testing.T) (int, int) { m, s := ptyFDs(t); return s, m }, true},
	// Reopening /dev/ptmx would make a new pty: the master stays shared.
	{"pty master", func(t *testing.T) (int, int) { m, s := ptyFDs(t); return m, s }, false},
	// A socket is read and written with MSG_DONTWAIT instead.
	{"unix stream socket", func(t *testing.T) (int, int) {
		p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
		return p[0], p[1]
	}, false},
}

// Prepare gives a pipe, a FIFO and a pty's slave side an open file of
// inertd's own, the same file, whose O_NONBLOCK stays set when the VM
// clears the flag of its fd, so that a read with nothing to read
// returns EAGAIN instead of blocking inertd; a pty's master side and a
// socket keep sharing the VM's open file.
func TestPrepareGivesPipesFIFOsAndPtySlavesAnOpenFileTheVMCannotMakeBlocking(t *testing.T) {
	for _, c := range ownCases {
		t.Run(c.name, func(t *testing.T) {
			vm, peer := c.make(t)
			fd := dup(t, vm)
			testfd.CloseAtEnd(t, fd)
			acc, err := OS{}.Prepare(fd)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if acc.Own != c.own {
				t.Fatalf("Own = %v, want %v", acc.Own, c.own)
			}
			if !testfd.SameFile(t, fd, vm) {
				t.Fatal("the handle's fd is not the VM's file any more")
			}
			// The VM makes its fd blocking.
			if err := unix.SetNonblock(vm, false); err != nil {
				t.Fatal(err)
			}
			fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := fl&unix.O_NONBLOCK != 0; got != c.own {
				t.Fatalf("handle's O_NONBLOCK after the VM cleared its own: %v, want %v", got, c.own)
			}
			if !c.own || !acc.Read {
				return
			}
			p := make([]byte, 16)
			if n, err := (OS{}).Read(fd, p, acc); err != unix.EAGAIN {
				t.Fatalf("read with nothing to read: %d, %v; want EAGAIN", n, err)
			}
			if _, err := unix.Write(peer, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if n, err := (OS{}).Read(fd, p, acc); err != nil || string(p[:n]) != "x" {
				t.Fatalf("read after the peer wrote: %q, %v", p[:n], err)
			}
		})
	}
}
