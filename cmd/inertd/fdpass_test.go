//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/ergo-services/ergo/etf"
	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
	"github.com/inert-go/inert/protocol"
)

// dup and open end to end: the test plays the VM on a real inertd and
// reads the handovers {fd, Pid, Ref} on the side channel.

func dupReq(ref uint32, fd int) *protocol.Request {
	return &protocol.Request{Op: protocol.OpDup, Pid: testPid(1), Ref: testRef(ref), FD: int64(fd), FDValid: true}
}

func openReq(ref uint32, spec protocol.OpenSpec) *protocol.Request {
	return &protocol.Request{Op: protocol.OpOpen, Pid: testPid(1), Ref: testRef(ref), Spec: spec, SpecOK: true}
}

// handover reads one message from the side channel within 10 s: it must be
// {fd, Pid, Ref} for ref, with exactly one fd, which it returns.
func (d *child) handover(ref uint32) int {
	d.t.Helper()
	msg, fds := d.recvHandover()
	if len(fds) != 1 {
		d.t.Fatalf("handover with %d fds, want 1", len(fds))
	}
	if want := protocol.AppendHandover(nil, testPid(1), testRef(ref)); !bytes.Equal(msg, want) {
		term, _, _ := etf.Decode(msg[1:], nil, etf.DecodeOptions{FlagBigPidRef: true})
		d.t.Fatalf("handover %v, want {fd, Pid, Ref %d}", term, ref)
	}
	return fds[0]
}

// recvHandover reads one message from the side channel within 10 s and
// returns its payload and fds (closed when the test ends).
func (d *child) recvHandover() (msg []byte, fds []int) {
	d.t.Helper()
	pfd := []unix.PollFd{{Fd: int32(d.side), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 10000); n != 1 || err != nil {
		d.t.Fatalf("no handover on the side channel within 10 s (%v)", err)
	}
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := unix.Recvmsg(d.side, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		d.t.Fatalf("recvmsg: %v, flags %#x", err, flags)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		d.t.Fatal(err)
	}
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			d.t.Fatal(err)
		}
		fds = append(fds, got...)
	}
	d.t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	return buf[:n], fds
}

// noHandover checks that nothing waits on the side channel.
func (d *child) noHandover() {
	d.t.Helper()
	buf := make([]byte, 256)
	if n, _, _, _, err := unix.Recvmsg(d.side, buf, nil, unix.MSG_DONTWAIT); err != unix.EAGAIN {
		d.t.Fatalf("side channel: %d bytes, %v; want nothing (EAGAIN)", n, err)
	}
}

func counter(info etf.Map, name string) int {
	return toInt(info[etf.Atom("counters")].(etf.Map)[etf.Atom(name)])
}

func TestDupHandsBackTheSameFileAndKeepsNothing(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	rx, tx := socketpair(t)
	d.send(dupReq(1, rx), rx)
	fd := d.handover(1)
	if fd == rx || !testfd.SameFile(t, fd, rx) {
		t.Fatalf("dup of fd %d gave fd %d: want a new fd for the same socket", rx, fd)
	}
	if _, err := unix.Write(tx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Read(fd, make([]byte, 4)); n != 1 || err != nil {
		t.Fatalf("read on the duplicate: %d, %v", n, err)
	}
	info := d.info()
	d.waitOpenFDs(base, "inertd's copy closed after the handover")
	if counter(info, "fds_received") != 1 || counter(info, "fds_sent") != 1 || counter(info, "fds_closed") != 0 {
		t.Fatalf("counters %v: want 1 received, 1 sent, 0 closed", info[etf.Atom("counters")])
	}
}

func TestDupWithOtherThanOneFDIsEinvalAndEveryFDClosed(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	rx, tx := socketpair(t)
	for i, fds := range [][]int{{rx, tx, rx}, nil} {
		d.send(dupReq(uint32(i), rx), fds...)
		e := d.entries(1)[0]
		if e[0] != etf.Atom("error") || e[3] != etf.Atom("einval") {
			t.Fatalf("dup with %d fds answered %v, want {error, _, _, einval}", len(fds), e)
		}
	}
	d.noHandover()
	d.waitOpenFDs(base, "every fd of the refused dups closed")
}

func TestOpenTCPListensOnLoopback(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	d.send(openReq(1, protocol.OpenSpec{Proto: protocol.ProtoTCP, Family: protocol.FamilyInet,
		Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1}), ReuseAddr: true, Backlog: 4}))
	fd := d.handover(1)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok || in4.Addr != [4]byte{127, 0, 0, 1} || in4.Port == 0 {
		t.Fatalf("socket bound to %#v, want 127.0.0.1 and a port", sa)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); v != 1 || err != nil {
		t.Fatalf("SO_ACCEPTCONN %d, %v: the socket is not listening", v, err)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 1 || err != nil {
		t.Fatalf("SO_REUSEADDR %d, %v", v, err)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", in4.Port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	nfd, _, err := unix.Accept(fd)
	if err != nil {
		t.Fatalf("accept on the handed socket: %v", err)
	}
	unix.Close(nfd)
	d.info()
	d.waitOpenFDs(base, "the opened socket handed over and inertd's copy closed")
}

func TestOpenUDP6WithReusePort(t *testing.T) {
	if _, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	d := startDaemon(t, os.Getpid())
	d.connect()
	spec := protocol.OpenSpec{Proto: protocol.ProtoUDP, Family: protocol.FamilyInet6,
		Addr: netip.IPv6Loopback(), ReusePort: true}
	d.send(openReq(1, spec))
	a := d.handover(1)
	sa, err := unix.Getsockname(a)
	if err != nil {
		t.Fatal(err)
	}
	in6 := sa.(*unix.SockaddrInet6)
	if in6.Addr != netip.IPv6Loopback().As16() {
		t.Fatalf("bound to %v, want ::1", in6.Addr)
	}
	if typ, _ := unix.GetsockoptInt(a, unix.SOL_SOCKET, unix.SO_TYPE); typ != unix.SOCK_DGRAM {
		t.Fatalf("SO_TYPE %d, want SOCK_DGRAM", typ)
	}
	// reuseport: a second socket on the same port.
	spec.Port = uint16(in6.Port)
	d.send(openReq(2, spec))
	b := d.handover(2)
	if sb, _ := unix.Getsockname(b); sb.(*unix.SockaddrInet6).Port != in6.Port {
		t.Fatalf("second socket on port %v, want %d", sb, in6.Port)
	}
}

func TestOpenErrorsAreErrnoAtoms(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	for i, tc := range []struct {
		addr [4]byte
		port uint16
		want string
	}{
		{[4]byte{127, 0, 0, 1}, port, "eaddrinuse"},
		{[4]byte{192, 0, 2, 1}, 0, "eaddrnotavail"}, // TEST-NET-1: on no interface
	} {
		d.send(openReq(uint32(i), protocol.OpenSpec{Proto: protocol.ProtoTCP, Family: protocol.FamilyInet,
			Addr: netip.AddrFrom4(tc.addr), Port: tc.port, Backlog: 1}))
		e := d.entries(1)[0]
		if e[0] != etf.Atom("error") || e[3] != etf.Atom(tc.want) {
			t.Fatalf("open %v:%d answered %v, want {error, _, _, %s}", tc.addr, tc.port, e, tc.want)
		}
	}
	bad := openReq(9, protocol.OpenSpec{})
	bad.SpecOK = false
	d.send(bad)
	if e := d.entries(1)[0]; e[3] != etf.Atom("einval") {
		t.Fatalf("bad spec answered %v, want einval", e)
	}
	d.noHandover()
}

// A VM that does not read the side channel fills it: inertd queues the
// handovers with their fds and goes on serving (stdin is answered), then
// delivers every one, in order, once the VM reads.
func TestHandoversWaitForASlowVMWithoutBlockingTheLoop(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	rx, _ := socketpair(t)
	const n = 1000
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := unix.Sendmsg(d.side, protocol.AppendRequest(nil, dupReq(uint32(i), rx)),
				unix.UnixRights(rx), nil, 0); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	if err := <-sent; err != nil {
		t.Fatalf("sending requests: %v", err)
	}
	// Every request is read while the side channel is full: ask on stdin.
	for requests := 0; requests < n+1; {
		stdinInfo := protocol.AppendRequest(nil, &protocol.Request{Op: protocol.OpInfo, Pid: testPid(0), Ref: testRef(n)})
		if _, err := d.stdin.Write(protocol.AppendFrame(nil, stdinInfo)); err != nil {
			t.Fatal(err)
		}
		requests = counter(d.entries(1)[0][3].(etf.Map), "requests")
	}
	queued := d.openFDs() - base
	if queued < 2 {
		t.Fatalf("inertd holds %d more fds with %d handovers unread: want some queued (and a write watch)", queued, n)
	}
	t.Logf("%d handovers waited in inertd's queue", queued-1)
	for i := range n {
		fd := d.handover(uint32(i))
		unix.Close(fd)
	}
	d.noHandover()
	d.info()
	d.waitOpenFDs(base, "every queued handover sent and its fd closed")
}
