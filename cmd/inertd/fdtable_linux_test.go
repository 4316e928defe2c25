//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// The kernel grows the fd table of a multi-threaded process with an RCU
// grace period, milliseconds each time: inertd sizes it once, before its
// ready frame, so that receiving the VM's fds never grows it (up to
// maxPresize).
func TestFDTableIsSizedForTheFDLimitBeforeReady(t *testing.T) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	want := min(rl.Cur, maxPresize)
	d := startDaemon(t, os.Getpid())
	if got := fdTableSize(t, d.osPid); got < want {
		t.Fatalf("inertd's fd table has %d slots after its ready frame, want at least %d (RLIMIT_NOFILE %d, cap %d)",
			got, want, rl.Cur, maxPresize)
	}
}

// fdTableSize is the FDSize of /proc/PID/status: the slots of the fd table.
func fdTableSize(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("FDSize:")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				t.Fatalf("FDSize %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no FDSize in /proc/%d/status", pid)
	return 0
}
