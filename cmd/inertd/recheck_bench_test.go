//go:build linux

package main

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/testfd"
)

// BenchmarkRecheckPass is one full re-check pass over up to 19,000
// armed fds (this process plays both the VM and inertd: each socket and
// a duplicate of it, so twice as many fds; fewer when RLIMIT_NOFILE
// cannot be raised that far), for each way of telling: ns/op is one
// pass, ns/fd one fd.
//
//	go test -run '^$' -bench RecheckPass ./cmd/inertd/
func BenchmarkRecheckPass(b *testing.B) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	n := min(19000, int(lim.Max-256)/2)
	testfd.RaiseNoFile(b, 2*n+56)
	b.Logf("%d armed fds", n)
	vm := make([]int, n)
	copies := make([]int, n)
	for i := range vm {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		c, err := unix.Dup(fd)
		if err != nil {
			b.Fatal(err)
		}
		vm[i], copies[i] = fd, c
	}
	b.Cleanup(func() {
		for i := range vm {
			unix.Close(vm[i])
			unix.Close(copies[i])
		}
	})
	for _, w := range []struct {
		name string
		how  int
	}{{"kcmp", byKcmp}, {"stat", byStat}, {"lstat", byOpen}} {
		b.Run(w.name, func(b *testing.B) {
			v := newVMFiles(os.Getpid(), false, newLogger(io.Discard, 0))
			v.how = w.how
			b.ResetTimer()
			for range b.N {
				for i := range vm {
					if same, err := v.SameAsVM(int64(vm[i]), copies[i]); !same || err != nil {
						b.Fatalf("fd %d: same %v, err %v", vm[i], same, err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/fd")
		})
	}
}
