//go:build linux

package pollset_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
	"github.com/inert-go/inert/pollset"
)

// openUring is openPoller for Uring; it skips the test where the kernel
// has no usable io_uring (inertd then runs on epoll).
func openUring(t *testing.T) func() (pollset.Poller, error) {
	u, err := pollset.NewUring()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no io_uring here: %v", err)
	}
	if err != nil {
		t.Fatalf("NewUring: %v", err)
	}
	u.Close()
	return func() (pollset.Poller, error) {
		u, err := pollset.NewUring()
		if err != nil {
			return nil, err
		}
		return u, nil
	}
}

// useUring makes open return Uring pollers until the test ends.
func useUring(t *testing.T) {
	saved := openPoller
	openPoller = openUring(t)
	t.Cleanup(func() { openPoller = saved })
}

// The Poller contract tests of pollset_test.go, on Uring. Left out: the
// two that check what epoll refuses at once (EPERM, EBADF); Uring's
// answers to those are tested below.
func TestUringKeepsThePollerContract(t *testing.T) {
	useUring(t)
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"ReportsOnlyArmedDirections", TestReportsOnlyArmedDirections},
		{"OneShotReportsOnceUntilMod", TestOneShotReportsOnceUntilMod},
		{"ModReplacesMode", TestModReplacesMode},
		{"DelStopsEventsAndWorksBeforeClose", TestDelStopsEventsAndWorksBeforeClose},
		{"PeerCloseIsReported", TestPeerCloseIsReported},
		{"WatchStaysLevelTriggered", TestWatchStaysLevelTriggered},
		{"WaitReturnsTheRestWhenBufferIsShort", TestWaitReturnsTheRestWhenBufferIsShort},
		{"NoDirectionFailsWithEINVAL", TestNoDirectionFailsWithEINVAL},
		{"WaitTimeoutReturnsNoEvents", TestWaitTimeoutReturnsNoEvents},
		{"ThousandFDsAreEachReportedOnce", TestThousandFDsAreEachReportedOnce},
		{"ModWaitDoesNotAllocate", TestModWaitDoesNotAllocate},
	} {
		t.Run(tc.name, tc.test)
	}
}

func TestUringReportsARegularFileReadyAsPollDoes(t *testing.T) {
	useUring(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := open(t)
	if err := p.Add(int(f.Fd()), Read|Write); err != nil {
		t.Fatalf("Add of a regular file: %v", err)
	}
	expect(t, wait(t, p, eventually), int(f.Fd()), Read|Write)
}

func TestUringReportsAClosedFDReadyAtTheNextWait(t *testing.T) {
	useUring(t)
	p := open(t)
	fd := closedFD(t)
	if err := p.Add(fd, Read); err != nil {
		t.Fatalf("Add of a closed fd: %v (the kernel answers with the poll)", err)
	}
	expect(t, wait(t, p, eventually), fd, Read|Write)
}

func TestUringRefusesWhatEpollRefusesOfItsOwnState(t *testing.T) {
	useUring(t)
	p, fds := open(t), socketPair(t)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Mod of an fd never added", func() error { return p.Mod(fds.fd, Read) }, unix.ENOENT},
		{"Del of an fd never added", func() error { return p.Del(fds.fd) }, unix.ENOENT},
		{"Add of a negative fd", func() error { return p.Add(-1, Read) }, unix.EINVAL},
		{"Add", func() error { return p.Add(fds.fd, Read) }, nil},
		{"Add twice", func() error { return p.Add(fds.fd, Read) }, unix.EEXIST},
		{"Watch of an added fd", func() error { return p.Watch(fds.fd) }, unix.EEXIST},
		{"Del", func() error { return p.Del(fds.fd) }, nil},
		{"Del twice", func() error { return p.Del(fds.fd) }, unix.ENOENT},
	}
	for _, tt := range tests { // in order: each step builds on the last
		err := tt.call()
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Fatalf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if err != nil {
			checkSyscallError(t, err)
		}
	}
}

// A poll that completes while it is being replaced must not be reported
// for the new interest: only the new poll's completion counts.
func TestUringDropsTheCompletionOfAReplacedPoll(t *testing.T) {
	useUring(t)
	p, fds := open(t), socketPair(t)
	send(t, fds.peer)
	if err := p.Add(fds.fd, Read); err != nil {
		t.Fatalf("Add: %v", err)
	}
	// Submitted and completed in the kernel, not yet reaped.
	if n, err := p.Wait(make([]pollset.Event, 1), 0); n != 1 || err != nil {
		t.Fatalf("first Wait: %d, %v", n, err)
	}
	if err := p.Mod(fds.fd, Read); err != nil {
		t.Fatalf("Mod: %v", err)
	}
	if err := p.Del(fds.fd); err != nil {
		t.Fatalf("Del: %v", err)
	}
	if err := p.Add(fds.fd, Write); err != nil {
		t.Fatalf("Add again: %v", err)
	}
	expect(t, wait(t, p, eventually), fds.fd, Write)
	expect(t, wait(t, p, quiet), fds.fd, 0)
}

// docs/contract.md, File descriptors: once inertd has closed its duplicate, the VM's close is the
// last one and the peer sees EOF. CloseFD after a delivered poll and after
// a Del of a pending one both leave nothing holding the file.
func TestUringCloseFDLetsThePeerSeeEOF(t *testing.T) {
	for _, fired := range []bool{true, false} {
		name := "after Del of a pending poll"
		if fired {
			name = "after the poll fired"
		}
		t.Run(name, func(t *testing.T) {
			useUring(t)
			p, fds := open(t), socketPair(t)
			dup, err := unix.Dup(fds.fd)
			check(t, "dup", err)
			if err := p.Add(dup, Read); err != nil {
				t.Fatalf("Add: %v", err)
			}
			if fired {
				send(t, fds.peer)
				expect(t, wait(t, p, eventually), dup, Read)
				receive(t, fds.fd) // unread data would make the close a reset
			} else {
				expect(t, wait(t, p, quiet), dup, 0)
			}
			if err := p.Del(dup); err != nil {
				t.Fatalf("Del: %v", err)
			}
			if err := p.(*pollset.Uring).CloseFD(dup); err != nil {
				t.Fatalf("CloseFD: %v", err)
			}
			expect(t, wait(t, p, quiet), dup, 0) // submits the close
			fds.closeFD(t)
			// Blocking, but bounded: a close that never happened fails
			// with EAGAIN after 2 s instead of hanging.
			check(t, "fcntl", unix.SetNonblock(fds.peer, false))
			tv := unix.Timeval{Sec: 2}
			check(t, "setsockopt", unix.SetsockoptTimeval(fds.peer, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
			n, err := unix.Read(fds.peer, make([]byte, 1))
			if n != 0 || err != nil {
				t.Fatalf("peer read after the last close: %d, %v, want EOF", n, err)
			}
		})
	}
}

// More completions than the completion ring holds (1,024) are kept by the
// kernel and all reported, each once.
func TestUringReportsMoreEventsThanTheRingHolds(t *testing.T) {
	const n = 17000
	testfd.RaiseNoFile(t, n)
	useUring(t)
	p, fds := open(t), socketPair(t)
	armed := make(map[int32]bool, n)
	for len(armed) < n {
		dup, err := unix.Dup(fds.fd)
		check(t, "dup", err)
		t.Cleanup(func() { unix.Close(dup) })
		if err := p.Add(dup, Read); err != nil {
			t.Fatalf("Add: %v", err)
		}
		armed[int32(dup)] = true
	}
	expect(t, wait(t, p, quiet), fds.fd, 0) // every poll submitted, none fired
	send(t, fds.peer)
	buf := make([]pollset.Event, 1024)
	for len(armed) > 0 {
		evs := waitInto(t, p, buf, eventually)
		if len(evs) == 0 {
			t.Fatalf("%d of %d fds never reported", len(armed), n)
		}
		for _, e := range evs {
			if !armed[e.FD] || e.Events != Read {
				t.Fatalf("unexpected or repeated event %+v", e)
			}
			delete(armed, e.FD)
		}
	}
}

// A ring is small: the kernel counts its memory against the user's
// RLIMIT_MEMLOCK (8 MiB on most systems), shared by every inertd of that
// user, so it must leave room for a couple of hundred of them.
func TestUringRingFitsTwoHundredDaemonsInEightMiB(t *testing.T) {
	u, err := pollset.NewUring()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	n := pollset.RingBytes(u)
	t.Logf("ring memory %d bytes: %d rings in 8 MiB", n, 8<<20/n)
	if n > 8<<20/200 {
		t.Fatalf("ring memory %d bytes: fewer than 200 rings fit in 8 MiB", n)
	}
}
