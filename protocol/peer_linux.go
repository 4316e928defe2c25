package protocol

import "golang.org/x/sys/unix"

// peerHasPID: Accept compares the peer's pid with the one it wants.
const peerHasPID = true

// peerCred reads the pid and uid of the process that connected fd
// (SO_PEERCRED: recorded by the kernel at connect(2)).
func peerCred(fd int) (pid, uid int, err error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, -1, err
	}
	return int(cred.Pid), int(cred.Uid), nil
}
