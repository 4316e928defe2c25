//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// maxPresize bounds the fd table presizeFDTable makes: 65,536 slots are
// 512 KiB of kernel memory; beyond that each doubling is amortized over
// at least as many fds.
const maxPresize = 1 << 16

// presizeFDTable grows the kernel's fd table of this process once, at
// start, to hold as many fds as RLIMIT_NOFILE allows (at most
// maxPresize). The kernel grows the table of a multi-threaded process
// (every Go program) with a synchronize_rcu, several milliseconds each
// time: without this, the recvmsg that receives fd 64, 128, 256, 512, ...
// blocks the event loop for 4-13 ms each (BENCHMARKS.md, the burst). It
// takes the lowest free fd at or above the top slot (F_DUPFD never
// replaces an open fd) and closes it.
func presizeFDTable() error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	n := min(rl.Cur, maxPresize)
	if n < 2 {
		return nil
	}
	fd, err := unix.FcntlInt(uintptr(stdout), unix.F_DUPFD_CLOEXEC, int(n-1))
	if err != nil {
		return fmt.Errorf("fcntl F_DUPFD %d: %w", n-1, err)
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close %d: %w", fd, err)
	}
	return nil
}
