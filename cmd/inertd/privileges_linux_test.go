package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// buildInertd builds the daemon as it ships (CGO_ENABLED=0, as the
// Makefile and rebar3 hook do): only such a binary can change the
// capabilities of all its threads.
func buildInertd(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "inertd")
	cmd := exec.Command("go", "build", "-o", exe, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// capSets reads CapEff and CapPrm of every thread of pid.
func capSets(t *testing.T, pid int) (eff, prm []uint64) {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	for _, path := range tasks {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":\t")
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			switch k {
			case "CapEff":
				eff = append(eff, n)
			case "CapPrm":
				prm = append(prm, n)
			}
		}
		f.Close()
	}
	return eff, prm
}

func TestInertdKeepsNoPrivilegeButBindService(t *testing.T) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var mine [2]unix.CapUserData
	if err := unix.Capget(&hdr, &mine[0]); err != nil {
		t.Fatal(err)
	}
	wantPrm := uint64(0)
	if mine[0].Permitted&bindServiceBit != 0 {
		wantPrm = bindServiceBit
	} else {
		t.Log("the test runs without CAP_NET_BIND_SERVICE: inertd must end with no capability at all")
	}
	d := startExe(t, buildInertd(t), os.Getpid())
	d.connect()
	eff, prm := capSets(t, d.osPid)
	for i := range eff {
		if eff[i] != 0 || prm[i] != wantPrm {
			t.Errorf("thread %d of inertd: CapEff %#x CapPrm %#x, want 0 and %#x", i, eff[i], prm[i], wantPrm)
		}
	}
	t.Logf("%d threads, each CapEff 0, CapPrm %#x (test process had CapEff %#x)", len(eff), wantPrm, mine[0].Effective)
}

func TestEveryFDInertdHoldsIsCloseOnExec(t *testing.T) {
	d := startDaemon(t, os.Getpid())
	d.connect()
	rx, _ := socketpair(t)
	d.send(fdset(1, 1, rx, 1), rx)
	d.entries(1)
	dir := "/proc/" + strconv.Itoa(d.osPid) + "/fdinfo"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		if fd <= 2 {
			continue // stdio
		}
		if inherited, _ := fdFlags("/proc/self/fdinfo/" + e.Name()); inherited&unix.O_CLOEXEC == 0 && inherited != 0 {
			// Leaked into this test process by whatever started it and so
			// into the child too; the VM's erl_child_setup closes those.
			continue
		}
		flags, err := fdFlags(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		checked++
		if flags&unix.O_CLOEXEC == 0 {
			link, _ := os.Readlink("/proc/" + strconv.Itoa(d.osPid) + "/fd/" + e.Name())
			t.Errorf("inertd fd %d (%s) is not close-on-exec (flags %o)", fd, link, flags)
		}
	}
	if checked < 3 {
		t.Fatalf("checked %d fds; want at least the pollset, the side channel and the duplicate", checked)
	}
}

// fdFlags reads the flags line of a /proc fdinfo file.
func fdFlags(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:\t"); ok {
			return strconv.ParseUint(v, 8, 64)
		}
	}
	return 0, nil
}
