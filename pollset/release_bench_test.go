//go:build linux

package pollset

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
)

// What inertd pays to release one delivered interest, as docs/contract.md (File descriptors) requires
// (remove the registration, then close the duplicate), against the bare
// cost of entering the kernel. BENCHMARKS.md uses these figures:
//
//	go test -run XXX -bench Release -benchtime 100000x ./pollset/

func BenchmarkReleaseDelThenClose(b *testing.B) {
	p, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(s)
	for _, step := range []struct {
		name string
		del  bool
	}{{"del", true}, {"close", false}} {
		b.Run(step.name, func(b *testing.B) {
			fds := make([]int, b.N)
			for i := range fds {
				if fds[i], err = unix.Dup(s); err != nil {
					b.Fatal(err)
				}
				if err := p.Add(fds[i], Read); err != nil {
					b.Fatal(err)
				}
			}
			if !step.del {
				for _, fd := range fds {
					p.Del(fd)
				}
			}
			b.ResetTimer()
			for _, fd := range fds {
				if step.del {
					p.Del(fd)
				} else {
					unix.Close(fd)
				}
			}
			b.StopTimer()
			if step.del {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		})
	}
}

func BenchmarkReleaseSyscallEntry(b *testing.B) {
	for i := 0; i < b.N; i++ {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
}

// One fan-in round as inertd lives it, on each Poller: n duplicates of one
// UDP socket armed (submitted by a Wait that finds nothing), one datagram
// makes them all ready (timed: the kernel's wake-ups run in the send), and every event is taken and released (Del, then
// close; on Uring the close is queued and goes with the next Wait). The
// metrics split the round: arm-ns/fd and deliver+release-ns/event.
//
//	go test -run XXX -bench FanIn -benchtime 20x ./pollset/
func BenchmarkFanIn(b *testing.B) {
	const n = 10000
	testfd.RaiseNoFile(b, n)
	for _, impl := range []struct {
		name string
		open func() (Poller, error)
	}{
		{"epoll", New},
		{"io_uring", func() (Poller, error) { return NewUring() }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			p, err := impl.open()
			if err != nil {
				b.Skip(err)
			}
			defer p.Close()
			closeFD := unix.Close
			if u, ok := p.(*Uring); ok {
				closeFD = u.CloseFD
			}
			fanIn(b, p, closeFD, n)
		})
	}
}

func fanIn(b *testing.B, p Poller, closeFD func(int) error, n int) {
	rx, tx := udpPair(b)
	defer unix.Close(rx)
	defer unix.Close(tx)
	buf := make([]Event, 1024)
	fds := make([]int, n)
	var arm, deliver time.Duration
	for range b.N {
		for i := range fds {
			fd, err := unix.Dup(rx)
			if err != nil {
				b.Fatal(err)
			}
			fds[i] = fd
		}
		start := time.Now()
		for _, fd := range fds {
			if err := p.Add(fd, Read); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := p.Wait(buf, 0); err != nil {
			b.Fatal(err)
		}
		arm += time.Since(start)
		start = time.Now() // the wake-ups run in the send: it is timed too
		if _, err := unix.Write(tx, []byte{1}); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; {
			k, err := p.Wait(buf, 1000)
			if err != nil || k == 0 {
				b.Fatalf("after %d of %d events: %d, %v", got, n, k, err)
			}
			for _, ev := range buf[:k] {
				p.Del(int(ev.FD))
				closeFD(int(ev.FD))
			}
			got += k
		}
		if _, err := p.Wait(buf, 0); err != nil { // Uring: the last closes
			b.Fatal(err)
		}
		deliver += time.Since(start)
		if _, err := unix.Read(rx, make([]byte, 8)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(arm.Nanoseconds())/float64(b.N*n), "arm-ns/fd")
	b.ReportMetric(float64(deliver.Nanoseconds())/float64(b.N*n), "deliver+release-ns/event")
}

func udpPair(b *testing.B) (rx, tx int) {
	rx, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.Bind(rx, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	sa, err := unix.Getsockname(rx)
	if err != nil {
		b.Fatal(err)
	}
	if tx, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
		b.Fatal(err)
	}
	if err := unix.Connect(tx, sa); err != nil {
		b.Fatal(err)
	}
	return rx, tx
}
