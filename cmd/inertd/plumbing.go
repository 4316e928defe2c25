package main

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/driver"
)

// plumbing recognises inertd's own plumbing among the fds the VM hands it
// to arm: an fd number in the VM may name the VM's end of inertd's stdin
// or stdout pipe, or of its side channel (after a restart the new pipes
// take the numbers of fds the VM closed; a caller may also arm any number
// it likes). Holding such a copy would keep inertd's own stdin or side
// channel from ever reaching EOF, so that inertd would outlive the port.
// Such an fd is refused (einval) and closed at once.
//
// Both ends of a pipe are one inode: an fd whose fstat dev and inode are
// those of fd 0 or fd 1 is one of them. The VM's end of the side channel
// is the one unix socket whose peer is inertd itself: SO_PEERCRED of a
// connected unix socket names the process that made the socket at its
// other end (for the VM's end, inertd's listener); every other socket the
// VM may arm names another process, or no process at all (TCP, UDP).
type plumbing struct {
	pipes [2]driver.FileID // fstat of stdin and stdout
	self  int32
}

func newPlumbing() (plumbing, error) {
	p := plumbing{self: int32(os.Getpid())}
	for i, fd := range []int{stdin, stdout} {
		id, err := osFiles{}.Identity(fd)
		if err != nil {
			return p, err
		}
		p.pipes[i] = id
	}
	return p, nil
}

// isOwn reports whether fd is inertd's own plumbing. An fd that cannot
// be looked at is left to the driver (arming it fails with the reason).
func (p *plumbing) isOwn(fd int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	id := driver.FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	if id == p.pipes[0] || id == p.pipes[1] {
		return true
	}
	return st.Mode&unix.S_IFMT == unix.S_IFSOCK && peerIs(fd, p.self)
}
