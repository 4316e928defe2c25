package iohandle

import (
	"fmt"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/iotest"
	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// script is a fake kernel and poller driven by the fuzzer's bytes: each
// read or write takes its outcome from the next byte.
type script struct {
	b      []byte
	open   map[int]bool
	closes map[int]int
	armed  map[int]pollset.Events
}

func (s *script) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *script) Prepare(fd int) (Access, error) {
	switch s.next() % 8 {
	case 0:
		return Access{}, syscall.EBADF
	case 1:
		return Access{Read: true}, nil
	case 2:
		return Access{Write: true}, nil
	case 3:
		return Access{Read: true, Write: true, Socket: true, Datagrams: true}, nil
	}
	return Access{Read: true, Write: true, Socket: true}, nil
}

func (s *script) Read(fd int, p []byte, acc Access) (int, error) {
	if !s.open[fd] {
		panic(fmt.Sprintf("read of fd %d, which is closed", fd))
	}
	c := s.next()
	switch c % 8 {
	case 0:
		return 0, unix.EAGAIN
	case 1:
		return 0, nil // EOF, or an empty datagram
	case 2:
		return 0, unix.ECONNRESET
	}
	return copy(p, make([]byte, int(c))), nil
}

func (s *script) Write(fd int, p []byte, acc Access) (int, error) {
	if !s.open[fd] {
		panic(fmt.Sprintf("write of fd %d, which is closed", fd))
	}
	c := s.next()
	switch c % 8 {
	case 0:
		return 0, unix.EAGAIN
	case 1:
		return 0, unix.EPIPE
	}
	return min(len(p), int(c)), nil
}

func (s *script) Add(fd int, ev pollset.Events) error { s.armed[fd] = ev; return nil }
func (s *script) Mod(fd int, ev pollset.Events) error { s.armed[fd] = ev; return nil }
func (s *script) Del(fd int) error                    { delete(s.armed, fd); return nil }

// ledger checks the entries of each handle: data and sent only while it
// is open, exactly one closed, no more bytes reported sent than given.
type ledger struct {
	t      *testing.T
	closed map[string]bool
	given  map[string]int64
	sent   map[string]int64
}

func (l *ledger) live(ref []byte, what string) {
	if l.closed[string(ref)] {
		l.t.Fatalf("%s for handle %q after its io_closed", what, ref)
	}
}

func (l *ledger) IOData(pid, ref []byte, size int, read func([]byte) (int, bool, bool)) int {
	l.live(ref, "io_data")
	return len(iotest.Chunks(size, read))
}

func (l *ledger) IOSent(pid, ref []byte, n int64) {
	l.live(ref, "io_sent")
	l.sent[string(ref)] += n
	if n <= 0 || l.sent[string(ref)] > l.given[string(ref)] {
		l.t.Fatalf("handle %q: io_sent %d, %d reported of %d given", ref, n, l.sent[string(ref)], l.given[string(ref)])
	}
}

func (l *ledger) IOClosed(pid, ref []byte, reason string) {
	l.live(ref, "io_closed")
	l.closed[string(ref)] = true
}

// Whatever the requests, readiness reports and kernel answers, a
// handle's entries stop at its one io_closed, no closed fd is read or
// written, inertd never holds more than SendQueue bytes of a handle,
// and every fd the table was given is closed exactly once in the end.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 3, 1, 200, 2, 10, 5, 3, 4, 9, 9, 6})
	f.Add([]byte{0, 4, 1, 255, 5, 1, 7, 2, 100, 5, 2, 0, 3, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &script{b: b, open: map[int]bool{}, closes: map[int]int{}, armed: map[int]pollset.Events{}}
		l := &ledger{t: t, closed: map[string]bool{}, given: map[string]int64{}, sent: map[string]int64{}}
		tab := New(Deps{Poller: s, Kernel: s, Out: l, Log: tlog{t},
			Close: func(fd int) {
				if !s.open[fd] {
					t.Fatalf("fd %d closed twice or never given", fd)
				}
				s.open[fd] = false
				s.closes[fd]++
			},
			Errno: func(err error) string { return err.Error() }})
		nextFD := 10
		ref := func(c byte) []byte { return []byte{'h', '0' + c%4} }
		for len(s.b) > 0 {
			op, arg := s.next(), s.next()
			r := ref(arg)
			switch op % 7 {
			case 0:
				fd := nextFD
				nextFD++
				s.open[fd] = true
				typ := protocol.IOStream
				if arg&0x10 != 0 {
					typ = protocol.IODatagram
				}
				if why := tab.Open([]byte("p"), r, fd, protocol.IOSpec{Type: typ, ReadSize: 64, SendQueue: 300}); why == "" {
					l.closed[string(r)] = false
					l.given[string(r)], l.sent[string(r)] = 0, 0
				}
			case 1:
				tab.Credit(r, int64(arg))
			case 2:
				before := tab.Len()
				if tab.byRef[string(r)] != nil {
					l.given[string(r)] += int64(arg)
				}
				tab.Send(r, make([]byte, int(arg)))
				if h := tab.byRef[string(r)]; h != nil {
					if h.queued > h.limit {
						t.Fatalf("handle %q holds %d bytes, more than its %d", r, h.queued, h.limit)
					}
				} else if before > tab.Len() && !l.closed[string(r)] {
					t.Fatalf("handle %q ended on a send without io_closed", r)
				}
			case 3:
				tab.Close(r)
			case 4:
				if arg%8 == 0 {
					tab.Down([]byte("p"))
					for k := range l.closed {
						l.closed[k] = true // no entry: gone
					}
				}
			default:
				if h := tab.byRef[string(r)]; h != nil {
					tab.Ready(pollset.Event{FD: int32(h.fd), Events: pollset.Events(arg%3 + 1)})
				}
			}
		}
		tab.CloseAll()
		for fd, open := range s.open {
			if open || s.closes[fd] != 1 {
				t.Fatalf("fd %d: open %v, closed %d times", fd, open, s.closes[fd])
			}
		}
		if len(s.armed) != 0 {
			t.Fatalf("still registered in the poller: %v", s.armed)
		}
	})
}
