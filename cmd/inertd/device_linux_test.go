//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"
	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/protocol"
)

// The devices of open end to end: the test plays the VM on a real inertd,
// asks for a pty pair or a TUN interface and uses the fds it is handed.

// deviceHandover reads the handover of a device open for ref: {fd, Pid,
// Ref, Info} with nfds fds. It returns the fds and Info.
func (d *child) deviceHandover(ref uint32, nfds int) ([]int, etf.Map) {
	d.t.Helper()
	msg, fds := d.recvHandover()
	head := protocol.AppendAtom(protocol.AppendTupleHeader(protocol.AppendVersion(nil), 4), "fd")
	head = protocol.AppendRaw(protocol.AppendRaw(head, testPid(1)), testRef(ref))
	term, _, err := etf.Decode(msg[1:], nil, etf.DecodeOptions{FlagBigPidRef: true})
	if err != nil || !bytes.HasPrefix(msg, head) || len(fds) != nfds {
		d.t.Fatalf("handover %v with %d fds (%v), want {fd, Pid, Ref %d, Info} with %d", term, len(fds), err, ref, nfds)
	}
	info, ok := term.(etf.Tuple)[3].(etf.Map)
	if !ok {
		d.t.Fatalf("handover %v: Info is not a map", term)
	}
	return fds, info
}

// infoString is the binary Info holds under key.
func infoString(t *testing.T, info etf.Map, key string) string {
	t.Helper()
	b, ok := info[etf.Atom(key)].([]byte)
	if !ok {
		t.Fatalf("handover info %v: no binary %s", info, key)
	}
	return string(b)
}

// readWithin reads from fd (blocking) once poll says it is readable, or
// fails after 5 s naming what it waited for.
func readWithin(t *testing.T, fd int, buf []byte, what string) int {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := int(time.Until(deadline).Milliseconds())
		if left <= 0 {
			t.Fatalf("nothing to read within 5 s: %s", what)
		}
		n, err := unix.Poll(pfd, left)
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err = unix.Read(fd, buf)
		if err != nil {
			t.Fatalf("read %s: %v", what, err)
		}
		return n
	}
}

func ptyReq(ref uint32, tio protocol.Termios) *protocol.Request {
	return openReq(ref, protocol.OpenSpec{Proto: protocol.ProtoPty, Termios: tio})
}

// A pty open hands the controlling side and the peer, with the peer's
// path; the peer has the line settings asked for (read back with TCGETS);
// bytes written on either side arrive on the other; and every fd inertd
// made was sent.
func TestPtyOpenHandsBothSidesWithTheLineSettingsAsked(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	d.send(ptyReq(1, protocol.Termios{Set: protocol.TermSpeed | protocol.TermRaw | protocol.TermDataBits |
		protocol.TermParity | protocol.TermStopBits | protocol.TermFlow,
		Speed: 115200, Raw: true, DataBits: 8, Parity: protocol.ParityNone, StopBits: 2, Flow: protocol.FlowHardware}))
	fds, info := d.deviceHandover(1, 2)
	ctl, peer := fds[0], fds[1]
	n, err := unix.IoctlGetUint32(ctl, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("the first fd is not a pty's controlling side: %v", err)
	}
	if path := infoString(t, info, "path"); path != "/dev/pts/"+strconv.Itoa(int(n)) {
		t.Fatalf("path %q, controlling side is pty %d", path, n)
	}
	if v := info[etf.Atom("peer")]; v != true && v != etf.Atom("true") {
		t.Fatalf("info %v: want peer => true", info)
	}
	tio, err := unix.IoctlGetTermios(peer, unix.TCGETS)
	if err != nil {
		t.Fatalf("the second fd is not a tty: %v", err)
	}
	for _, c := range []struct {
		what      string
		got, want uint32
	}{
		{"speed", tio.Cflag & unix.CBAUD, unix.B115200},
		{"character size", tio.Cflag & unix.CSIZE, unix.CS8},
		{"parity", tio.Cflag & (unix.PARENB | unix.PARODD), 0},
		{"stop bits", tio.Cflag & unix.CSTOPB, unix.CSTOPB},
		{"hardware flow", tio.Cflag & unix.CRTSCTS, unix.CRTSCTS},
		{"software flow", tio.Iflag & (unix.IXON | unix.IXOFF), 0},
		{"raw: no canonical mode, echo, signals", tio.Lflag & (unix.ICANON | unix.ECHO | unix.ISIG), 0},
		{"raw: no output processing", tio.Oflag & unix.OPOST, 0},
		{"raw: no CR/NL translation", tio.Iflag & (unix.ICRNL | unix.INLCR), 0},
	} {
		if c.got != c.want {
			t.Errorf("peer %s: %#x, want %#x", c.what, c.got, c.want)
		}
	}
	for _, dir := range []struct {
		name     string
		from, to int
	}{{"controlling side to peer", ctl, peer}, {"peer to controlling side", peer, ctl}} {
		msg := []byte("bytes\r\n of " + dir.name)
		if _, err := unix.Write(dir.from, msg); err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, 256)
		for len(got) < len(msg) {
			got = append(got, buf[:readWithin(t, dir.to, buf, dir.name)]...)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%s: read %q, wrote %q", dir.name, got, msg)
		}
	}
	in := d.info()
	d.waitOpenFDs(base, "inertd's copies of both sides closed after the handover")
	if counter(in, "fds_opened") != 2 || counter(in, "fds_sent") != 2 {
		t.Fatalf("counters %v: want 2 opened, 2 sent", in[etf.Atom("counters")])
	}
}

// A pty with no line settings keeps the kernel's (canonical, echo); one
// whose speed is not a termios rate, or with a setting the kernel does
// not take (a Linux pty is always 8 data bits, no parity), is einval,
// with nothing handed over and nothing left open.
func TestPtyWithoutSettingsKeepsTheKernelsAndSettingsItCannotTakeAreEinval(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	d.send(ptyReq(1, protocol.Termios{}))
	fds, _ := d.deviceHandover(1, 2)
	tio, err := unix.IoctlGetTermios(fds[1], unix.TCGETS)
	if err != nil || tio.Lflag&(unix.ICANON|unix.ECHO) != unix.ICANON|unix.ECHO {
		t.Fatalf("peer lflag %#x (%v): want the kernel's ICANON|ECHO", tio.Lflag, err)
	}
	for i, tio := range []protocol.Termios{
		{Set: protocol.TermSpeed, Speed: 12345},
		{Set: protocol.TermDataBits, DataBits: 7},
		{Set: protocol.TermParity, Parity: protocol.ParityOdd},
	} {
		d.send(ptyReq(uint32(2+i), tio))
		if e := d.entries(1)[0]; e[0] != etf.Atom("error") || e[3] != etf.Atom("einval") {
			t.Fatalf("pty with %+v answered %v, want {error, _, _, einval}", tio, e)
		}
		d.noHandover()
	}
	in := d.info()
	d.waitOpenFDs(base, "inertd's fds of both pty opens closed")
	if c := in[etf.Atom("counters")].(etf.Map); counter(in, "fds_opened") != 2 || counter(in, "fds_sent") != 2 {
		t.Fatalf("counters %v: the refused ptys must count nothing opened", c)
	}
}

// unshareNet runs exe as inertd in a network namespace of its own, the
// command wrapped in wrap (e.g. setpriv); it skips where that is not
// permitted.
func unshareNet(t *testing.T, exe string, wrap ...string) *child {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace (unshare -n) and CAP_NET_ADMIN for a TUN interface")
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare -n is not permitted here: %v %s", err, out)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
	plain := inertdCmd(exe, os.Getpid())
	args := append(append([]string{"-n"}, wrap...), plain.Args...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = plain.Env
	d := startCmd(t, cmd)
	d.connect()
	return d
}

func tunReq(ref uint32, p protocol.Proto, name string) *protocol.Request {
	s := protocol.OpenSpec{Proto: p}
	s.NameLen = uint8(copy(s.Name[:], name))
	return openReq(ref, s)
}

// tunFlags reads the name and flags of a TUN fd (TUNGETIFF).
func tunFlags(t *testing.T, fd int) (string, uint16) {
	t.Helper()
	ifr, err := unix.NewIfreq("")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil {
		t.Fatalf("TUNGETIFF: %v", err)
	}
	return ifr.Name(), ifr.Uint16()
}

// inNetns runs fn on a thread in the network namespace of pid. The
// thread is never unlocked: it ends with its goroutine, namespace and all.
func inNetns(t *testing.T, pid int, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(ns)
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		done <- fn()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// ipIn runs ip(8) in the network namespace of pid.
func ipIn(t *testing.T, pid int, args ...string) {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "ip"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip %v in inertd's namespace: %v %s", args, err, out)
	}
}

// udp4Packet is an IPv4 UDP datagram from src to dst, header checksum
// set, UDP checksum none (allowed for IPv4).
func udp4Packet(src, dst netip.AddrPort, payload []byte) []byte {
	p := make([]byte, 28, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(p[2:], uint16(28+len(payload)))
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(p[12:], s4[:])
	copy(p[16:], d4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], src.Port())
	binary.BigEndian.PutUint16(p[22:], dst.Port())
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	return append(p, payload...)
}

// A root inertd keeps CAP_NET_ADMIN permitted and never effective but
// for the TUNSETIFF of a TUN open: in a namespace of its own it makes the
// interface, named as the kernel picked it, with the flags asked for;
// every thread has an empty effective set before and after. A datagram
// routed to the interface is read from the fd as one packet, and a packet
// written to the fd is delivered to a socket in the namespace.
func TestTunOpenRaisesNetAdminForTheIoctlAloneAndCarriesPackets(t *testing.T) {
	d := unshareNet(t, buildInertd(t))
	checkCaps := func(when string) {
		eff, prm := capSets(t, d.osPid)
		for i := range eff {
			if eff[i] != 0 || prm[i]&netAdminBit == 0 {
				t.Errorf("%s, thread %d of inertd: CapEff %#x CapPrm %#x, want 0 and CAP_NET_ADMIN permitted", when, i, eff[i], prm[i])
			}
		}
	}
	checkCaps("before open")
	d.send(tunReq(1, protocol.ProtoTun, "inert%d"))
	fds, info := d.deviceHandover(1, 1)
	name := infoString(t, info, "name")
	if got, flags := tunFlags(t, fds[0]); name != "inert0" || got != name || flags&(unix.IFF_TUN|unix.IFF_TAP|unix.IFF_NO_PI) != unix.IFF_TUN|unix.IFF_NO_PI {
		t.Fatalf("handover names %q; the fd is %q with flags %#x: want inert0, IFF_TUN|IFF_NO_PI", name, got, flags)
	}
	d.send(tunReq(2, protocol.ProtoTap, ""))
	tap, info := d.deviceHandover(2, 1)
	if got, flags := tunFlags(t, tap[0]); infoString(t, info, "name") != got || flags&(unix.IFF_TAP|unix.IFF_NO_PI) != unix.IFF_TAP|unix.IFF_NO_PI {
		t.Fatalf("tap: handover names %v; the fd is %q with flags %#x", info, got, flags)
	}
	checkCaps("after open")

	ipIn(t, d.osPid, "addr", "add", "10.99.0.1/24", "dev", name)
	ipIn(t, d.osPid, "link", "set", name, "up")
	local := netip.MustParseAddrPort("10.99.0.1:4001")
	remote := netip.MustParseAddrPort("10.99.0.2:4002")
	var sock int
	inNetns(t, d.osPid, func() (err error) {
		sock, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Bind(sock, &unix.SockaddrInet4{Addr: local.Addr().As4(), Port: int(local.Port())})
	})
	t.Cleanup(func() { unix.Close(sock) })
	if err := unix.Sendto(sock, []byte("to the tun"), 0, &unix.SockaddrInet4{Addr: remote.Addr().As4(), Port: int(remote.Port())}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n := readWithin(t, fds[0], buf, "the datagram to 10.99.0.2 on the TUN fd")
		p := buf[:n]
		if p[0]>>4 != 4 {
			continue // the kernel's own IPv6 traffic on a new interface
		}
		ihl := int(p[0]&0xf) * 4
		if dst := netip.AddrFrom4([4]byte(p[16:20])); dst != remote.Addr() || p[9] != unix.IPPROTO_UDP ||
			binary.BigEndian.Uint16(p[ihl+2:]) != remote.Port() || string(p[ihl+8:]) != "to the tun" {
			t.Fatalf("packet on the TUN fd: % x; want one IPv4 UDP datagram to %v with its payload", p, remote)
		}
		break
	}
	if _, err := unix.Write(fds[0], udp4Packet(remote, local, []byte("from the tun"))); err != nil {
		t.Fatalf("write to the TUN fd: %v", err)
	}
	n := readWithin(t, sock, buf, "the packet written to the TUN fd, on the socket at 10.99.0.1")
	if string(buf[:n]) != "from the tun" {
		t.Fatalf("socket read %q", buf[:n])
	}
	d.info() // still serving
}

// An inertd without CAP_NET_ADMIN (root, but not in its bounding set)
// answers a TUN open eperm, hands nothing over and goes on serving.
func TestTunOpenWithoutNetAdminIsEpermAndInertdServes(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv(1) to start inertd without CAP_NET_ADMIN")
	}
	d := unshareNet(t, buildInertd(t), "setpriv", "--bounding-set", "-net_admin", "--")
	if _, prm := capSets(t, d.osPid); prm[0]&netAdminBit != 0 {
		t.Fatalf("CapPrm %#x: setpriv left CAP_NET_ADMIN", prm[0])
	}
	d.send(tunReq(1, protocol.ProtoTun, "inert0"))
	if e := d.entries(1)[0]; e[0] != etf.Atom("error") || e[3] != etf.Atom("eperm") {
		t.Fatalf("TUN open without CAP_NET_ADMIN answered %v, want {error, _, _, eperm}", e)
	}
	d.noHandover()
	d.send(ptyReq(2, protocol.Termios{}))
	d.deviceHandover(2, 2) // still serving, and opening
}

// A termios request sets the line of a tty the VM holds (here the peer of
// a pty inertd made) and is answered ok; the settings stay with the open
// file, inertd keeps no copy; a socket is enotty.
func TestTermiosSetsTheLineOfAHeldTTY(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	d.send(ptyReq(1, protocol.Termios{}))
	fds, _ := d.deviceHandover(1, 2)
	peer := fds[1]
	req := func(ref uint32, fd int, tio protocol.Termios) *protocol.Request {
		return &protocol.Request{Op: protocol.OpTermios, Pid: testPid(1), Ref: testRef(ref),
			FD: int64(fd), FDValid: true, Termios: tio, TermiosOK: true}
	}
	d.send(req(2, peer, protocol.Termios{Set: protocol.TermSpeed | protocol.TermFlow | protocol.TermRaw,
		Speed: 9600, Flow: protocol.FlowSoftware, Raw: true}), peer)
	if e := d.entries(1)[0]; e[0] != etf.Atom("reply") || e[3] != etf.Atom("ok") {
		t.Fatalf("termios answered %v, want {reply, _, _, ok}", e)
	}
	tio, err := unix.IoctlGetTermios(peer, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Cflag&unix.CBAUD != unix.B9600 || tio.Iflag&(unix.IXON|unix.IXOFF) != unix.IXON|unix.IXOFF || tio.Lflag&unix.ICANON != 0 {
		t.Fatalf("peer after termios: cflag %#x iflag %#x lflag %#x; want B9600, IXON|IXOFF, no ICANON", tio.Cflag, tio.Iflag, tio.Lflag)
	}
	rx, _ := socketpair(t)
	d.send(req(3, rx, protocol.Termios{Set: protocol.TermSpeed, Speed: 9600}), rx)
	if e := d.entries(1)[0]; e[0] != etf.Atom("error") || e[3] != etf.Atom("enotty") {
		t.Fatalf("termios of a socket answered %v, want {error, _, _, enotty}", e)
	}
	d.info()
	d.waitOpenFDs(base, "inertd's copies of the pty and of the termios fds closed")
}
