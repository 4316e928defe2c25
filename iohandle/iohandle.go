// Package iohandle is the I/O handles of inertd (PROTOCOL.md, "I/O
// handles"): fds inertd reads and writes for the VM, with a read credit
// the VM gives (inertd reads only while it lasts) and a bounded send
// queue. It owns each handle's state, its queue and the fd from io_open
// to io_closed, and the order of what a handle says: every io_data entry
// it produced before its one io_closed.
//
// It must not decode requests or write frames itself (entries go to its
// Out, the driver's batch), and it makes no syscall but through its
// Kernel and Poller. The driver routes the io_* requests, the readiness
// of handle fds and the death of owners to it.
package iohandle

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// Limits of io_open's sizes and io_credit's bytes (PROTOCOL.md).
const (
	MaxReadSize  = 1 << 20
	MaxSendQueue = 64 << 20
	MaxCredit    = 1 << 40
	// maxReads bounds the reads of one wake-up of one handle: a busy fd
	// does not starve the others.
	maxReads = 16
)

// Poller is the part of pollset.Poller a handle's fd is armed with.
type Poller interface {
	Add(fd int, ev pollset.Events) error
	Mod(fd int, ev pollset.Events) error
	Del(fd int) error
}

// Access is how an fd was opened.
type Access struct {
	Read, Write bool // O_RDONLY: Read only; O_WRONLY: Write only; O_RDWR: both
	// Socket: reads and writes pass MSG_DONTWAIT, so that they never
	// block even if the VM clears O_NONBLOCK on the shared open file.
	Socket bool
	// Datagrams: a socket whose zero-length read is an empty message,
	// not end of file (SOCK_DGRAM, SOCK_RAW).
	Datagrams bool
	// Own: fd is an open file of inertd's own (a pipe, a FIFO or a pty's
	// slave side reopened), whose O_NONBLOCK the VM cannot clear.
	Own bool
}

// Kernel is the fd I/O a handle needs.
type Kernel interface {
	// Prepare makes fd non-blocking and says how it was opened.
	Prepare(fd int) (Access, error)
	// Read and Write are read(2) and write(2) (for a socket recv(2)
	// and send(2) with MSG_DONTWAIT): EAGAIN and errors as they come,
	// EINTR retried.
	Read(fd int, p []byte, acc Access) (int, error)
	Write(fd int, p []byte, acc Access) (int, error)
}

// Out receives the entries of handles; *protocol.Batch implements it.
type Out interface {
	IOData(pid, ref []byte, size int, read func(p []byte) (n int, keep, more bool)) int
	IOSent(pid, ref []byte, n int64)
	IOClosed(pid, ref []byte, reason string)
}

// Logger receives diagnostics.
type Logger interface {
	Warningf(format string, args ...any)
}

// handle is one open I/O handle.
type handle struct {
	fd       int
	pid, ref []byte // owned copies (raw ETF)
	typ      protocol.IOType
	acc      Access
	readSize int
	credit   int64
	queue    [][]byte // io_send data not yet written, in order
	off      int      // bytes of queue[0] written (stream)
	queued   int64    // bytes in queue, less off
	limit    int64    // SendQueue
	added    bool     // registered in the poller
	armed    pollset.Events
}

// Deps is what a Table works with.
type Deps struct {
	Poller Poller
	Kernel Kernel
	Out    Out
	Log    Logger
	Close  func(fd int)           // closes (and counts) an fd inertd holds
	Errno  func(err error) string // the errno atom of a syscall's error
}

// Table is every handle of one inertd. Like the driver it is used from
// the event loop only.
type Table struct {
	ps    Poller
	k     Kernel
	out   Out
	log   Logger
	close func(fd int)
	errno func(error) string

	byRef map[string]*handle
	byFD  map[int]*handle
}

// New returns an empty table.
func New(d Deps) *Table {
	return &Table{ps: d.Poller, k: d.Kernel, out: d.Out, log: d.Log, close: d.Close, errno: d.Errno,
		byRef: make(map[string]*handle), byFD: make(map[int]*handle)}
}

// Len is the number of open handles.
func (t *Table) Len() int { return len(t.byRef) }

// Open makes fd the handle ref of pid, as spec says. It returns "" or
// the reason it refused (einval, an errno atom), having closed fd then.
func (t *Table) Open(pid, ref []byte, fd int, spec protocol.IOSpec) string {
	reason := ""
	switch {
	case spec.Type == protocol.IOInvalid,
		spec.ReadSize < 1 || spec.ReadSize > MaxReadSize,
		spec.SendQueue < 1 || spec.SendQueue > MaxSendQueue,
		t.byRef[string(ref)] != nil:
		reason = "einval"
	}
	var acc Access
	if reason == "" {
		var err error
		if acc, err = t.k.Prepare(fd); err != nil {
			reason = t.errno(err)
		}
	}
	if reason != "" {
		t.close(fd)
		return reason
	}
	h := &handle{fd: fd, pid: append([]byte(nil), pid...), ref: append([]byte(nil), ref...),
		typ: spec.Type, acc: acc, readSize: int(spec.ReadSize), limit: spec.SendQueue}
	t.byRef[string(h.ref)] = h
	t.byFD[fd] = h
	return ""
}

// Credit lets the handle ref read n more bytes. Unknown handles (closed
// already) and n out of range are ignored.
func (t *Table) Credit(ref []byte, n int64) {
	h := t.byRef[string(ref)]
	if h == nil || n < 1 || n > MaxCredit {
		return
	}
	h.credit = min(h.credit+n, MaxCredit)
	t.rearm(h)
}

// Send queues data on the handle ref and writes what the fd takes now.
func (t *Table) Send(ref, data []byte) {
	h := t.byRef[string(ref)]
	switch {
	case h == nil:
		return
	case !h.acc.Write:
		t.end(h, "ebadf")
		return
	case h.queued+int64(len(data)) > h.limit:
		t.end(h, "enobufs")
		return
	case len(data) == 0 && h.typ == protocol.IOStream:
		return
	}
	h.queued += int64(len(data))
	if h.armed&pollset.Write != 0 || len(h.queue) > 0 {
		h.queue = append(h.queue, append([]byte(nil), data...))
		t.rearm(h)
		return
	}
	// Nothing waits: write data now, and copy only what the fd did not
	// take (data is the request's buffer, which the next request reuses).
	h.queue = append(h.queue, data)
	if !t.write(h) {
		return
	}
	if len(h.queue) > 0 {
		h.queue[0] = append([]byte(nil), h.queue[0][h.off:]...)
		h.off = 0
	}
	t.rearm(h)
}

// Close ends the handle ref at the VM's request.
func (t *Table) Close(ref []byte) {
	if h := t.byRef[string(ref)]; h != nil {
		t.end(h, "closed")
	}
}

// Down closes every handle of pid, which has died: no entry is written.
func (t *Table) Down(pid []byte) {
	for _, h := range t.byRef {
		if string(h.pid) == string(pid) {
			t.release(h)
		}
	}
}

// CloseAll closes every handle, writing nothing: inertd is exiting.
func (t *Table) CloseAll() {
	for _, h := range t.byRef {
		t.release(h)
	}
}

// Ready handles a readiness report of fd and reports whether fd is a
// handle's.
func (t *Table) Ready(ev pollset.Event) bool {
	h := t.byFD[int(ev.FD)]
	if h == nil {
		return false
	}
	h.armed = 0 // one-shot: the registration fired
	if ev.Events&pollset.Read != 0 && h.acc.Read && h.credit > 0 {
		if !t.read(h) {
			return true
		}
	}
	if ev.Events&pollset.Write != 0 && len(h.queue) > 0 {
		if !t.write(h) {
			return true
		}
	}
	t.rearm(h)
	return true
}

// read reads what the fd has, within the credit, as one io_data entry.
// It returns false when the handle has ended (EOF, an error).
func (t *Table) read(h *handle) bool {
	failure, reads := "", 0
	t.out.IOData(h.pid, h.ref, h.readSize, func(p []byte) (int, bool, bool) {
		n, err := t.k.Read(h.fd, p, h.acc)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return 0, false, false
		case err != nil:
			failure = t.errno(err)
			return 0, false, false
		case n == 0 && !(h.typ == protocol.IODatagram && h.acc.Datagrams):
			failure = "eof"
			return 0, false, false
		}
		h.credit -= int64(n)
		reads++
		// A short stream read: the fd is drained, do not pay an EAGAIN.
		more := h.credit > 0 && reads < maxReads && (h.typ == protocol.IODatagram || n == len(p))
		return n, true, more
	})
	if failure != "" {
		t.end(h, failure)
		return false
	}
	return true
}

// write writes the queue until the fd takes no more, and reports what it
// wrote. It returns false when the handle has ended (a write error).
func (t *Table) write(h *handle) bool {
	var sent int64
	for len(h.queue) > 0 {
		b := h.queue[0][h.off:]
		n, err := t.k.Write(h.fd, b, h.acc)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			t.end(h, t.errno(err))
			return false
		}
		sent += int64(n)
		h.off += n
		// A datagram socket takes a datagram whole or fails; an fd
		// that takes part of a write (a pipe, a tty) gets the rest
		// next, whatever the handle's type: no byte is dropped.
		if h.off >= len(h.queue[0]) {
			h.queue[0] = nil
			h.queue, h.off = h.queue[1:], 0
		}
	}
	if len(h.queue) == 0 {
		h.queue = h.queue[:0:0]
	}
	if sent > 0 {
		h.queued -= sent
		t.out.IOSent(h.pid, h.ref, sent)
	}
	return true
}

// rearm arms the fd for what the handle wants now: reading while it has
// credit, writing while its queue is not empty.
func (t *Table) rearm(h *handle) {
	var want pollset.Events
	if h.acc.Read && h.credit > 0 {
		want |= pollset.Read
	}
	if len(h.queue) > 0 {
		want |= pollset.Write
	}
	if want == 0 || want == h.armed {
		// Nothing wanted: a registration still armed fires once more
		// and finds nothing to do, which costs less than a syscall now.
		return
	}
	var err error
	if h.added {
		err = t.ps.Mod(h.fd, want)
	} else {
		err = t.ps.Add(h.fd, want)
	}
	if err != nil {
		t.end(h, t.errno(err))
		return
	}
	h.added, h.armed = true, want
}

// end closes the handle with one io_closed entry.
func (t *Table) end(h *handle, reason string) {
	t.out.IOClosed(h.pid, h.ref, reason)
	t.release(h)
}

// release removes the fd from the poller, closes it and forgets h.
func (t *Table) release(h *handle) {
	if h.added {
		if err := t.ps.Del(h.fd); err != nil {
			t.log.Warningf("io handle: del fd %d: %v", h.fd, err)
		}
	}
	t.close(h.fd)
	delete(t.byRef, string(h.ref))
	delete(t.byFD, h.fd)
	h.queue = nil
}
