package iohandle

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// The majors of a pty's slave side (/dev/pts/N): UNIX98_PTY_SLAVE_MAJOR
// and the seven after it.
const (
	ptsMajorFirst = 136
	ptsMajorLast  = 143
)

// ownFile replaces fd, in place, with a new open file of the same pipe,
// FIFO or pty slave, opened through /proc/self/fd with the access mode
// fl has and O_NONBLOCK, and reports whether it did. Such a file can be
// opened again without side effects (unlike a pty's master side, which
// /dev/ptmx would make a new pty of, or a TUN device, which would come
// back detached), and an open file of inertd's own keeps O_NONBLOCK
// whatever the VM does with the flag of its fd: a read or write of
// inertd can then never block. Where the open fails (a FIFO's write side
// with no reader left: ENXIO; permissions), fd stays as it is.
func ownFile(fd, fl int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || !reopenable(&st) {
		return false
	}
	flags := fl&unix.O_ACCMODE | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	nfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), flags, 0)
	if err != nil {
		return false
	}
	defer unix.Close(nfd)
	var nst unix.Stat_t
	if unix.Fstat(nfd, &nst) != nil || nst.Dev != st.Dev || nst.Ino != st.Ino || nst.Rdev != st.Rdev {
		return false // not the same file after all: keep the one we were given
	}
	// dup3 closes fd's old file and puts the new one at the same number.
	return unix.Dup3(nfd, fd, unix.O_CLOEXEC) == nil
}

func reopenable(st *unix.Stat_t) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return true
	case unix.S_IFCHR:
		major := unix.Major(uint64(st.Rdev))
		return major >= ptsMajorFirst && major <= ptsMajorLast
	}
	return false
}
