package main

import "golang.org/x/sys/unix"

// yieldCPU gives the CPU to another runnable thread, if any (sched_yield).
func yieldCPU() {
	_, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}
