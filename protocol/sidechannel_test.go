//go:build unix

package protocol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
)

// TestSideRoundTrip: a payload and 1 or 3 fds sent over a seqpacket pair
// arrive whole; each received fd is a new fd for the same file, close-on-exec.
func TestSideRoundTrip(t *testing.T) {
	for _, count := range []int{1, 3} {
		t.Run(fmt.Sprintf("%dfds", count), func(t *testing.T) {
			a, b := connPair(t)
			sent := tempFDs(t, count)
			payload := []byte("fdset request")
			if err := a.Send(payload, sent); err != nil {
				t.Fatalf("Send: %v", err)
			}
			buf, fds := make([]byte, 64), make([]int, MaxFDsPerMessage)
			n, nfds, err := b.Recv(buf, fds)
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			testfd.CloseAtEnd(t, fds[:nfds]...)
			if !bytes.Equal(buf[:n], payload) || nfds != count {
				t.Fatalf("Recv = %q with %d fds, want %q with %d", buf[:n], nfds, payload, count)
			}
			for i, fd := range fds[:nfds] {
				if fd == sent[i] {
					t.Errorf("fd %d: received the sender's own number, want a new fd", fd)
				}
				checkSameFile(t, sent[i], fd)
				checkCloexec(t, fd)
			}
		})
	}
}

// TestSideRecvEAGAINThenEOF: an empty socket reads unix.EAGAIN, unwrapped; a
// message without fds reads nfds 0; the peer's close reads io.EOF.
func TestSideRecvEAGAINThenEOF(t *testing.T) {
	a, b := connPair(t)
	buf, fds := make([]byte, 16), make([]int, 1)
	if _, _, err := b.Recv(buf, fds); err != unix.EAGAIN {
		t.Fatalf("Recv on empty socket: %v, want EAGAIN", err)
	}
	if err := a.Send([]byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if n, nfds, err := b.Recv(buf, fds); err != nil || n != 1 || nfds != 0 {
		t.Fatalf("Recv = %d, %d, %v; want 1, 0, nil", n, nfds, err)
	}
	a.Close()
	if _, _, err := b.Recv(buf, fds); err != io.EOF {
		t.Fatalf("Recv after peer close: %v, want io.EOF", err)
	}
}

// TestSideRecvBadFDsClosesAll: a message with more fds than the caller can
// take (whether Recv or the kernel, with MSG_CTRUNC, finds out) or a
// truncated payload is an error, every fd it
// carried is closed (the count of open fds is unchanged), its payload is
// still readable and the connection goes on.
func TestSideRecvBadFDsClosesAll(t *testing.T) {
	cases := []struct {
		name  string
		send  int   // fds sent
		room  int   // len(fds) passed to Recv
		oob   int   // fds the control buffer has room for; 0: MaxFDsPerMessage
		want  error // from Recv
		bytes int   // payload size sent; more than the buffer: truncated
	}{
		{name: "3 fds, room for 1", send: 3, room: 1, want: ErrTooManyFDs},
		{name: "1 fd, room for none", send: 1, room: 0, want: ErrTooManyFDs},
		// The control buffer cannot hold them: the kernel sets MSG_CTRUNC.
		{name: "20 fds, MaxFDsPerMessage", send: 20, room: MaxFDsPerMessage, want: ErrTooManyFDs},
		{name: "3 fds, control buffer for 1", send: 3, room: 16, oob: 1, want: ErrTooManyFDs},
		{name: "payload larger than buffer", send: 2, room: 16, want: ErrMsgTruncated, bytes: 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := connPair(t)
			if tc.oob > 0 {
				b.oob = make([]byte, unix.CmsgSpace(4*tc.oob))
			}
			sent := tempFDs(t, tc.send)
			payload := []byte("fdclr request")
			if tc.bytes > 0 {
				payload = bytes.Repeat([]byte("x"), tc.bytes)
			}
			buf, fds := make([]byte, 64), make([]int, tc.room)
			before := testfd.Open(t)
			if err := a.Send(payload, sent); err != nil {
				t.Fatalf("Send: %v", err)
			}
			n, nfds, err := b.Recv(buf, fds)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Recv: %v, want %v", err, tc.want)
			}
			if nfds != 0 {
				t.Errorf("Recv: nfds %d, want 0 on error", nfds)
			}
			if want := min(len(payload), len(buf)); n != want || !bytes.Equal(buf[:n], payload[:want]) {
				t.Errorf("Recv: payload %q, want %q", buf[:n], payload[:want])
			}
			testfd.CheckNoNew(t, before)
			// The channel still works.
			if err := a.Send([]byte("next"), sent[:1]); err != nil {
				t.Fatal(err)
			}
			fds = make([]int, MaxFDsPerMessage)
			n, nfds, err = b.Recv(buf, fds)
			if err != nil || string(buf[:n]) != "next" || nfds != 1 {
				t.Fatalf("next Recv = %q, %d fds, %v", buf[:n], nfds, err)
			}
			testfd.CloseAtEnd(t, fds[0])
		})
	}
}

// TestSideRecvDoesNotAllocate: receiving a message with an fd allocates nothing.
func TestSideRecvDoesNotAllocate(t *testing.T) {
	a, b := connPair(t)
	sent := tempFDs(t, 1)
	const runs = 50
	for range runs + 1 { // AllocsPerRun makes one warm-up call
		if err := a.Send([]byte("fdset request"), sent); err != nil {
			t.Fatal(err)
		}
	}
	buf, fds := make([]byte, 64), make([]int, MaxFDsPerMessage)
	var failed error
	allocs := testing.AllocsPerRun(runs, func() {
		_, nfds, err := b.Recv(buf, fds)
		if err != nil || nfds != 1 {
			failed = fmt.Errorf("Recv: %d fds, %v", nfds, err)
			return
		}
		unix.Close(fds[0])
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("Recv: %v allocations per call, want 0", allocs)
	}
}

// TestSideSendFDsRecvFDsStream: the net.UnixConn API passes fds over a
// stream socket, and closes what the receiver has no room for.
func TestSideSendFDsRecvFDsStream(t *testing.T) {
	a, b := unixConnPair(t, unix.SOCK_STREAM)
	sent := tempFDs(t, 2)
	if err := SendFDs(a, []byte("two"), sent...); err != nil {
		t.Fatalf("SendFDs: %v", err)
	}
	buf := make([]byte, 16)
	n, fds, err := RecvFDs(b, buf, 2)
	if err != nil || string(buf[:n]) != "two" || len(fds) != 2 {
		t.Fatalf("RecvFDs = %q, %v, %v", buf[:n], fds, err)
	}
	testfd.CloseAtEnd(t, fds...)
	for i, fd := range fds {
		checkSameFile(t, sent[i], fd)
		checkCloexec(t, fd)
	}

	before := testfd.Open(t)
	if err := SendFDs(a, []byte("3"), sent[0], sent[1], sent[0]); err != nil {
		t.Fatal(err)
	}
	n, fds, err = RecvFDs(b, buf, 2)
	if !errors.Is(err, ErrTooManyFDs) || fds != nil || string(buf[:n]) != "3" {
		t.Fatalf("RecvFDs = %q, %v, %v; want \"3\", none, ErrTooManyFDs", buf[:n], fds, err)
	}
	testfd.CheckNoNew(t, before)

	a.Close()
	if _, _, err := RecvFDs(b, buf, 2); err != io.EOF {
		t.Fatalf("RecvFDs after close: %v, want io.EOF", err)
	}
}

// TestSideListenerCloseRemovesSocketAndDir: ListenTemp's directory is
// private; Close removes the socket and that directory, but not a directory
// given to Listen.
func TestSideListenerCloseRemovesSocketAndDir(t *testing.T) {
	l, err := ListenTemp()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(l.Path())
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory %s: %v, %v; want mode 0700", dir, fi.Mode(), err)
	}
	if fi, err := os.Stat(l.Path()); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %s: %v", l.Path(), err)
	}
	checkCloexec(t, l.FD())
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, p := range []string{l.Path(), dir} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Close: %v, want it gone", p, err)
		}
	}
	if err := l.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v, want os.ErrClosed", err)
	}

	own := t.TempDir()
	l, err = Listen(own)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(l.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: %v, want it gone", err)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("caller's directory after Close: %v, want it kept", err)
	}
}

// TestSideAcceptEAGAIN: with nobody connecting, Accept reads unix.EAGAIN.
func TestSideAcceptEAGAIN(t *testing.T) {
	l := listenTemp(t)
	if _, err := l.Accept(os.Getpid()); err != unix.EAGAIN {
		t.Fatalf("Accept: %v, want EAGAIN", err)
	}
}

// TestSideAcceptHelperProcess: another OS process (this test binary run
// as TestSideHelperProcess) connects; Accept with its pid takes it, and the
// fd it sends arrives and reads what the helper wrote into it.
func TestSideAcceptHelperProcess(t *testing.T) {
	l := listenTemp(t)
	cmd, out := startHelper(t, l.Path())
	c, err := acceptWithin(l, cmd.Process.Pid, 10*time.Second)
	if err != nil {
		t.Fatalf("Accept(helper's pid %d): %v", cmd.Process.Pid, err)
	}
	buf, fds := make([]byte, 64), make([]int, 1)
	n, nfds, err := recvWithin(c, buf, fds, 10*time.Second)
	if err != nil || string(buf[:n]) != helperPayload || nfds != 1 {
		t.Fatalf("Recv = %q, %d fds, %v", buf[:n], nfds, err)
	}
	testfd.CloseAtEnd(t, fds[0])
	checkCloexec(t, fds[0])
	got := make([]byte, 64)
	if m, err := unix.Read(fds[0], got); err != nil || string(got[:m]) != helperMark {
		t.Fatalf("read from helper's fd: %q, %v; want %q", got[:m], err, helperMark)
	}
	c.Close()
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "closed") {
		t.Fatalf("helper: %v, stdout %q", err, out)
	}
}

// TestSideAcceptRefusesOtherPID: a peer that is not the wanted pid gets a
// *PeerError naming it, its connection is closed (the helper sees that),
// no fd is left open, and the listener goes on to accept the right peer.
func TestSideAcceptRefusesOtherPID(t *testing.T) {
	l := listenTemp(t)
	cmd, out := startHelper(t, l.Path())
	before := testfd.Open(t)
	want := cmd.Process.Pid + 1
	_, err := acceptWithin(l, want, 10*time.Second)
	var pe *PeerError
	if !errors.As(err, &pe) {
		t.Fatalf("Accept(%d) of helper %d: %v, want *PeerError", want, cmd.Process.Pid, err)
	}
	if pe.PID != cmd.Process.Pid || pe.Want != want || pe.UID != os.Getuid() {
		t.Errorf("PeerError = %+v, want PID %d, Want %d, UID %d", *pe, cmd.Process.Pid, want, os.Getuid())
	}
	testfd.CheckNoNew(t, before)
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "closed") {
		t.Fatalf("refused helper: %v, stdout %q; want it to see its connection closed", err, out)
	}

	cmd, _ = startHelper(t, l.Path())
	c, err := acceptWithin(l, cmd.Process.Pid, 10*time.Second)
	if err != nil {
		t.Fatalf("Accept after a refused peer: %v", err)
	}
	c.Close()
	cmd.Wait()
}

const (
	helperEnv     = "INERT_SIDE_HELPER"
	helperPayload = "from helper"
	helperMark    = "written by the helper"
)

// TestSideHelperProcess is not a test: it is the peer process of the
// Accept tests, started by startHelper. It connects to the socket named in
// $INERT_SIDE_HELPER, sends the read end of a pipe holding helperMark, then
// waits for the connection to close and prints "closed" when it does.
func TestSideHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("run by the Accept tests")
	}
	os.Exit(sideHelper(path))
}

func sideHelper(path string) int {
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	w.WriteString(helperMark)
	w.Close()
	rc, _ := r.SyscallConn()
	rc.Control(func(fd uintptr) { err = SendFDs(conn, []byte(helperPayload), int(fd)) })
	if err != nil && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		fmt.Fprintln(os.Stderr, "helper: SendFDs:", err)
		return 1
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = RecvFDs(conn, make([]byte, 16), 0)
	if err == io.EOF || errors.Is(err, unix.ECONNRESET) {
		fmt.Println("closed")
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: RecvFDs:", err)
	return 1
}

// startHelper runs TestSideHelperProcess against the socket at path; it is
// killed at the end of the test if still running.
func startHelper(t *testing.T, path string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSideHelperProcess$")
	// GORACE: a race-enabled binary otherwise sleeps 1 s at exit.
	cmd.Env = append(os.Environ(), helperEnv+"="+path, "GORACE=atexit_sleep_ms=0")
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel() // kills the helper if it is still running
		cmd.Wait()
	})
	return cmd, out
}

// acceptWithin polls l until a peer connects and returns what Accept says.
func acceptWithin(l *Listener, wantPID int, d time.Duration) (*Conn, error) {
	deadline := time.Now().Add(d)
	for {
		c, err := l.Accept(wantPID)
		if err != unix.EAGAIN {
			return c, err
		}
		if err := waitReadable(l.FD(), deadline); err != nil {
			return nil, err
		}
	}
}

// recvWithin polls c until a message arrives and returns what Recv says.
func recvWithin(c *Conn, buf []byte, fds []int, d time.Duration) (n, nfds int, err error) {
	deadline := time.Now().Add(d)
	for {
		n, nfds, err = c.Recv(buf, fds)
		if err != unix.EAGAIN {
			return n, nfds, err
		}
		if err := waitReadable(c.FD(), deadline); err != nil {
			return 0, 0, err
		}
	}
}

// waitReadable waits for fd to be readable, as the daemon's event loop would.
func waitReadable(fd int, deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return os.ErrDeadlineExceeded
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	_, err := unix.Poll(pfd, int(left/time.Millisecond)+1)
	if err == unix.EINTR {
		return nil
	}
	return err
}

// listenTemp is ListenTemp, closed at the end of the test.
func listenTemp(t *testing.T) *Listener {
	t.Helper()
	l, err := ListenTemp()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// connPair is a connected pair of seqpacket Conns, as Accept returns them.
func connPair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	p := testfd.Socketpair(t, unix.SOCK_SEQPACKET, true)
	a, b := newConn(p[0]), newConn(p[1])
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// unixConnPair is a connected pair of net.UnixConns of socket type typ.
func unixConnPair(t *testing.T, typ int) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	var conns [2]*net.UnixConn
	for i, fd := range testfd.Socketpair(t, typ, true) {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// tempFDs opens n distinct temporary files, closed at the end of the test.
func tempFDs(t *testing.T, n int) []int {
	t.Helper()
	fds := make([]int, n)
	for i := range fds {
		f, err := os.CreateTemp(t.TempDir(), "fd")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fds[i] = int(f.Fd())
	}
	return fds
}

// checkSameFile fails t unless fds a and b refer to the same file.
func checkSameFile(t *testing.T, a, b int) {
	t.Helper()
	if !testfd.SameFile(t, a, b) {
		t.Errorf("fd %d is not the file fd %d is", b, a)
	}
}

// checkCloexec fails t unless fd has FD_CLOEXEC set.
func checkCloexec(t *testing.T, fd int) {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d: FD_CLOEXEC not set", fd)
	}
}
