//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"
	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/protocol"
)

// The test binary doubles as inertd: the tests start it as a real child
// process, as the VM would, and play the VM's part themselves.
func TestMain(m *testing.M) {
	if os.Getenv("INERTD_TEST_DAEMON") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// child is one running inertd and the test's VM-side ends.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *syncBuffer
	side   int // side channel socket, -1 until connected
	path   string
	osPid  int
	waited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startDaemon(t *testing.T, vmPID int, extra ...string) *child {
	t.Helper()
	return startExe(t, os.Args[0], vmPID, extra...)
}

// startExe starts exe (the test binary, or a real inertd build) as inertd.
func startExe(t *testing.T, exe string, vmPID int, extra ...string) *child {
	t.Helper()
	return startCmd(t, inertdCmd(exe, vmPID, extra...))
}

// inertdCmd is the command line the VM would run.
func inertdCmd(exe string, vmPID int, extra ...string) *exec.Cmd {
	args := append([]string{"-vm-pid", fmt.Sprint(vmPID)}, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "INERTD_TEST_DAEMON=1")
	return cmd
}

// startCmd starts cmd, an inertdCmd the test may have changed, and reads
// its ready frame.
func startCmd(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	d := &child{t: t, cmd: cmd, side: -1, stderr: &syncBuffer{}, waited: make(chan error, 1)}
	cmd.Stderr = d.stderr
	var err error
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.stdout = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		if d.side >= 0 {
			unix.Close(d.side)
		}
		cmd.Process.Kill()
		<-d.waited
		if t.Failed() {
			t.Logf("inertd stderr:\n%s", d.stderr)
		}
	})
	ready := d.frame()
	if len(ready) != 1 {
		t.Fatalf("ready frame %v, want one entry", ready)
	}
	e := ready[0].(etf.Tuple)
	if e[0] != etf.Atom("ready") || toInt(e[1]) != 1 {
		t.Fatalf("first frame %v, want {ready, 1, OsPid, Path}", e)
	}
	d.osPid, d.path = toInt(e[2]), string(e[3].([]byte))
	if d.osPid != cmd.Process.Pid {
		t.Fatalf("ready names os pid %d, child is %d", d.osPid, cmd.Process.Pid)
	}
	return d
}

// connect plays the VM: connect the side channel and say hello.
func (d *child) connect() {
	d.t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: d.path}); err != nil {
		d.t.Fatal(err)
	}
	d.side = fd
	d.send(&protocol.Request{Op: protocol.OpHello, Pid: testPid(0)})
	if got := d.frame(); len(got) != 1 || got[0].(etf.Tuple)[0] != etf.Atom("hello") {
		d.t.Fatalf("after hello: %v", got)
	}
}

func (d *child) send(r *protocol.Request, fds ...int) {
	d.t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(d.side, protocol.AppendRequest(nil, r), oob, nil, 0); err != nil {
		d.t.Fatalf("sendmsg: %v", err)
	}
}

// frame reads one stdout frame (with a deadline) and decodes it with ergo's
// etf, an implementation independent of ours.
func (d *child) frame() etf.List {
	d.t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var hdr [4]byte
		if _, err := io.ReadFull(d.stdout, hdr[:]); err != nil {
			ch <- result{err: err}
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		_, err := io.ReadFull(d.stdout, b)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			d.t.Fatalf("reading a frame: %v", r.err)
		}
		if r.b[0] != 131 {
			d.t.Fatalf("frame without version byte: % x", r.b)
		}
		term, rest, err := etf.Decode(r.b[1:], nil, etf.DecodeOptions{FlagBigPidRef: true})
		if err != nil || len(rest) != 0 {
			d.t.Fatalf("frame does not decode: %v (rest %d)", err, len(rest))
		}
		list, ok := term.(etf.List)
		if !ok || len(list) == 0 {
			d.t.Fatalf("frame %v is not a non-empty list", term)
		}
		return list
	case <-time.After(10 * time.Second):
		d.t.Fatal("no frame from inertd within 10 s")
		return nil
	}
}

// entries reads frames until n entries have arrived.
func (d *child) entries(n int) []etf.Tuple {
	d.t.Helper()
	var got []etf.Tuple
	for len(got) < n {
		for _, e := range d.frame() {
			got = append(got, e.(etf.Tuple))
		}
	}
	if len(got) != n {
		d.t.Fatalf("got %d entries, want %d: %v", len(got), n, got)
	}
	return got
}

func (d *child) info() etf.Map {
	d.t.Helper()
	d.send(&protocol.Request{Op: protocol.OpInfo, Pid: testPid(0), Ref: testRef(999)})
	e := d.entries(1)[0]
	if e[0] != etf.Atom("reply") {
		d.t.Fatalf("info answered with %v", e)
	}
	return e[3].(etf.Map)
}

func (d *child) exit() (int, error) {
	select {
	case err := <-d.waited:
		d.waited <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, err
	case <-time.After(10 * time.Second):
		return -1, errors.New("inertd did not exit within 10 s")
	}
}

// openFDs counts the fds the child holds.
func (d *child) openFDs() int {
	d.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.osPid))
	if err != nil {
		d.t.Fatal(err)
	}
	return len(ents)
}

// testPid is a NEW_PID_EXT pid of a node 'vm@test'; inertd treats it as
// opaque bytes.
func testPid(id uint32) []byte {
	b := []byte{88, 119, 7}
	b = append(b, "vm@test"...)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, 0)
	return binary.BigEndian.AppendUint32(b, 1)
}

// testRef is a NEWER_REFERENCE_EXT reference.
func testRef(id uint32) []byte {
	b := []byte{90, 0, 3, 119, 7}
	b = append(b, "vm@test"...)
	b = binary.BigEndian.AppendUint32(b, 1)
	for _, w := range []uint32{id, 0, 0} {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	return b
}

func toInt(t etf.Term) int {
	switch v := t.(type) {
	case int:
		return v
	case int64:
		return int(v)
	}
	panic(fmt.Sprintf("not an integer: %#v", t))
}

func socketpair(t *testing.T) (a, b int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func fdset(pid, ref uint32, fd int, m protocol.Mode) *protocol.Request {
	return &protocol.Request{Op: protocol.OpFdset, Pid: testPid(pid), Ref: testRef(ref),
		FD: int64(fd), FDValid: true, Mode: m, ModeOK: true}
}

func TestReadyFrameThenHelloThenEventOverRealSockets(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	if _, err := os.Stat(d.path); !os.IsNotExist(err) {
		t.Errorf("side channel socket %s still exists after the VM connected (err %v)", d.path, err)
	}
	base := d.openFDs()
	rx, tx := socketpair(t)
	d.send(fdset(1, 1, rx, protocol.ModeRead), rx)
	armed := d.entries(1)[0]
	if armed[0] != etf.Atom("armed") || armed[1] != etf.Atom("fdset") || toInt(armed[4]) != rx {
		t.Fatalf("fdset answered %v", armed)
	}
	if got := d.openFDs(); got != base+1 {
		t.Fatalf("inertd holds %d fds while armed, want %d (one duplicate)", got, base+1)
	}
	if _, err := unix.Write(tx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	ev := d.entries(1)[0]
	if ev[0] != etf.Atom("inert_read") || toInt(ev[2]) != rx {
		t.Fatalf("event %v, want {inert_read, Pid, %d}", ev, rx)
	}
	if got := d.openFDs(); got != base {
		t.Fatalf("inertd holds %d fds after delivery, want %d: the duplicate leaked", got, base)
	}
}

func TestEventsOfOneWakeUpShareAFrame(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	const n = 100
	txs := make([]int, n)
	for i := range txs {
		rx, tx := socketpair(t)
		txs[i] = tx
		d.send(fdset(1, uint32(i), rx, protocol.ModeRead), rx)
	}
	d.entries(n)
	for _, tx := range txs {
		unix.Write(tx, []byte("x"))
	}
	frames, events := 0, 0
	for events < n {
		events += len(d.frame())
		frames++
	}
	if events != n {
		t.Fatalf("%d events for %d ready fds", events, n)
	}
	t.Logf("%d events arrived in %d frames", n, frames)
	if frames == n {
		t.Errorf("every event had its own frame: no batching")
	}
}

func TestStdinEOFExitsAndClosesEverything(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	rx, _ := socketpair(t)
	d.send(fdset(1, 1, rx, protocol.ModeRead), rx)
	d.entries(1)
	d.stdin.Close()
	code, err := d.exit()
	if err != nil || code != 0 {
		t.Fatalf("exit status %d (%v) after stdin EOF, want 0", code, err)
	}
}

func TestForeignPeerIsRefusedAndDaemonGivesUp(t *testing.T) {
	// The child waits for pid 1, not us: our connection is refused.
	d := startDaemon(t, 1, "-accept-timeout", "300ms")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: d.path}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, _, _, _, err := unix.Recvmsg(fd, buf, nil, 0); n != 0 || err != nil {
		t.Fatalf("foreign peer read %d bytes, err %v: want EOF (connection closed)", n, err)
	}
	code, err := d.exit()
	if err != nil || code != 3 {
		t.Fatalf("exit status %d (%v), want 3 (the VM never connected)", code, err)
	}
	if !strings.Contains(d.stderr.String(), "refused side channel peer") {
		t.Errorf("refusal not logged; stderr:\n%s", d.stderr)
	}
	if _, err := os.Stat(d.path); !os.IsNotExist(err) {
		t.Errorf("socket %s left behind after exit", d.path)
	}
}

func TestGarbageOnStdinIsDroppedAndDaemonServes(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	cases := []struct {
		name  string
		bytes []byte
	}{
		{"not a term", protocol.AppendFrame(nil, []byte("hello world"))},
		{"a term that is not a request", protocol.AppendFrame(nil, []byte{131, 97, 7})},
		{"empty frame", protocol.AppendFrame(nil, nil)},
		{"oversized frame", append(binary.BigEndian.AppendUint32(nil, 1<<30), make([]byte, 70000)...)},
	}
	for _, c := range cases {
		if _, err := d.stdin.Write(c.bytes); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
	}
	// Drain the rest of the oversized frame's declared length is not
	// needed: the child must still answer on the side channel.
	info := d.info()
	counters := info[etf.Atom("counters")].(etf.Map)
	if dropped := toInt(counters[etf.Atom("dropped")]); dropped < 3 {
		t.Errorf("dropped counter %d after garbage, want >= 3", dropped)
	}
}

func TestRequestWithExtraFDsIsRefusedAndEveryFDClosed(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	rx, tx := socketpair(t)
	d.send(fdset(1, 1, rx, protocol.ModeRead), rx, tx, rx)
	e := d.entries(1)[0]
	if e[0] != etf.Atom("error") || e[3] != etf.Atom("einval") {
		t.Fatalf("three fds for fdset answered %v, want {error, _, _, einval}", e)
	}
	if got := d.openFDs(); got != base {
		t.Fatalf("inertd holds %d fds, want %d: received fds leaked", got, base)
	}
}

func TestUnacknowledgedFramesPauseRequestsUntilAck(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect() // frames 1 (ready) and 2 (hello)
	for i := 3; i <= window; i++ {
		d.info() // one frame each, answered at once
	}
	// The window is full: the next request stays in the socket.
	d.send(&protocol.Request{Op: protocol.OpInfo, Pid: testPid(0), Ref: testRef(1)})
	// stdin is not gated: ask there, and see that the side channel
	// request above has not been read.
	stdinInfo := protocol.AppendRequest(nil, &protocol.Request{Op: protocol.OpInfo, Pid: testPid(0), Ref: testRef(2)})
	if _, err := d.stdin.Write(protocol.AppendFrame(nil, stdinInfo)); err != nil {
		t.Fatal(err)
	}
	e := d.entries(1)[0]
	if got := e[2].(etf.Ref).ID[0]; got != 2 {
		t.Fatalf("first answer is for ref %d, want the stdin request (2): the window did not hold", got)
	}
	counters := e[3].(etf.Map)[etf.Atom("counters")].(etf.Map)
	if got, want := toInt(counters[etf.Atom("requests")]), window; got != want {
		t.Fatalf("requests handled %d, want %d (hello + %d infos + the stdin one)", got, want, window-2)
	}
	ack := protocol.AppendRequest(nil, &protocol.Request{Op: protocol.OpAck, Acked: window + 1})
	if _, err := d.stdin.Write(protocol.AppendFrame(nil, ack)); err != nil {
		t.Fatal(err)
	}
	if e := d.entries(1)[0]; e[2].(etf.Ref).ID[0] != 1 {
		t.Fatalf("after the ack: %v, want the answer to the held request", e)
	}
}
