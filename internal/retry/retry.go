//go:build unix

// Package retry is the one place inertd's packages decide what to do with
// a syscall that did not complete: EINTR (a signal arrived before the call
// did anything) and EAGAIN (a non-blocking fd is not ready). It owns no
// state and no fd; it never sleeps or waits except in BlockingFD, and
// never turns an error into success except EINTR.
//
//   - EINTR: a call that did nothing is issued again (Retry), except a wait
//     with a timeout, which returns to its caller as "nothing ready"
//     (Interrupted): the caller's loop waits again with the time it has
//     left.
//   - EAGAIN: an event loop gets it back unwrapped and waits for readiness
//     in its poller; code that must complete on an fd that is not its own
//     poller's (stdout) waits with poll(2) and calls again (BlockingFD).
package retry

import (
	"os"

	"golang.org/x/sys/unix"
)

// Retry calls fn until it returns something other than EINTR, and returns
// that.
func Retry(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

// Interrupted reports whether err is EINTR: for a wait (epoll_wait,
// kevent, io_uring_enter) a signal that ended it early, which its caller
// treats as a wait that found nothing. epoll_wait is never restarted by
// the kernel, even with SA_RESTART.
func Interrupted(err error) bool {
	return err == unix.EINTR
}

// BlockingFD calls fn until it returns something other than EINTR or
// EAGAIN: after EAGAIN it waits with poll(2) for fd to be ready for events
// (unix.POLLIN, unix.POLLOUT) first. A poll that fails other than with
// EINTR is returned as an *os.SyscallError.
func BlockingFD(fd int, events int16, fn func() error) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		err := Retry(fn)
		if err != unix.EAGAIN {
			return err
		}
		if err := Retry(func() error { _, err := unix.Poll(pfd, -1); return err }); err != nil {
			return os.NewSyscallError("poll", err)
		}
	}
}
