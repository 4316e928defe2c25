//go:build unix && !linux && !darwin && !freebsd

package protocol

import "golang.org/x/sys/unix"

// peerHasPID: Accept compares the peer's pid with the one it wants.
const peerHasPID = true

// peerCred is not implemented here: Accept refuses every peer with a
// getsockopt error rather than accept one it cannot identify.
func peerCred(fd int) (pid, uid int, err error) {
	return -1, -1, unix.EOPNOTSUPP
}
