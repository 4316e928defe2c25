//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/protocol"
)

// What a user sees on stderr: nothing on an ordinary start and stop;
// what inertd says goes to the VM's logger as log entries. The shipped
// build is used: a test build (cgo, for -race) warns at start.

// Run as root, inertd keeps CAP_NET_BIND_SERVICE and CAP_SYS_PTRACE; it
// says so at debug, in frames, on every start. -v adds a debug line for
// every request.
func TestStartAndStopAsRootWriteNothingToStderrAndSayTheKeptCapabilitiesAtDebug(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: inertd then keeps CAP_NET_BIND_SERVICE")
	}
	exe := buildInertd(t)
	for _, args := range [][]string{nil, {"-v"}} {
		d := startExe(t, exe, os.Getpid(), args...)
		d.connect()
		d.info()
		d.stdin.Close()
		if code, err := d.exit(); err != nil || code != 0 {
			t.Fatalf("%v: exit %d (%v), want 0", args, code, err)
		}
		if got := d.stderr.String(); got != "" {
			t.Errorf("%v: start and stop wrote to stderr:\n%s", args, got)
		}
		if d.logged("debug", "keeping CAP_NET_BIND_SERVICE (permitted, not effective) for open") != 1 {
			t.Errorf("%v: no debug line for the kept capability; logged %v", args, d.allLogs())
		}
		wantDebug := 0
		if len(args) > 0 {
			wantDebug = 2 // hello, info
		}
		if n := d.logged("debug", "request "); n != wantDebug {
			t.Errorf("%v: %d debug lines for requests, want %d; logged %v", args, n, wantDebug, d.allLogs())
		}
		for _, e := range d.allLogs() {
			if e.level != "info" && e.level != "debug" {
				t.Errorf("%v: an ordinary start and stop logged %v", args, e)
			}
		}
	}
}

// The VM stops inert under load: frames still being written (stdout
// full, so inertd waits to write), acks unread on stdin, then the VM
// closes stdout, stdin and the side channel, in either order. inertd's
// write fails (EPIPE) or it reads the side channel's EOF first: either
// way a normal exit, status 0, nothing logged.
func TestOrderlyStopUnderLoadLogsNothing(t *testing.T) {
	exe := buildInertd(t)
	for i := 0; i < 20; i++ {
		sideFirst := i%2 == 1
		t.Run(fmt.Sprintf("%d side first %v", i, sideFirst), func(t *testing.T) {
			d := startExe(t, exe, os.Getpid())
			d.connect()
			// Info requests until the side channel is full: inertd
			// writes replies until stdout's pipe is full, then waits.
			for j := 0; j < 2000; j++ {
				req := protocol.AppendRequest(nil, &protocol.Request{Op: protocol.OpInfo, Pid: testPid(0), Ref: testRef(uint32(j))})
				if err := unix.Sendmsg(d.side, req, nil, nil, unix.MSG_DONTWAIT); err != nil {
					break
				}
			}
			ack := protocol.AppendFrame(nil, protocol.AppendRequest(nil, &protocol.Request{Op: protocol.OpAck, Acked: 2}))
			d.stdin.Write(ack)
			side := d.side
			d.side = -1
			if sideFirst {
				unix.Close(side)
			}
			d.out.Close()
			d.stdin.Close()
			if !sideFirst {
				unix.Close(side)
			}
			if code, err := d.exit(); err != nil || code != 0 {
				t.Fatalf("exit %d (%v), want 0; stderr:\n%s", code, err, d.stderr)
			}
			if s := d.stderr.String(); s != "" {
				t.Fatalf("an orderly stop logged:\n%s", s)
			}
		})
	}
}

// A foreign process connecting in a loop, or a flood of requests that
// cannot be answered, makes one stderr line and then at most one a
// second, not one each.
func TestRefusedPeersAndDroppedRequestsAreLoggedAtMostOnceASecond(t *testing.T) {
	exe := buildInertd(t)
	// The child waits for pid 1: every connection of ours is foreign.
	d := startExe(t, exe, 1, "-accept-timeout", "1500ms")
	for i := 0; i < 50; i++ {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: d.path}); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		unix.Read(fd, b[:]) // refused: EOF
		unix.Close(fd)
	}
	if code, err := d.exit(); err != nil || code != 3 {
		t.Fatalf("exit %d (%v), want 3", code, err)
	}
	if n := d.logged("warning", "refused side channel peer"); n < 1 || n > 3 {
		t.Errorf("%d lines for 50 refused peers in about 1.5 s, want 1 to 3: %v", n, d.allLogs())
	}

	d = startExe(t, exe, os.Getpid())
	d.connect()
	for i := 0; i < 100; i++ {
		if err := unix.Sendmsg(d.side, []byte("not a term"), nil, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter(d.info(), "dropped"); got != 100 {
		t.Fatalf("dropped %d, want 100", got)
	}
	d.stdin.Close()
	if code, err := d.exit(); err != nil || code != 0 {
		t.Fatalf("exit %d (%v) after stdin EOF, want 0", code, err)
	}
	if n := d.logged("warning", "dropped request"); n < 1 || n > 2 {
		t.Errorf("%d lines for 100 dropped requests, want 1 or 2: %v", n, d.allLogs())
	}
}

// What set-up says (the poller, at debug or info) is held until the ready frame
// is out and then comes in the next frame, before hello: the ready frame
// stays alone, and nothing reaches stderr.
func TestStartUpLinesComeAsLogEntriesRightAfterTheReadyFrame(t *testing.T) {
	d := startDaemon(t, os.Getpid()) // readReady: the ready frame had one entry
	var got []logEntry
	for _, e := range d.rawFrame() {
		le, ok := asLogEntry(e)
		if !ok {
			t.Fatalf("second frame has %v, want only log entries", e)
		}
		got = append(got, le)
	}
	using := 0
	for _, e := range got {
		if (e.level == "debug" || e.level == "info") && strings.HasPrefix(e.text, "using ") {
			using++
		}
		if age := time.Since(time.UnixMicro(e.usec)); age < 0 || age > time.Minute {
			t.Errorf("%v: logged %v ago, want a time of this start", e, age)
		}
	}
	if using != 1 {
		t.Fatalf("start-up lines %v, want one line naming the poller", got)
	}
	d.connect()
	d.stdin.Close()
	if code, err := d.exit(); err != nil || code != 0 {
		t.Fatalf("exit %d (%v), want 0", code, err)
	}
	if s := d.stderr.String(); s != "" {
		t.Errorf("stderr:\n%s", s)
	}
}

// Before the protocol is up only stderr can carry a line: a usage error
// goes there, with its level, and no frame is written.
func TestUsageErrorGoesToStderrWithoutAFrame(t *testing.T) {
	d := startCmdNoReady(t, inertdCmd(os.Args[0], 0))
	if code, err := d.exit(); err != nil || code != 64 {
		t.Fatalf("exit %d (%v), want 64", code, err)
	}
	if s := d.stderr.String(); !strings.Contains(s, "error: usage: inertd -vm-pid PID") {
		t.Errorf("stderr %q, want the usage line at error", s)
	}
	if f, eof := d.readFrame(); !eof {
		t.Errorf("a frame %v from a daemon that never came up", f)
	}
}
