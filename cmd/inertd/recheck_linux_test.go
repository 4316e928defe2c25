//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
	"github.com/inert-go/inert/protocol"
)

// streamPair is a connected stream socket pair: vmEnd plays a socket the
// VM arms and later closes itself (the test closes it), peer the other
// side, closed at cleanup.
func streamPair(t *testing.T) (vmEnd, peer int) {
	t.Helper()
	p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	testfd.CloseAtEnd(t, p[1])
	return p[0], p[1]
}

// awaitEOF waits up to 5 s for peer to read end of file (or a reset): the last copy
// of the other end has been closed, inertd's included.
func awaitEOF(t *testing.T, peer int) time.Duration {
	t.Helper()
	start := time.Now()
	pfd := []unix.PollFd{{Fd: int32(peer), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 5000); err != nil || n != 1 {
		t.Fatalf("peer not readable within 5 s (n %d, err %v): inertd still holds the other end", n, err)
	}
	var b [1]byte
	// A close with data unread in it is a reset rather than an EOF.
	if n, err := unix.Read(peer, b[:]); (n != 0 || err != nil) && err != unix.ECONNRESET {
		t.Fatalf("peer read %d bytes (err %v), want end of file", n, err)
	}
	return time.Since(start)
}

// An armed fd the VM closes without fdclr is released by inertd within
// the re-check interval: the peer sees EOF, the fdset's owner gets a
// closed entry (a poll's an ebadf error) and no event, and inertd holds
// nothing more. A number closed and reused for another file is the same.
func TestArmedFDTheVMClosesIsReleasedWithAClosedEntryAndNoEvent(t *testing.T) {
	d := startDaemon(t, os.Getpid(), "-recheck", "50ms")
	d.connect()
	base := d.openFDs()

	// fdset, closed in the VM.
	a, peerA := streamPair(t)
	d.send(fdset(1, 7, a, protocol.ModeRead), a)
	d.info()
	unix.Close(a)
	took := awaitEOF(t, peerA)
	if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{closed, 1, 7, %d}", a) {
		t.Fatalf("after the VM closed armed fd %d: %s, want {closed, 1, 7, %d}", a, show(e), a)
	}
	t.Logf("peer saw EOF %v after the VM closed its fd (re-check every 50ms)", took)

	// poll, closed in the VM and the number taken by another file.
	b, peerB := streamPair(t)
	other, _ := socketpair(t)
	d.send(poll(2, 8, b, protocol.ModeRead), b)
	d.info()
	if err := unix.Dup3(other, b, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(b)
	awaitEOF(t, peerB)
	if e := d.entries(1)[0]; show(e) != "{error, 2, ref 8, ebadf}" {
		t.Fatalf("after the VM reused armed fd %d: %s, want {error, 2, ref 8, ebadf}", b, show(e))
	}
	d.waitOpenFDs(base, "both copies of the fds the VM closed or reused released")
	info := d.info()
	if n := counter(info, "armed"); n != 0 {
		t.Fatalf("%d interests still armed", n)
	}
	if c := counter(info, "vm_closed"); c != 2 {
		t.Fatalf("vm_closed %d, want 2", c)
	}
}

// Each way of telling whether the VM's fd is still inertd's copy, on
// real fds of this process (it plays the VM): the same file, a closed
// number, a number that names another file.
func TestEachWayOfRecheckingTellsClosedAndReusedFromHeld(t *testing.T) {
	for _, tc := range []struct {
		name       string
		how        int
		seesReused bool
	}{
		{"kcmp", byKcmp, true},
		{"stat", byStat, true},
		{"lstat", byOpen, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			v := newVMFiles(os.Getpid(), false, writingLogger(&logged))
			v.self = os.Getpid()
			v.how = tc.how
			held, _ := socketpair(t)
			copyFD, err := unix.Dup(held)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(copyFD)
			if same, err := v.SameAsVM(int64(held), copyFD); !same || err != nil {
				t.Fatalf("held fd: same %v err %v, want true", same, err)
			}
			closedNum, err := unix.Dup(held)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(closedNum)
			if same, err := v.SameAsVM(int64(closedNum), copyFD); same || err != nil {
				t.Fatalf("closed fd: same %v err %v, want false", same, err)
			}
			other, _ := socketpair(t)
			if same, err := v.SameAsVM(int64(other), copyFD); same == tc.seesReused || err != nil {
				t.Fatalf("another file: same %v err %v, want %v", same, err, !tc.seesReused)
			}
			if v.how != tc.how || logged.Len() != 0 {
				t.Fatalf("gave up %s here (now %d): %s", tc.name, v.how, logged.String())
			}
		})
	}
}

// contextSwitches is the number of times every thread of pid has been
// switched out: each wake-up of a sleeping thread is one.
func contextSwitches(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that has just exited
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
				c, _ := strconv.Atoi(strings.TrimSpace(v))
				n += c
			}
		}
	}
	return n
}

// The re-check timer runs only while something is armed: an idle daemon
// makes no wake-ups for it, an armed one one per interval.
func TestRecheckWakesOnlyWhileSomethingIsArmed(t *testing.T) {
	d := startDaemon(t, os.Getpid(), "-recheck", "10ms", "-spin", "0")
	d.connect()
	d.info()
	time.Sleep(100 * time.Millisecond) // the runtime settles after start
	window := func() int {
		before := contextSwitches(t, d.osPid)
		time.Sleep(500 * time.Millisecond)
		return contextSwitches(t, d.osPid) - before
	}
	idle := window()
	rx, _ := socketpair(t)
	d.send(fdset(1, 1, rx, protocol.ModeRead), rx)
	d.info()
	armed := window()
	d.send(&protocol.Request{Op: protocol.OpDown, Pid: testPid(1)})
	d.info()
	time.Sleep(100 * time.Millisecond)
	idleAgain := window()
	t.Logf("wake-ups in 500 ms: idle %d, one fd armed (re-check every 10ms) %d, idle again %d", idle, armed, idleAgain)
	if armed < 25 {
		t.Fatalf("%d wake-ups in 500 ms with an fd armed and a 10ms re-check, want about 50: the test cannot see re-checks", armed)
	}
	if idle > 5 || idleAgain > 5 {
		t.Fatalf("idle daemon woke %d and %d times in 500 ms, want none from the re-check", idle, idleAgain)
	}
}

// An fd the VM closed whose old file becomes ready before the next
// periodic re-check gets no event: the interests of the fds a wait
// reports are re-checked first. Here the periodic re-check is an hour
// away, so only that check can catch it.
func TestReadyFDTheVMClosedGetsAClosedEntryNotAnEvent(t *testing.T) {
	d := startDaemon(t, os.Getpid(), "-recheck", "1h")
	d.connect()
	a, peer := streamPair(t)
	d.send(fdset(1, 5, a, protocol.ModeRead), a)
	d.info()
	unix.Close(a)
	if _, err := unix.Write(peer, []byte("x")); err != nil { // inertd's copy is readable now
		t.Fatal(err)
	}
	if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{closed, 1, 5, %d}", a) {
		t.Fatalf("old file of closed fd %d became readable: %s, want {closed, 1, 5, %d}", a, show(e), a)
	}
	awaitEOF(t, peer)
}
