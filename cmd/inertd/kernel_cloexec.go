//go:build linux || freebsd

package main

import "golang.org/x/sys/unix"

// cloexecSocket makes a socket that is close-on-exec from the start.
func cloexecSocket(domain, typ int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_CLOEXEC, 0)
}
