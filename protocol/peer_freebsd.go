package protocol

import "golang.org/x/sys/unix"

// peerHasPID is false on FreeBSD: the kernel's xucred carries the peer's
// pid (cr_pid, FreeBSD 13 and later), but x/sys/unix hides that field, so
// Accept can only check that the peer runs under our uid. Any process of
// the same user could then hand inertd fds; the private 0700 directory of
// the socket is what keeps other users out.
const peerHasPID = false

// peerCred reads the uid of the process that connected fd (LOCAL_PEERCRED);
// the pid is reported as -1.
func peerCred(fd int) (pid, uid int, err error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, -1, err
	}
	return -1, int(x.Uid), nil
}
