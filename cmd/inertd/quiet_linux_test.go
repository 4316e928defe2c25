//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/protocol"
)

// What a user sees on stderr: nothing on an ordinary start and stop. The
// shipped build is used: a test build (cgo, for -race) warns at start.

// Run as root, inertd keeps CAP_NET_BIND_SERVICE; it says so only with
// -v.
func TestStartAndStopAsRootLogNothingWithoutVerbose(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: inertd then keeps CAP_NET_BIND_SERVICE")
	}
	exe := buildInertd(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"-v"}, "keeping CAP_NET_BIND_SERVICE"},
	} {
		d := startExe(t, exe, os.Getpid(), tc.args...)
		d.connect()
		d.info()
		d.stdin.Close()
		if code, err := d.exit(); err != nil || code != 0 {
			t.Fatalf("%v: exit %d (%v), want 0", tc.args, code, err)
		}
		got := d.stderr.String()
		if tc.want == "" && got != "" {
			t.Errorf("start and stop without -v logged:\n%s", got)
		}
		if tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("-v: stderr %q has no %q", got, tc.want)
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
	if n := strings.Count(d.stderr.String(), "refused side channel peer"); n < 1 || n > 3 {
		t.Errorf("%d lines for 50 refused peers in about 1.5 s, want 1 to 3:\n%s", n, d.stderr)
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
	// stderr is complete once inertd has exited (Wait has copied it all):
	// read at one moment, a line written before the info answer may not
	// have reached the buffer yet.
	d.stdin.Close()
	if code, err := d.exit(); err != nil || code != 0 {
		t.Fatalf("exit %d (%v) after stdin EOF, want 0", code, err)
	}
	if n := strings.Count(d.stderr.String(), "dropped request"); n < 1 || n > 2 {
		t.Errorf("%d lines for 100 dropped requests, want 1 or 2:\n%s", n, d.stderr)
	}
}
