//go:build unix && !linux && !freebsd

package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// cloexecSocket makes a socket and marks it close-on-exec under
// syscall.ForkLock, for systems without SOCK_CLOEXEC (macOS).
func cloexecSocket(domain, typ int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(domain, typ, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}
