//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ergo-services/ergo/etf"

	"github.com/inert-go/inert/protocol"
)

// An io_uring ring counts against the user's RLIMIT_MEMLOCK (inertd drops
// CAP_IPC_LOCK before it sets the ring up). Where the ring does not fit,
// -poller auto falls back to epoll, says why once, and serves; -poller
// io_uring fails at start. The shipped build (CGO_ENABLED=0) is used, as
// only it drops CAP_IPC_LOCK on every thread; a shell lowers the limit to
// 0 before it runs it.
func TestAutoFallsBackToEpollWhenTheRingIsOverTheMemlockLimit(t *testing.T) {
	t.Setenv("INERTD_TEST_POLLER", "") // -poller below decides
	exe := buildInertd(t)
	lowMemlock := func(poller string) *child {
		cmd := inertdCmd(exe, os.Getpid(), "-poller", poller)
		cmd.Args = append([]string{"sh", "-c", `ulimit -l 0 && exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/sh"
		return startCmdNoReady(t, cmd)
	}
	d := lowMemlock("auto")
	d.readReady()
	d.connect()
	if got := d.info()[etf.Atom("poller")]; got != etf.Atom("epoll") {
		t.Fatalf("auto under RLIMIT_MEMLOCK 0: info names %v, want epoll", got)
	}
	rx, tx := socketpair(t)
	d.send(poll(1, 1, tx, protocol.ModeWrite), tx) // tx is writable: polled at once
	if e := d.entries(1)[0]; show(e) != fmt.Sprintf("{polled, 1, ref 1, %d, write}", tx) {
		t.Fatalf("poll on the epoll fallback answered %s", show(e))
	}
	_ = rx
	// All of stderr is in once inertd has exited.
	d.stdin.Close()
	if code, err := d.exit(); err != nil || code != 0 {
		t.Fatalf("auto on epoll: exit %d (%v) after stdin EOF, want 0", code, err)
	}
	if d.logged("info", "using epoll") != 1 || d.logged("info", "io_uring_setup") != 1 {
		t.Fatalf("want one info line saying why epoll is used; logged %v", d.allLogs())
	}
	if s := d.stderr.String(); s != "" {
		t.Errorf("stderr of a daemon that came up:\n%s", s)
	}
	// Before the protocol is up only stderr can say why.
	u := lowMemlock("io_uring")
	if code, err := u.exit(); err != nil || code != 1 {
		t.Fatalf("-poller io_uring under RLIMIT_MEMLOCK 0: exit %d (%v), want 1", code, err)
	}
	if s := u.stderr.String(); !strings.Contains(s, "error: fatal: ") || !strings.Contains(s, "io_uring_setup") {
		t.Errorf("-poller io_uring that cannot start: stderr %q, want the fatal error", s)
	}
	if logs := u.allLogs(); len(logs) != 0 {
		t.Errorf("a daemon that never wrote ready framed %v", logs)
	}
}

// 100 daemons at once all start and serve (each with the poller auto
// picks: a ring where the user's RLIMIT_MEMLOCK has room left, which
// other processes of this user share, else epoll). The test kills them
// by pid.
func TestOneHundredDaemonsStartAtOnce(t *testing.T) {
	t.Setenv("INERTD_TEST_POLLER", "")
	exe := buildInertd(t)
	const n = 100
	ds := make([]*child, n)
	for i := range ds {
		ds[i] = startExe(t, exe, os.Getpid())
	}
	pollers := map[etf.Term]int{}
	for _, d := range ds {
		d.connect()
		pollers[d.info()[etf.Atom("poller")]]++
	}
	t.Logf("%d daemons started and answered: %v", n, pollers)
}
