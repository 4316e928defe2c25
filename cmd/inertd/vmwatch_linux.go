//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchVM returns a pidfd of the VM (Linux 5.3+, close-on-exec): it
// becomes readable when the VM has exited, and the loop then exits,
// whatever fds it holds (stdin EOF alone is not enough: a copy of the
// VM's end of a pipe, or a child the VM forked, keeps it open). Where
// pidfd_open is refused, PR_SET_PDEATHSIG kills inertd when its parent
// exits: the parent is not the VM but its erl_child_setup, which exits
// when the VM does; the note says which is in use. -1: no pidfd.
func watchVM(vmPID int) (fd int, note string, err error) {
	fd, perr := unix.PidfdOpen(vmPID, 0)
	if perr == nil {
		return fd, "", nil
	}
	if errors.Is(perr, unix.ESRCH) {
		return -1, "", errVMGone
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return -1, "", os.NewSyscallError("prctl PR_SET_PDEATHSIG", err)
	}
	if os.Getppid() == 1 {
		return -1, "", errVMGone // the parent died before the prctl
	}
	return -1, fmt.Sprintf("pidfd_open: %v: exiting with the parent process (PR_SET_PDEATHSIG)", perr), nil
}
