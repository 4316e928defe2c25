//go:build unix

// Package testfd is the fd scaffolding of the Go tests: socketpairs,
// same-file checks, fd counting and fd-limit raising, so that every test
// package uses one copy. It is imported by tests only; it never runs
// t.Parallel and holds no state between calls. Helpers that count fds
// read /proc and skip the test where there is none; their callers must
// not run in parallel with tests that open fds.
package testfd

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Socketpair makes a connected AF_UNIX pair of type typ (unix.SOCK_STREAM,
// SOCK_DGRAM, SOCK_SEQPACKET), close-on-exec, and non-blocking when
// nonblock is set. The caller owns both fds (see CloseAtEnd).
func Socketpair(tb testing.TB, typ int, nonblock bool) [2]int {
	tb.Helper()
	// Not every OS has SOCK_CLOEXEC: ForkLock keeps a concurrent
	// os/exec from inheriting the pair before it is marked.
	syscall.ForkLock.RLock()
	p, err := unix.Socketpair(unix.AF_UNIX, typ, 0)
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		tb.Fatalf("socketpair: %v", err)
	}
	if nonblock {
		for _, fd := range p {
			if err := unix.SetNonblock(fd, true); err != nil {
				tb.Fatalf("set non-blocking: %v", err)
			}
		}
	}
	return p
}

// CloseAtEnd closes fds when the test ends.
func CloseAtEnd(tb testing.TB, fds ...int) {
	tb.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
}

// SameFile reports whether fds a and b refer to the same file (fstat's
// device and inode).
func SameFile(tb testing.TB, a, b int) bool {
	tb.Helper()
	var sa, sb unix.Stat_t
	if err := unix.Fstat(a, &sa); err != nil {
		tb.Fatalf("fstat %d: %v", a, err)
	}
	if err := unix.Fstat(b, &sb); err != nil {
		tb.Fatalf("fstat %d: %v", b, err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// Open lists this process's open fds and what they refer to, leaving out
// the runtime's own (epoll, eventfd, pidfds: anonymous inodes) and the fd
// that reads /proc.
func Open(tb testing.TB) map[int]string {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot list open fds: %v", err)
	}
	fds := make(map[int]string)
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || strings.HasPrefix(target, "anon_inode:") || strings.HasPrefix(target, "/proc/") {
			continue
		}
		var fd int
		fmt.Sscan(e.Name(), &fd)
		fds[fd] = target
	}
	return fds
}

// CheckNoNew fails tb if an fd is open that was not in before (Open's
// list: same number, same file): a leak. Fds closed meanwhile do not
// matter.
func CheckNoNew(tb testing.TB, before map[int]string) {
	tb.Helper()
	for fd, target := range Open(tb) {
		if before[fd] != target {
			tb.Errorf("fd %d (%s) is new: leaked", fd, target)
		}
	}
}

// Count is the number of fds process pid holds.
func Count(tb testing.TB, pid int) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		tb.Fatal(err)
	}
	return len(ents)
}
