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

	"github.com/inert-go/inert/internal/testfd"
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
	out    *os.File // the VM's end of inertd's stdout pipe, read through stdout
	stderr *syncBuffer
	logs   []logEntry // log entries frame has read and set aside
	frames int        // frames read, log frames included
	side   int        // side channel socket, -1 until connected
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
	if p := os.Getenv("INERTD_TEST_POLLER"); p != "" {
		// make test-go runs these tests once more on the fallback poller.
		args = append(args, "-poller", p)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "INERTD_TEST_DAEMON=1")
	return cmd
}

// startCmd starts cmd, an inertdCmd the test may have changed, and reads
// its ready frame.
func startCmd(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	d := startCmdNoReady(t, cmd)
	d.readReady()
	return d
}

// startCmdNoReady starts cmd and reads nothing: for a daemon that may
// not get as far as its ready frame.
func startCmdNoReady(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	d := &child{t: t, cmd: cmd, side: -1, stderr: &syncBuffer{}, waited: make(chan error, 1)}
	cmd.Stderr = d.stderr
	var err error
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	// A pipe of our own rather than StdoutPipe: Wait closes that one,
	// and the frames inertd wrote before it exited must stay readable
	// (allLogs).
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	d.stdout = bufio.NewReader(out)
	d.out = out
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		t.Fatal(err)
	}
	go func() { d.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		if d.side >= 0 {
			unix.Close(d.side)
		}
		cmd.Process.Kill()
		<-d.waited
		d.out.Close()
		if t.Failed() {
			t.Logf("inertd stderr:\n%s", d.stderr)
		}
	})
	return d
}

// readReady reads the ready frame: the first, and nothing but ready.
func (d *child) readReady() {
	t := d.t
	t.Helper()
	ready := d.rawFrame()
	if len(ready) != 1 {
		t.Fatalf("ready frame %v, want one entry", ready)
	}
	e := ready[0].(etf.Tuple)
	if e[0] != etf.Atom("ready") || toInt(e[1]) != 2 {
		t.Fatalf("first frame %v, want {ready, 2, OsPid, Path}", e)
	}
	d.osPid, d.path = toInt(e[2]), string(e[3].([]byte))
	if d.osPid != d.cmd.Process.Pid {
		t.Fatalf("ready names os pid %d, child is %d", d.osPid, d.cmd.Process.Pid)
	}
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
	if got := d.frame(); len(got) != 1 || got[0].(etf.Tuple)[0] != etf.Atom("hello") || toInt(got[0].(etf.Tuple)[2]) != 2 {
		d.t.Fatalf("after hello: %v, want [{hello, Owner, 2}]", got)
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

// frame reads stdout frames until one has an entry that is not a log
// entry, and returns those entries; the log entries are set aside in
// d.logs (allLogs returns them).
func (d *child) frame() etf.List {
	d.t.Helper()
	for {
		var rest etf.List
		for _, e := range d.rawFrame() {
			if le, ok := asLogEntry(e); ok {
				d.logs = append(d.logs, le)
			} else {
				rest = append(rest, e)
			}
		}
		if len(rest) > 0 {
			return rest
		}
	}
}

// allLogs returns every log entry inertd wrote, once it has exited: the
// frames still unread are read to EOF. Call it after exit.
func (d *child) allLogs() []logEntry {
	d.t.Helper()
	for {
		f, eof := d.readFrame()
		if eof {
			return d.logs
		}
		for _, e := range f {
			if le, ok := asLogEntry(e); ok {
				d.logs = append(d.logs, le)
			}
		}
	}
}

// logged counts the log entries of level whose text contains s.
func (d *child) logged(level, s string) int {
	d.t.Helper()
	n := 0
	for _, e := range d.allLogs() {
		if e.level == level && strings.Contains(e.text, s) {
			n++
		}
	}
	return n
}

// rawFrame reads one stdout frame, with a deadline.
func (d *child) rawFrame() etf.List {
	d.t.Helper()
	f, eof := d.readFrame()
	if eof {
		d.t.Fatal("reading a frame: EOF")
	}
	return f
}

// readFrame reads one stdout frame (with a deadline) and decodes it with
// ergo's etf, an implementation independent of ours; eof when stdout
// ended between frames.
func (d *child) readFrame() (etf.List, bool) {
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
		if errors.Is(r.err, io.EOF) && r.b == nil {
			return nil, true
		}
		d.frames++
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
		return list, false
	case <-time.After(10 * time.Second):
		d.t.Fatal("no frame from inertd within 10 s")
		return nil, false
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

// info asks for the info map on the side channel. The next frame must be
// its reply alone: so info also proves that the requests sent before it
// answered nothing.
func (d *child) info() etf.Map {
	d.t.Helper()
	d.send(&protocol.Request{Op: protocol.OpInfo, Pid: testPid(0), Ref: testRef(999)})
	f := d.frame()
	if len(f) != 1 || f[0].(etf.Tuple)[0] != etf.Atom("reply") {
		d.t.Fatalf("next frame %v, want only the info reply: an earlier request answered", f)
	}
	return f[0].(etf.Tuple)[3].(etf.Map)
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
	return testfd.Count(d.t, d.osPid)
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

// socketpair is a non-blocking datagram pair, closed at the end of the
// test.
func socketpair(t *testing.T) (a, b int) {
	t.Helper()
	p := testfd.Socketpair(t, unix.SOCK_DGRAM, true)
	testfd.CloseAtEnd(t, p[:]...)
	return p[0], p[1]
}

// fillPeer writes datagrams on fd until the peer's queue is full, so that
// fd is not writable.
func fillPeer(t *testing.T, fd int) {
	t.Helper()
	for i := 0; ; i++ {
		_, err := unix.Write(fd, []byte("fill"))
		switch {
		case errors.Is(err, unix.EAGAIN):
			return
		case err != nil:
			t.Fatalf("filling the peer of fd %d: %v", fd, err)
		case i > 1<<20:
			t.Fatalf("fd %d still writable after %d datagrams", fd, i)
		}
	}
}

// fdset is an fdset request as the VM sends it: Ref is the interest's
// generation, a positive integer.
func fdset(pid, gen uint32, fd int, m protocol.Mode) *protocol.Request {
	return &protocol.Request{Op: protocol.OpFdset, Pid: testPid(pid), Ref: protocol.AppendInt(nil, int64(gen)),
		FD: int64(fd), FDValid: true, Mode: m, ModeOK: true}
}

func poll(pid, ref uint32, fd int, m protocol.Mode) *protocol.Request {
	return &protocol.Request{Op: protocol.OpPoll, Pid: testPid(pid), Ref: testRef(ref),
		FD: int64(fd), FDValid: true, Mode: m, ModeOK: true}
}

// fdWait bounds waitOpenFDs: far beyond the few loop turns (and, on
// io_uring, the next io_uring_enter) that a close takes.
const fdWait = 5 * time.Second

// waitOpenFDs waits until the child holds want fds, and fails naming what
// was awaited (why) if it does not within fdWait. inertd closes fds
// asynchronously to the frames a test reads (after the frame is written;
// on io_uring, when the next wait submits the queued closes), so a count
// read at one moment would race with the close it checks.
func (d *child) waitOpenFDs(want int, why string) {
	d.t.Helper()
	deadline := time.Now().Add(fdWait)
	for {
		got := d.openFDs()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("waited %v for inertd to hold %d fds (%s): it holds %d", fdWait, want, why, got)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReadyFrameThenHelloThenEventOverRealSockets(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	if _, err := os.Stat(d.path); !os.IsNotExist(err) {
		t.Errorf("side channel socket %s still exists after the VM connected (err %v)", d.path, err)
	}
	base := d.openFDs()
	rx, tx := socketpair(t)
	d.send(fdset(1, 7, rx, protocol.ModeRead), rx)
	d.info() // the fdset answered nothing
	d.waitOpenFDs(base+1, "one duplicate while armed")
	if _, err := unix.Write(tx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	ev := d.entries(1)[0]
	if len(ev) != 4 || ev[0] != etf.Atom("inert_read") || toInt(ev[2]) != rx || toInt(ev[3]) != 7 {
		t.Fatalf("event %v, want {inert_read, Pid, %d, 7}", ev, rx)
	}
	// Closed in the turn that wrote the event, with no request to wake
	// the loop again.
	d.waitOpenFDs(base, "the delivered duplicate closed")
	c := d.info()[etf.Atom("counters")].(etf.Map)
	if toInt(c[etf.Atom("fds_received")]) != 1 || toInt(c[etf.Atom("fds_closed")]) != 1 || toInt(c[etf.Atom("armed")]) != 0 {
		t.Fatalf("counters %v: want 1 received, 1 closed, 0 armed", c)
	}
}

// A re-arm by the same process replaces the generation: the event carries
// the latest one.
func TestEventCarriesTheGenerationOfTheLatestFdset(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	rx, tx := socketpair(t)
	d.send(fdset(1, 1, rx, protocol.ModeRead), rx)
	d.send(fdset(1, 2, rx, protocol.ModeRead), rx)
	d.info()
	unix.Write(tx, []byte("x"))
	if ev := d.entries(1)[0]; ev[0] != etf.Atom("inert_read") || toInt(ev[3]) != 2 {
		t.Fatalf("event %v, want {inert_read, Pid, %d, 2}", ev, rx)
	}
}

// A regular file cannot be waited on: epoll refuses it, io_uring and
// poll(2) report it ready. inertd reports it ready at once, under either
// poller, and keeps nothing; an fdset that fails is a failed entry naming
// its FD.
func TestRegularFileIsReadyAtOnceAndAFailedFdsetNamesItsFD(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f2, err := os.CreateTemp(t.TempDir(), "regular2")
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	file, file2 := int(f.Fd()), int(f2.Fd())
	rx, _ := socketpair(t)
	d.send(fdset(1, 3, file, protocol.ModeRead), file)
	d.send(fdset(1, 4, rx, protocol.ModeRead), rx)
	d.send(fdset(2, 5, rx, protocol.ModeWrite), rx) // held by pid 1
	d.send(poll(2, 6, file2, protocol.ModeRead), file2)
	// The ebusy answer is made while the request is handled, the file's
	// events when the poller reports them (at once, or by the next wait).
	got := map[string]bool{}
	for _, e := range d.entries(3) {
		got[show(e)] = true
	}
	for _, want := range []string{
		fmt.Sprintf("{inert_read, 1, %d, 3}", file),
		fmt.Sprintf("{failed, 2, 5, %d, {ebusy, 1}}", rx),
		fmt.Sprintf("{polled, 2, ref 6, %d, read}", file2),
	} {
		if !got[want] {
			t.Errorf("no entry %s among %v", want, got)
		}
	}
	d.send(&protocol.Request{Op: protocol.OpDown, Pid: testPid(1)})
	d.info()
	d.waitOpenFDs(base, "every copy closed once the file was reported and the holder died")
}

// A fdset whose control data the kernel cut short (more fds than inertd
// takes) is rejected with a failed entry naming its FD, every fd closed.
func TestFdsetWithTruncatedFDsIsAFailedEntryWithItsFD(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	rx, _ := socketpair(t)
	fds := make([]int, protocol.MaxFDsPerMessage+4)
	for i := range fds {
		fds[i] = rx
	}
	d.send(fdset(1, 9, rx, protocol.ModeRead), fds...)
	if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{failed, 1, 9, %d, einval}", rx) {
		t.Fatalf("fdset with %d fds answered %s, want {failed, 1, 9, %d, einval}", len(fds), show(e), rx)
	}
	d.info()
	d.waitOpenFDs(base, "every fd of the truncated message closed")
}

func TestFdclrNamesTheInterestItClearedOrNone(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	rx, _ := socketpair(t)
	// Neither direction may fire while the fdclrs below arrive, or the
	// interest they name is gone: rx is not readable, and not writable
	// once its peer's queue is full.
	fillPeer(t, rx)
	d.send(fdset(1, 11, rx, protocol.ModeRW), rx)
	fdclr := func(ref uint32, m protocol.Mode) *protocol.Request {
		return &protocol.Request{Op: protocol.OpFdclr, Pid: testPid(2), Ref: testRef(ref),
			FD: int64(rx), FDValid: true, Mode: m, ModeOK: true}
	}
	d.send(fdclr(1, protocol.ModeRead), rx)
	d.send(fdclr(2, protocol.ModeWrite), rx)
	d.send(fdclr(3, protocol.ModeRW), rx)
	d.send(poll(1, 4, rx, protocol.ModeRead), rx)
	d.send(fdclr(5, protocol.ModeRW), rx)
	want := []string{
		fmt.Sprintf("{cleared, 2, ref 1, %d, write, 11}", rx),
		fmt.Sprintf("{cleared, 2, ref 2, %d, none, 11}", rx),
		fmt.Sprintf("{cleared, 2, ref 3, %d, none, none}", rx),
		fmt.Sprintf("{cleared, 2, ref 5, %d, none, ref 4}", rx),
	}
	for i, e := range d.entries(len(want)) {
		if s := show(e); s != want[i] {
			t.Errorf("entry %d: %s, want %s", i, s, want[i])
		}
	}
}

func TestPollIsAnsweredOnlyByPolled(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	rx, tx := socketpair(t)
	d.send(poll(1, 21, rx, protocol.ModeRead), rx)
	d.info() // nothing before the event
	unix.Write(tx, []byte("x"))
	if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{polled, 1, ref 21, %d, read}", rx) {
		t.Fatalf("poll answered %s", show(e))
	}
	d.waitOpenFDs(base, "the polled duplicate closed")
}

// show writes an entry with pids as their id and references as "ref id".
func show(e etf.Tuple) string {
	parts := make([]string, len(e))
	for i, x := range e {
		switch v := x.(type) {
		case etf.Pid:
			parts[i] = fmt.Sprint(v.ID)
		case etf.Ref:
			parts[i] = fmt.Sprintf("ref %d", v.ID[0])
		case etf.Tuple:
			parts[i] = show(v)
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func TestEventsOfOneWakeUpShareAFrame(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	const n = 100
	txs := make([]int, n)
	for i := range txs {
		rx, tx := socketpair(t)
		txs[i] = tx
		d.send(fdset(1, uint32(i+1), rx, protocol.ModeRead), rx)
	}
	d.info() // the fdsets answered nothing
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
	d.info()
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
	if d.logged("warning", "refused side channel peer") != 1 || d.logged("error", "did not connect") != 1 {
		t.Errorf("want a warning for the refusal and an error for the exit; logged %v", d.allLogs())
	}
	if s := d.stderr.String(); s != "" {
		t.Errorf("stderr after the ready frame:\n%s", s)
	}
	if _, err := os.Stat(d.path); !os.IsNotExist(err) {
		t.Errorf("socket %s left behind after exit", d.path)
	}
}

// The VM writes nothing but {ack, N} frames on stdin: a frame that is
// not a request, or one larger than MaxFrame, means the {packet,4}
// stream is broken (it never lines up again). inertd logs one line and
// exits with status 4, and the service restarts it.
func TestBrokenControlStreamOnStdinExitsWithStatus4(t *testing.T) {
	for _, c := range []struct {
		name  string
		bytes []byte
	}{
		{"not a term", protocol.AppendFrame(nil, []byte("hello world"))},
		{"a term that is not a request", protocol.AppendFrame(nil, []byte{131, 97, 7})},
		{"empty frame", protocol.AppendFrame(nil, nil)},
		{"two stray bytes before an ack", append([]byte{0, 0}, protocol.AppendFrame(nil,
			protocol.AppendRequest(nil, &protocol.Request{Op: protocol.OpAck, Acked: 2}))...)},
		{"oversized frame", append(binary.BigEndian.AppendUint32(nil, 1<<30), make([]byte, 70000)...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, os.Getpid())
			d.connect()
			d.stdin.Write(c.bytes) // inertd may exit before it has read everything
			code, err := d.exit()
			if err != nil || code != 4 {
				t.Fatalf("exit status %d (%v), want 4", code, err)
			}
			if n := d.logged("error", "control stream on stdin is broken"); n != 1 {
				t.Fatalf("%d error lines about the broken stream, want 1; logged %v", n, d.allLogs())
			}
			if s := d.stderr.String(); s != "" {
				t.Errorf("stderr while stdout takes frames:\n%s", s)
			}
		})
	}
}

func TestRequestWithExtraFDsIsRefusedAndEveryFDClosed(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	base := d.openFDs()
	rx, tx := socketpair(t)
	d.send(fdset(1, 1, rx, protocol.ModeRead), rx, tx, rx)
	e := d.entries(1)[0]
	if e[0] != etf.Atom("failed") || toInt(e[3]) != rx || e[4] != etf.Atom("einval") {
		t.Fatalf("three fds for fdset answered %v, want {failed, _, _, %d, einval}", e, rx)
	}
	d.waitOpenFDs(base, "the three fds of the refused fdset closed")
}

func TestUnacknowledgedFramesPauseRequestsUntilAck(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect() // ready, the start-up log lines, hello
	infos := 0
	for d.frames < window {
		d.info() // one frame each, answered at once
		infos++
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
	if got, want := toInt(counters[etf.Atom("requests")]), 1+infos+1; got != want {
		t.Fatalf("requests handled %d, want %d (hello + %d infos + the stdin one)", got, want, infos)
	}
	ack := protocol.AppendRequest(nil, &protocol.Request{Op: protocol.OpAck, Acked: int64(d.frames)})
	if _, err := d.stdin.Write(protocol.AppendFrame(nil, ack)); err != nil {
		t.Fatal(err)
	}
	if e := d.entries(1)[0]; e[2].(etf.Ref).ID[0] != 1 {
		t.Fatalf("after the ack: %v, want the answer to the held request", e)
	}
}
