//go:build unix

package protocol

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
)

// erlangPeer is the -eval of TestSideErlangPeerSendsFD: plain OTP opens a
// UDP socket, prints its own OS pid and the port, connects to the side
// channel (~s: its path) and sends "hi" with the socket's fd in SCM_RIGHTS,
// then waits for inertd's side to close the connection and prints what
// socket:recv/3 said.
const erlangPeer = `
{ok, U} = gen_udp:open(0),
{ok, FD} = inet:getfd(U),
{ok, Port} = inet:port(U),
io:format("~s ~b~n", [os:getpid(), Port]),
{ok, S} = socket:open(local, seqpacket, default),
ok = socket:connect(S, #{family => local, path => "%s"}),
ok = socket:sendmsg(S, #{iov => [<<"hi">>],
                         ctrl => [#{level => socket, type => rights,
                                    data => <<FD:32/native>>}]}),
io:format("~p~n", [socket:recv(S, 0, 10000)]),
halt(0).
`

// TestSideErlangPeerSendsFD: an Erlang VM is the peer, as in inertd's
// start-up: Accept with the pid the VM reports takes it, and the fd of its
// UDP socket arrives as an fd for the same socket (same local port).
func TestSideErlangPeerSendsFD(t *testing.T) {
	erl, err := exec.LookPath("erl")
	if err != nil {
		t.Skip("erl not on PATH")
	}
	l := listenTemp(t)
	if strings.ContainsAny(l.Path(), "\"\\~") {
		t.Skipf("socket path %q would need quoting in Erlang", l.Path())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	// erl is a script that execs the VM; the VM's pid is what it prints.
	cmd := exec.CommandContext(ctx, erl, "-noshell", "-eval", fmt.Sprintf(erlangPeer, l.Path()))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill() // the process this test started, if still there
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	var pid, port int
	if !lines.Scan() {
		t.Fatalf("erl printed nothing: %v; stderr %q", lines.Err(), stderr.String())
	}
	if _, err := fmt.Sscan(lines.Text(), &pid, &port); err != nil {
		t.Fatalf("erl printed %q: %v", lines.Text(), err)
	}
	booted := time.Since(start) // for the messages below: a slow machine?

	c, err := acceptWithin(l, pid, time.Until(deadline))
	if err != nil {
		t.Fatalf("Accept(VM pid %d): %v (VM up after %v)", pid, err, booted)
	}
	defer c.Close()
	buf, fds := make([]byte, 64), make([]int, 1)
	n, nfds, err := recvWithin(c, buf, fds, time.Until(deadline))
	if err != nil || string(buf[:n]) != "hi" || nfds != 1 {
		t.Fatalf("Recv = %q, %d fds, %v", buf[:n], nfds, err)
	}
	testfd.CloseAtEnd(t, fds[0])
	checkCloexec(t, fds[0])
	sa, err := unix.Getsockname(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := sa.(*unix.SockaddrInet4); !ok || in.Port != port {
		t.Errorf("received fd is bound to %#v, want the VM's UDP port %d", sa, port)
	}

	c.Close()
	// A closed seqpacket peer reads as an empty message or as closed.
	if !lines.Scan() || (lines.Text() != "{ok,<<>>}" && lines.Text() != "{error,closed}") {
		t.Errorf("VM after close: %q, want {ok,<<>>} or {error,closed} (VM up after %v, now %v)",
			lines.Text(), booted, time.Since(start))
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("erl: %v; stderr %q", err, stderr.String())
	}
}
