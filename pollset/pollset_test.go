//go:build linux || darwin || freebsd || openbsd || dragonfly

package pollset_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
	"github.com/inert-go/inert/pollset"
)

const (
	Read  = pollset.Read
	Write = pollset.Write
)

// Waits that expect an event return as soon as it comes; waits that
// expect none last quiet.
const (
	eventually = 5 * time.Second
	quiet      = 50 * time.Millisecond
)

func TestReportsOnlyArmedDirections(t *testing.T) {
	tests := []struct {
		name     string
		open     func(*testing.T) *pair
		readable bool // the peer has written a byte to fd
		arm      pollset.Events
		want     pollset.Events
	}{
		{"socketpair idle armed Read", socketPair, false, Read, 0},
		{"socketpair readable armed Read", socketPair, true, Read, Read},
		{"socketpair readable armed Write", socketPair, true, Write, Write},
		{"socketpair readable armed Read|Write", socketPair, true, Read | Write, Read | Write},
		{"socketpair idle armed Write", socketPair, false, Write, Write},
		{"pipe idle armed Read", pipeReadEnd, false, Read, 0},
		{"pipe readable armed Read", pipeReadEnd, true, Read, Read},
		{"pipe write end armed Write", pipeWriteEnd, false, Write, Write},
		{"tcp idle armed Read", tcpPair, false, Read, 0},
		{"tcp readable armed Read", tcpPair, true, Read, Read},
		{"tcp readable armed Write", tcpPair, true, Write, Write},
		{"tcp idle armed Read|Write", tcpPair, false, Read | Write, Write},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, fds := open(t), tt.open(t)
			if tt.readable {
				send(t, fds.peer)
			}
			if err := p.Add(fds.fd, tt.arm); err != nil {
				t.Fatalf("Add: %v", err)
			}
			d := eventually
			if tt.want == 0 {
				d = quiet
			}
			expect(t, wait(t, p, d), fds.fd, tt.want)
		})
	}
}

func TestOneShotReportsOnceUntilMod(t *testing.T) {
	for _, arm := range []pollset.Events{Read, Write, Read | Write} {
		t.Run(show(arm), func(t *testing.T) {
			p, fds := open(t), socketPair(t)
			send(t, fds.peer) // readable and writable from now on
			if err := p.Add(fds.fd, arm); err != nil {
				t.Fatalf("Add: %v", err)
			}
			for i := 0; i < 2; i++ {
				expect(t, wait(t, p, eventually), fds.fd, arm)
				expect(t, wait(t, p, quiet), fds.fd, 0)
				if err := p.Mod(fds.fd, arm); err != nil {
					t.Fatalf("Mod: %v", err)
				}
			}
		})
	}
}

func TestModReplacesMode(t *testing.T) {
	p, fds := open(t), socketPair(t)
	if err := p.Add(fds.fd, Read|Write); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := p.Mod(fds.fd, Write); err != nil {
		t.Fatalf("Mod Write: %v", err)
	}
	send(t, fds.peer)
	expect(t, wait(t, p, eventually), fds.fd, Write)

	if err := p.Mod(fds.fd, Read); err != nil {
		t.Fatalf("Mod Read: %v", err)
	}
	expect(t, wait(t, p, eventually), fds.fd, Read)
}

func TestDelStopsEventsAndWorksBeforeClose(t *testing.T) {
	p, fds := open(t), socketPair(t)
	if err := p.Add(fds.fd, Read); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := p.Del(fds.fd); err != nil {
		t.Fatalf("Del: %v", err)
	}
	send(t, fds.peer)
	expect(t, wait(t, p, quiet), fds.fd, 0)

	if err := p.Add(fds.fd, Read); err != nil {
		t.Fatalf("Add after Del: %v", err)
	}
	expect(t, wait(t, p, eventually), fds.fd, Read)
	if err := p.Del(fds.fd); err != nil {
		t.Fatalf("Del after the event: %v", err)
	}
	fds.closeFD(t)
	expect(t, wait(t, p, quiet), fds.fd, 0)
}

func TestPeerCloseIsReported(t *testing.T) {
	tests := []struct {
		name string
		open func(*testing.T) *pair
	}{
		{"socketpair", socketPair},
		{"pipe", pipeReadEnd},
		{"tcp", tcpPair},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, fds := open(t), tt.open(t)
			if err := p.Add(fds.fd, Read); err != nil {
				t.Fatalf("Add: %v", err)
			}
			expect(t, wait(t, p, quiet), fds.fd, 0)
			fds.closePeer(t)
			// Read, perhaps with Write (EPOLLHUP): the caller keeps what it armed.
			if got := wait(t, p, eventually)[int32(fds.fd)]; got&Read == 0 {
				t.Fatalf("fd %d after peer close: got %s, want Read", fds.fd, show(got))
			}
		})
	}
}

func TestWatchStaysLevelTriggered(t *testing.T) {
	p, fds := open(t), socketPair(t)
	if err := p.Watch(fds.fd); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	expect(t, wait(t, p, quiet), fds.fd, 0)
	send(t, fds.peer)
	for i := 0; i < 3; i++ {
		expect(t, wait(t, p, eventually), fds.fd, Read)
	}
	receive(t, fds.fd)
	expect(t, wait(t, p, quiet), fds.fd, 0)
	send(t, fds.peer)
	expect(t, wait(t, p, eventually), fds.fd, Read)
}

func TestWaitReturnsTheRestWhenBufferIsShort(t *testing.T) {
	p := open(t)
	armed := map[int32]bool{}
	for i := 0; i < 5; i++ {
		fds := socketPair(t)
		send(t, fds.peer)
		if err := p.Add(fds.fd, Read); err != nil {
			t.Fatalf("Add: %v", err)
		}
		armed[int32(fds.fd)] = true
	}
	buf := make([]pollset.Event, 2)
	for _, want := range []int{2, 2, 1, 0} {
		d := eventually
		if want == 0 {
			d = quiet
		}
		evs := waitInto(t, p, buf, d)
		if len(evs) != want {
			t.Fatalf("Wait with room for %d: got %d events %v, want %d", len(buf), len(evs), evs, want)
		}
		for _, e := range evs {
			if !armed[e.FD] || e.Events != Read {
				t.Fatalf("unexpected or repeated event %+v", e)
			}
			delete(armed, e.FD)
		}
	}
}

func TestAddRegularFileFailsWithEPERM(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("kqueue accepts regular files: they are always ready")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = open(t).Add(int(f.Fd()), Read)
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("Add of a regular file: got %v, want EPERM", err)
	}
	checkSyscallError(t, err)
}

func TestBadFDFailsWithEBADF(t *testing.T) {
	tests := []struct {
		name string
		call func(p pollset.Poller, fd int) error
	}{
		{"Add", func(p pollset.Poller, fd int) error { return p.Add(fd, Read) }},
		{"Watch", func(p pollset.Poller, fd int) error { return p.Watch(fd) }},
		{"Del", func(p pollset.Poller, fd int) error { return p.Del(fd) }},
	}
	fds := []struct {
		name string
		fd   func(*testing.T) int
	}{
		{"closed", closedFD},
		{"negative", func(*testing.T) int { return -1 }},
	}
	for _, tt := range tests {
		for _, fd := range fds {
			t.Run(tt.name+" "+fd.name+" fd", func(t *testing.T) {
				p := open(t) // first: it could take the number of the closed fd
				err := tt.call(p, fd.fd(t))
				if !errors.Is(err, unix.EBADF) {
					t.Fatalf("got %v, want EBADF", err)
				}
				checkSyscallError(t, err)
			})
		}
	}
}

func TestNoDirectionFailsWithEINVAL(t *testing.T) {
	p, fds := open(t), socketPair(t)
	for _, ev := range []pollset.Events{0, 4} {
		if err := p.Add(fds.fd, ev); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Add(%s): got %v, want EINVAL", show(ev), err)
		}
	}
	if _, err := p.Wait(nil, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Wait with an empty buffer: got %v, want EINVAL", err)
	}
}

func TestWaitTimeoutReturnsNoEvents(t *testing.T) {
	p, fds := open(t), socketPair(t)
	if err := p.Add(fds.fd, Read); err != nil {
		t.Fatalf("Add: %v", err)
	}
	buf := make([]pollset.Event, 8)
	for _, msec := range []int{0, 50} {
		start := time.Now()
		n, err := p.Wait(buf, msec)
		elapsed := time.Since(start)
		if n != 0 || err != nil {
			t.Fatalf("Wait(%d ms) on an idle fd: got %d, %v, want 0, nil", msec, n, err)
		}
		// Half the timeout: a signal may end a wait early (0, nil too).
		if elapsed < time.Duration(msec)*time.Millisecond/2 || elapsed > eventually {
			t.Errorf("Wait(%d ms) took %v", msec, elapsed)
		}
	}
}

func TestThousandFDsAreEachReportedOnce(t *testing.T) {
	const n = 1000
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < n+64 {
		t.Skipf("RLIMIT_NOFILE %d is too low for %d fds", lim.Cur, n)
	}
	p := open(t)
	armed := map[int32]bool{}
	for len(armed) < n {
		fds := socketPair(t)
		send(t, fds.fd)
		send(t, fds.peer)
		for _, fd := range []int{fds.fd, fds.peer} {
			if err := p.Add(fd, Read); err != nil {
				t.Fatalf("Add fd %d: %v", fd, err)
			}
			armed[int32(fd)] = true
		}
	}
	buf := make([]pollset.Event, 128)
	for len(armed) > 0 {
		evs := waitInto(t, p, buf, eventually)
		if len(evs) == 0 {
			t.Fatalf("%d fds never reported", len(armed))
		}
		for _, e := range evs {
			if !armed[e.FD] || e.Events != Read {
				t.Fatalf("unexpected or repeated event %+v", e)
			}
			delete(armed, e.FD)
		}
	}
	if evs := waitInto(t, p, buf, quiet); len(evs) != 0 {
		t.Fatalf("after all %d were reported: got %v", n, evs)
	}
}

func TestModWaitDoesNotAllocate(t *testing.T) {
	p, fds := open(t), socketPair(t)
	if err := p.Add(fds.fd, Write); err != nil {
		t.Fatalf("Add: %v", err)
	}
	buf := make([]pollset.Event, 8)
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		if err == nil {
			err = modWait(p, fds.fd, buf)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("Mod+Wait: %v allocs, want 0", allocs)
	}
}

func BenchmarkModWait(b *testing.B) {
	p, err := openPoller()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	fds := testfd.Socketpair(b, unix.SOCK_STREAM, false)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := p.Add(fds[0], Write); err != nil {
		b.Fatal(err)
	}
	buf := make([]pollset.Event, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := modWait(p, fds[0], buf); err != nil {
			b.Fatal(err)
		}
	}
}

// modWait re-arms an always-writable fd and waits for it.
func modWait(p pollset.Poller, fd int, buf []pollset.Event) error {
	if err := p.Mod(fd, Write); err != nil {
		return err
	}
	_, err := p.Wait(buf, -1)
	return err
}

// openPoller makes the Poller the tests run on: the OS's default, or
// another implementation while its own test runs these (uring_linux_test.go).
var openPoller = pollset.New

// open returns a Poller that is closed when the test ends.
func open(t *testing.T) pollset.Poller {
	t.Helper()
	p, err := openPoller()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// pair is an fd under test and the peer that makes it readable or hangs
// up. Both are closed when the test ends unless the test closed them.
type pair struct{ fd, peer int }

func newPair(t *testing.T, fd, peer int) *pair {
	p := &pair{fd, peer}
	t.Cleanup(func() {
		for _, fd := range []int{p.fd, p.peer} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	})
	return p
}

func (p *pair) closeFD(t *testing.T) {
	t.Helper()
	check(t, "close", unix.Close(p.fd))
	p.fd = -1
}

func (p *pair) closePeer(t *testing.T) {
	t.Helper()
	check(t, "close", unix.Close(p.peer))
	p.peer = -1
}

func socketPair(t *testing.T) *pair {
	t.Helper()
	fds := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	return newPair(t, fds[0], fds[1])
}

func pipeReadEnd(t *testing.T) *pair {
	t.Helper()
	fds := make([]int, 2)
	check(t, "pipe", unix.Pipe(fds))
	return newPair(t, fds[0], fds[1])
}

func pipeWriteEnd(t *testing.T) *pair {
	t.Helper()
	fds := make([]int, 2)
	check(t, "pipe", unix.Pipe(fds))
	return newPair(t, fds[1], fds[0])
}

// tcpPair connects two TCP sockets over 127.0.0.1: fd is the accepted end.
func tcpPair(t *testing.T) *pair {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	check(t, "socket", err)
	defer unix.Close(ln)
	check(t, "bind", unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	check(t, "listen", unix.Listen(ln, 1))
	addr, err := unix.Getsockname(ln)
	check(t, "getsockname", err)
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	check(t, "socket", err)
	if err := unix.Connect(c, addr); err != nil {
		unix.Close(c)
		t.Fatalf("connect: %v", err)
	}
	s, _, err := unix.Accept(ln)
	if err != nil {
		unix.Close(c)
		t.Fatalf("accept: %v", err)
	}
	return newPair(t, s, c)
}

// closedFD returns an fd number that is not open.
func closedFD(t *testing.T) int {
	t.Helper()
	fds := make([]int, 2)
	check(t, "pipe", unix.Pipe(fds))
	unix.Close(fds[0])
	unix.Close(fds[1])
	return fds[0]
}

func send(t *testing.T, fd int) {
	t.Helper()
	_, err := unix.Write(fd, []byte{'x'})
	check(t, "write", err)
}

func receive(t *testing.T, fd int) {
	t.Helper()
	_, err := unix.Read(fd, make([]byte, 16))
	check(t, "read", err)
}

func check(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

func checkSyscallError(t *testing.T, err error) {
	t.Helper()
	var se *os.SyscallError
	if !errors.As(err, &se) {
		t.Errorf("%v (%T) is not an *os.SyscallError", err, err)
	}
}

// waitInto calls Wait until it returns events or d has passed, so that an
// interrupted Wait (0, nil) does not pass for a timeout.
func waitInto(t *testing.T, p pollset.Poller, buf []pollset.Event, d time.Duration) []pollset.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		n, err := p.Wait(buf, int(left.Milliseconds()))
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if n > 0 || left == 0 {
			return buf[:n]
		}
	}
}

// wait is waitInto merged per fd: kqueue reports each direction apart.
func wait(t *testing.T, p pollset.Poller, d time.Duration) map[int32]pollset.Events {
	t.Helper()
	got := map[int32]pollset.Events{}
	for _, e := range waitInto(t, p, make([]pollset.Event, 16), d) {
		got[e.FD] |= e.Events
	}
	return got
}

// expect checks that fd, and no other fd, was reported with want (0: that
// nothing was reported).
func expect(t *testing.T, got map[int32]pollset.Events, fd int, want pollset.Events) {
	t.Helper()
	for f, ev := range got {
		if f != int32(fd) {
			t.Fatalf("got an event for fd %d (%s), want events for fd %d only", f, show(ev), fd)
		}
	}
	if ev := got[int32(fd)]; ev != want {
		t.Fatalf("fd %d: got %s, want %s", fd, show(ev), show(want))
	}
}

func show(ev pollset.Events) string {
	switch ev {
	case 0:
		return "nothing"
	case Read:
		return "Read"
	case Write:
		return "Write"
	case Read | Write:
		return "Read|Write"
	}
	return fmt.Sprintf("Events(%#x)", uint8(ev))
}
