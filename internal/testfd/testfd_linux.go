package testfd

import (
	"testing"

	"golang.org/x/sys/unix"
)

// RaiseNoFile lets the test open about n fds: it raises the soft
// RLIMIT_NOFILE to the hard limit until the test ends, and skips the test
// where the hard limit is too low.
func RaiseNoFile(tb testing.TB, n int) {
	tb.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("getrlimit: %v", err)
	}
	if lim.Max < uint64(n)+200 {
		tb.Skipf("hard RLIMIT_NOFILE %d is too low for %d fds", lim.Max, n)
	}
	if lim.Cur >= uint64(n)+200 {
		return
	}
	raised := lim
	raised.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
		tb.Fatalf("setrlimit: %v", err)
	}
	tb.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) })
}
