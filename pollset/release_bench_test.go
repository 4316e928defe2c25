//go:build linux

package pollset

import (
	"testing"

	"golang.org/x/sys/unix"
)

// What inertd pays to release one delivered interest, as SPEC §3 requires
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
