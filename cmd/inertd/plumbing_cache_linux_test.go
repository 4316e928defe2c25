//go:build linux

package main

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/internal/testfd"
)

// isOwn asks a socket's SO_PEERCRED once: a socket whose peer is another
// process (or none) is remembered and its re-arms cost one fstat; a socket
// whose peer is inertd (here: a socketpair this process made, as the VM's
// end of the side channel has inertd's listener at its other end) is
// asked, and refused, every time.
func TestIsOwnRemembersOtherSocketsAndNeverTheSideChannel(t *testing.T) {
	p, err := newPlumbing()
	if err != nil {
		t.Fatal(err)
	}
	pair := testfd.Socketpair(t, unix.SOCK_SEQPACKET, false)
	udp, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	testfd.CloseAtEnd(t, udp)
	for round := 0; round < 3; round++ {
		if !p.isOwn(pair[0]) {
			t.Fatalf("round %d: a socket whose peer is this process is not refused", round)
		}
		if p.isOwn(udp) {
			t.Fatalf("round %d: a UDP socket is taken for plumbing", round)
		}
	}
	if len(p.others) != 1 {
		t.Fatalf("remembered %d sockets, want 1 (the UDP socket, never the pair)", len(p.others))
	}
	u, err := osFiles{}.Identity(udp)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.others[u]; !ok {
		t.Fatalf("remembered %v, want the UDP socket's %+v", p.others, u)
	}
}

// The set of remembered sockets is bounded: past maxOthers it starts
// again, so a VM arming ever new sockets cannot grow inertd's memory.
func TestIsOwnForgetsPastItsBound(t *testing.T) {
	p, err := newPlumbing()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < maxOthers; i++ {
		p.others[driver.FileID{Dev: ^uint64(0), Ino: uint64(i)}] = struct{}{}
	}
	udp, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	testfd.CloseAtEnd(t, udp)
	if p.isOwn(udp) {
		t.Fatal("a UDP socket is taken for plumbing")
	}
	if len(p.others) != 1 {
		t.Fatalf("%d sockets remembered after the bound, want 1", len(p.others))
	}
}
