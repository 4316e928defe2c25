package iohandle

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/iotest"
	"github.com/inert-go/inert/internal/testfd"
	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// recOut records entries: the chunks of io_data, io_sent totals and
// io_closed reasons, in order.
type recOut struct {
	log    []string
	chunks [][]byte
	sent   int64
}

func (o *recOut) IOData(pid, ref []byte, size int, read func([]byte) (int, bool, bool)) int {
	chunks := iotest.Chunks(size, read)
	o.chunks = append(o.chunks, chunks...)
	n := len(chunks)
	if n > 0 {
		o.log = append(o.log, fmt.Sprintf("data %s %d", ref, n))
	}
	return n
}

func (o *recOut) IOSent(pid, ref []byte, n int64) { o.sent += n }

func (o *recOut) IOClosed(pid, ref []byte, reason string) {
	o.log = append(o.log, fmt.Sprintf("closed %s %s", ref, reason))
}

type tlog struct{ t *testing.T }

func (l tlog) Warningf(f string, a ...any) { l.t.Logf(f, a...) }

type rig struct {
	t   *testing.T
	ps  pollset.Poller
	tab *Table
	out *recOut
	evs []pollset.Event
}

func newRig(t *testing.T) *rig {
	ps, err := pollset.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	r := &rig{t: t, ps: ps, out: &recOut{}, evs: make([]pollset.Event, 16)}
	r.tab = New(Deps{Poller: ps, Kernel: OS{}, Out: r.out, Log: tlog{t},
		Close: func(fd int) {
			if err := unix.Close(fd); err != nil {
				t.Errorf("close %d: %v", fd, err)
			}
		},
		Errno: func(err error) string {
			var e syscall.Errno
			if errors.As(err, &e) {
				return strings.ToLower(unix.ErrnoName(e))
			}
			return "eio"
		}})
	t.Cleanup(r.tab.CloseAll)
	return r
}

// dup returns a duplicate of fd that the table may own.
func dup(t *testing.T, fd int) int {
	d, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (r *rig) open(ref string, fd int, typ protocol.IOType, readSize, queue int64) {
	r.t.Helper()
	if why := r.tab.Open([]byte("pid"), []byte(ref), fd, protocol.IOSpec{Type: typ, ReadSize: readSize, SendQueue: queue}); why != "" {
		r.t.Fatalf("open %s: %s", ref, why)
	}
}

// lastEntryIs fails the test unless the last entry recorded is want.
func (r *rig) lastEntryIs(want string) {
	r.t.Helper()
	if len(r.out.log) == 0 {
		r.t.Fatalf("no entry, want %q last", want)
	}
	if last := r.out.log[len(r.out.log)-1]; last != want {
		r.t.Fatalf("last entry %q, want %q", last, want)
	}
}

// turn waits up to msec for events and hands them to the table; it
// returns how many there were.
func (r *rig) turn(msec int) int {
	r.t.Helper()
	n, err := r.ps.Wait(r.evs, msec)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, ev := range r.evs[:n] {
		if !r.tab.Ready(ev) {
			r.t.Fatalf("event for fd %d that is no handle's", ev.FD)
		}
	}
	return n
}

// until runs turns until cond holds, at most 5 s.
func (r *rig) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; entries %v", what, r.out.log)
		}
		r.turn(10)
	}
}

func (r *rig) data() []byte { return bytes.Join(r.out.chunks, nil) }

func write(t *testing.T, fd int, b []byte) {
	t.Helper()
	if n, err := unix.Write(fd, b); err != nil || n != len(b) {
		t.Fatalf("write %d bytes: %d, %v", len(b), n, err)
	}
}

// Nothing is read before credit; with credit the bytes come in order,
// and once the credit is spent inertd reads no more: the rest stays in
// the socket until more credit comes.
func TestStreamReadsOnlyWithinItsCredit(t *testing.T) {
	r := newRig(t)
	p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	testfd.CloseAtEnd(t, p[1])
	r.open("h", p[0], protocol.IOStream, 100, 1000)
	msg := bytes.Repeat([]byte("0123456789"), 50) // 500 bytes
	write(t, p[1], msg)
	if n := r.turn(50); n != 0 || len(r.out.chunks) != 0 {
		t.Fatalf("without credit: %d events, chunks %d", n, len(r.out.chunks))
	}
	r.tab.Credit([]byte("h"), 150)
	r.until("150 bytes", func() bool { return len(r.data()) >= 150 })
	r.turn(50)
	if got := r.data(); len(got) != 200 || !bytes.Equal(got, msg[:200]) {
		// 150 credit: a read of 100, then one of 100 (50 past).
		t.Fatalf("with 150 credit read %d bytes, want 200 (the credit plus at most one read)", len(got))
	}
	r.tab.Credit([]byte("h"), 1000)
	r.until("500 bytes", func() bool { return len(r.data()) == 500 })
	if !bytes.Equal(r.data(), msg) {
		t.Fatal("bytes out of order")
	}
}

// At end of file the data read before comes first, then one closed eof,
// and the fd is closed.
func TestEOFEndsTheHandleAfterItsData(t *testing.T) {
	r := newRig(t)
	p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	before := testfd.Open(t)
	r.open("h", dup(t, p[0]), protocol.IOStream, 64, 1000)
	unix.Close(p[0])
	r.tab.Credit([]byte("h"), 1<<20)
	write(t, p[1], []byte("last words"))
	unix.Close(p[1])
	r.until("closed", func() bool { return r.tab.Len() == 0 })
	if string(r.data()) != "last words" || r.out.log[len(r.out.log)-1] != "closed h eof" {
		t.Fatalf("data %q, entries %v", r.data(), r.out.log)
	}
	delete(before, p[0])
	delete(before, p[1])
	testfd.CheckNoNew(t, before)
}

// A datagram handle reads one message per chunk, a zero-length UDP-like
// datagram included; on SOCK_SEQPACKET a zero-length read is the end.
func TestDatagramReadsOneMessagePerChunk(t *testing.T) {
	for _, c := range []struct {
		name  string
		typ   int
		empty string // what a zero-length message means
	}{
		{"dgram", unix.SOCK_DGRAM, "message"},
		{"seqpacket", unix.SOCK_SEQPACKET, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			p := testfd.Socketpair(t, c.typ, false)
			testfd.CloseAtEnd(t, p[1])
			r.open("h", p[0], protocol.IODatagram, 2048, 1000)
			r.tab.Credit([]byte("h"), 1<<20)
			for _, m := range []string{"one", "two", "three"} {
				write(t, p[1], []byte(m))
			}
			r.until("3 messages", func() bool { return len(r.out.chunks) == 3 })
			for i, m := range []string{"one", "two", "three"} {
				if string(r.out.chunks[i]) != m {
					t.Fatalf("chunk %d = %q, want %q", i, r.out.chunks[i], m)
				}
			}
			if c.empty == "message" {
				write(t, p[1], nil)
				r.until("the empty message", func() bool { return len(r.out.chunks) == 4 })
				if len(r.out.chunks[3]) != 0 || r.tab.Len() != 1 {
					t.Fatalf("chunk %q, handles %d", r.out.chunks[3], r.tab.Len())
				}
				return
			}
			unix.Close(p[1])
			r.until("eof", func() bool { return r.tab.Len() == 0 })
			r.lastEntryIs("closed h eof")
		})
	}
}

// Sends are written in order; what the peer does not take waits in the
// queue (the fd is polled for writing) and is reported sent once
// written; a send past the queue's bound ends the handle with enobufs.
func TestSendQueueIsBoundedAndDrains(t *testing.T) {
	r := newRig(t)
	p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	testfd.CloseAtEnd(t, p[1])
	if err := unix.SetsockoptInt(p[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20
	r.open("h", p[0], protocol.IOStream, 1024, limit)
	var want []byte
	chunk := bytes.Repeat([]byte{'x'}, 60000)
	for i := 0; len(want)+len(chunk) <= limit; i++ {
		chunk[0] = byte(i)
		r.tab.Send([]byte("h"), chunk)
		want = append(want, chunk...)
	}
	if r.out.sent >= int64(len(want)) {
		t.Fatalf("the peer reads nothing, yet all %d bytes were written", r.out.sent)
	}
	// Read it all on the peer while the table writes.
	var got []byte
	buf := make([]byte, 65536)
	unix.SetNonblock(p[1], true)
	r.until("every byte at the peer", func() bool {
		for {
			n, err := unix.Read(p[1], buf)
			if n <= 0 || err != nil {
				break
			}
			got = append(got, buf[:n]...)
		}
		return len(got) == len(want)
	})
	if !bytes.Equal(got, want) || r.out.sent != int64(len(want)) {
		t.Fatalf("peer got %d bytes (equal %v), reported sent %d of %d", len(got), bytes.Equal(got, want), r.out.sent, len(want))
	}
	// Now overflow: the peer stops reading again.
	for r.tab.Len() == 1 {
		r.tab.Send([]byte("h"), chunk)
	}
	r.lastEntryIs("closed h enobufs")
}

// A send the fd takes only part of keeps the rest, although the caller
// (inertd's side channel buffer) reuses its buffer at once: the handle
// writes the first part from the caller's bytes and copies the rest.
func TestSendKeepsTheRestTheFdDidNotTakeWhenTheCallerReusesItsBuffer(t *testing.T) {
	r := newRig(t)
	p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	testfd.CloseAtEnd(t, p[1])
	if err := unix.SetsockoptInt(p[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	r.open("h", p[0], protocol.IOStream, 64, 1<<20)
	want := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB: more than the socket takes at once
	buf := append([]byte(nil), want...)
	r.tab.Send([]byte("h"), buf)
	if r.out.sent == 0 || r.out.sent >= int64(len(want)) {
		t.Fatalf("written at once: %d of %d bytes; want a part", r.out.sent, len(want))
	}
	for i := range buf {
		buf[i] = 'x' // the next request lands here
	}
	var got []byte
	in := make([]byte, 65536)
	unix.SetNonblock(p[1], true)
	r.until("every byte at the peer", func() bool {
		for {
			n, err := unix.Read(p[1], in)
			if n <= 0 || err != nil {
				break
			}
			got = append(got, in[:n]...)
		}
		return len(got) >= len(want)
	})
	if !bytes.Equal(got, want) {
		t.Fatalf("peer got %d bytes, not the %d sent (a byte of the reused buffer: %v)",
			len(got), len(want), bytes.IndexByte(got, 'x') >= 0)
	}
}

// Close and Down release the fd; Close says so, Down (the owner died)
// writes nothing; requests for a handle that is gone are ignored.
func TestCloseAndDownReleaseTheFd(t *testing.T) {
	r := newRig(t)
	p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	testfd.CloseAtEnd(t, p[0], p[1])
	before := testfd.Open(t)
	r.open("a", dup(t, p[0]), protocol.IOStream, 64, 100)
	r.open("b", dup(t, p[0]), protocol.IODatagram, 64, 100)
	r.tab.Credit([]byte("a"), 10)
	r.tab.Close([]byte("a"))
	r.tab.Down([]byte("pid"))
	r.tab.Credit([]byte("a"), 10)
	r.tab.Send([]byte("b"), []byte("x"))
	r.tab.Close([]byte("b"))
	if r.tab.Len() != 0 || len(r.out.log) != 1 || r.out.log[0] != "closed a closed" {
		t.Fatalf("handles %d, entries %v", r.tab.Len(), r.out.log)
	}
	testfd.CheckNoNew(t, before)
}

// A bad type, read size or queue, or a reference already open is
// refused with einval and the fd closed.
func TestOpenRefusesBadSpecsAndClosesTheFd(t *testing.T) {
	r := newRig(t)
	p := testfd.Socketpair(t, unix.SOCK_STREAM, false)
	testfd.CloseAtEnd(t, p[0], p[1])
	before := testfd.Open(t)
	r.open("taken", dup(t, p[0]), protocol.IOStream, 1, 1)
	for _, c := range []struct {
		ref  string
		spec protocol.IOSpec
	}{
		{"t", protocol.IOSpec{Type: protocol.IOInvalid, ReadSize: 10, SendQueue: 10}},
		{"r0", protocol.IOSpec{Type: protocol.IOStream, ReadSize: 0, SendQueue: 10}},
		{"rbig", protocol.IOSpec{Type: protocol.IOStream, ReadSize: MaxReadSize + 1, SendQueue: 10}},
		{"q0", protocol.IOSpec{Type: protocol.IODatagram, ReadSize: 10, SendQueue: 0}},
		{"qbig", protocol.IOSpec{Type: protocol.IODatagram, ReadSize: 10, SendQueue: MaxSendQueue + 1}},
		{"taken", protocol.IOSpec{Type: protocol.IOStream, ReadSize: 10, SendQueue: 10}},
	} {
		if why := r.tab.Open([]byte("pid"), []byte(c.ref), dup(t, p[0]), c.spec); why != "einval" {
			t.Errorf("%s: %q, want einval", c.ref, why)
		}
	}
	r.tab.Close([]byte("taken"))
	testfd.CheckNoNew(t, before)
}

// A pipe's read end is never written (a send ends it with ebadf); its
// write end is never read, and a send to it whose reader is gone ends
// with epipe.
func TestPipeEndsKeepTheirDirection(t *testing.T) {
	r := newRig(t)
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r.open("rd", pp[0], protocol.IOStream, 64, 100)
	r.open("wr", pp[1], protocol.IOStream, 64, 100)
	r.tab.Credit([]byte("wr"), 100) // never read: no event comes
	r.tab.Credit([]byte("rd"), 100)
	r.tab.Send([]byte("wr"), []byte("through the pipe"))
	r.until("the bytes", func() bool { return string(r.data()) == "through the pipe" })
	r.tab.Send([]byte("rd"), []byte("x"))
	r.lastEntryIs("closed rd ebadf")
	r.tab.Send([]byte("wr"), []byte("nobody reads"))
	r.lastEntryIs("closed wr epipe")
}

// A socket whose O_NONBLOCK the VM clears after open (OTP's socket
// module can leave its fds blocking) never blocks inertd: reads and
// writes pass MSG_DONTWAIT. Before they did, the read after the last
// datagram blocked the table (this test hung).
func TestBlockingSocketNeverBlocksTheTable(t *testing.T) {
	r := newRig(t)
	p := testfd.Socketpair(t, unix.SOCK_DGRAM, false)
	testfd.CloseAtEnd(t, p[1])
	r.open("h", p[0], protocol.IODatagram, 64, 1<<20)
	if err := unix.SetNonblock(p[1], false); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(p[0], false); err != nil { // the shared open file
		t.Fatal(err)
	}
	r.tab.Credit([]byte("h"), 1<<20)
	write(t, p[1], []byte("only one"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The table is the event loop's: this goroutine is its only
		// user until done.
		r.until("the datagram", func() bool { return len(r.out.chunks) == 1 })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the table blocked reading a socket with O_NONBLOCK cleared")
	}
}

// A datagram handle on an fd that takes part of a write (a pipe, a
// tty: not a datagram socket, whose send is whole or fails) writes the
// rest after it: each send is one write as far as the fd allows, and
// no byte is lost. Before, the rest of a short write was dropped and
// counted as sent (here 65,536 bytes of 200,000 arrived).
func TestDatagramShortWriteWritesTheRest(t *testing.T) {
	r := newRig(t)
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r.open("rd", pp[0], protocol.IOStream, 65536, 1<<20)
	r.open("wr", pp[1], protocol.IODatagram, 64, 1<<20)
	r.tab.Credit([]byte("rd"), 1<<20)
	want := bytes.Repeat([]byte("0123456789"), 20000)
	r.tab.Send([]byte("wr"), want)
	r.until("every byte at the read end", func() bool { return len(r.data()) >= len(want) })
	if !bytes.Equal(r.data(), want) {
		t.Fatalf("read end got %d bytes, not the %d sent in order", len(r.data()), len(want))
	}
	if r.out.sent != int64(len(want)) {
		t.Fatalf("io_sent says %d bytes, want %d", r.out.sent, len(want))
	}
}
