package protocol

import "golang.org/x/sys/unix"

// peerHasPID: Accept compares the peer's pid with the one it wants.
const peerHasPID = true

// peerCred reads the pid (LOCAL_PEERPID) and uid (LOCAL_PEERCRED) of the
// process that connected fd.
func peerCred(fd int) (pid, uid int, err error) {
	pid, err = unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
	if err != nil {
		return -1, -1, err
	}
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, -1, err
	}
	return pid, int(x.Uid), nil
}
