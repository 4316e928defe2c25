//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBadCommandLineExits64WithNothingOnStdout(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-vm-pid", "0"},
		{"-vm-pid", "1", "extra"},
		{"-vm-pid", "1", "-spin", "-1us"},
		{"-vm-pid", "1", "-spin", "11ms"},
		{"-vm-pid", "1", "-poller", "select"},
		{"-vm-pid", "1", "-recheck", "-1s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), "INERTD_TEST_DAEMON=1")
			var out bytes.Buffer
			cmd.Stdout = &out
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 64 {
				t.Fatalf("exit %v, want status 64", err)
			}
			if out.Len() != 0 {
				t.Fatalf("%d bytes on stdout, want none", out.Len())
			}
		})
	}
}

// cpuTime is the user+system CPU time of pid, from /proc/PID/stat.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which ends with the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// A loop that spins after activity must still go to sleep: over 500 ms of
// quiet after a request, a daemon spinning 5 ms uses about 5 ms of CPU,
// one that never stopped would use about 500 ms.
func TestSpinningLoopSleepsOnceIdle(t *testing.T) {
	d := startDaemon(t, os.Getpid(), "-spin", "5ms")
	d.connect()
	d.info()
	before := cpuTime(t, d.osPid)
	time.Sleep(500 * time.Millisecond)
	if used := cpuTime(t, d.osPid) - before; used > 100*time.Millisecond {
		t.Fatalf("inertd used %v of CPU in 500 ms of quiet: it kept spinning", used)
	}
	d.info() // and it still answers
}
