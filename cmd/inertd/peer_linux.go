//go:build linux

package main

import "golang.org/x/sys/unix"

// peerIs reports whether the socket fd is connected to a socket made by
// process pid (SO_PEERCRED; 0 for sockets that are not unix sockets).
func peerIs(fd int, pid int32) bool {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	return err == nil && cred.Pid == pid
}
