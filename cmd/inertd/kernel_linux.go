//go:build linux

package main

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/pollset"
)

// kcmpFile is KCMP_FILE of kcmp(2) (include/uapi/linux/kcmp.h); x/sys/unix
// has the syscall number but neither a wrapper nor the constant.
const kcmpFile = 0

// The ways to tell whether the VM's fd N is still the file inertd holds,
// best first. A way the kernel refuses is given up for the next, for
// good, and logged once.
const (
	byKcmp   = iota // kcmp(vm, self, KCMP_FILE, N, copy): the same open file description
	byStat          // stat of /proc/VM/fd/N against fstat of the copy: the same inode
	byOpen          // lstat of /proc/VM/fd/N: N is open (a close is seen, a reuse of N is not)
	checkOff        // nothing works: no re-checks at all
)

var checkNames = [...]string{"kcmp(2)", "stat of /proc/PID/fd/N", "lstat of /proc/PID/fd/N (sees a close, not a reuse of the number)", "nothing"}

// errCheckOff is SameAsVM's answer once no way is left.
var errCheckOff = errors.New("re-checks are off")

// vmFiles is driver.VMFiles on Linux. ptrace says whether inertd kept
// CAP_SYS_PTRACE, raised around each pass (caps_linux.go).
type vmFiles struct {
	vm, self int
	how      int
	ptrace   bool
	log      driver.Logger
	dir      string // /proc/VM/fd/
}

func newVMFiles(vmPID int, ptrace bool, logger driver.Logger) *vmFiles {
	return &vmFiles{vm: vmPID, self: os.Getpid(), ptrace: ptrace, log: logger,
		dir: "/proc/" + strconv.Itoa(vmPID) + "/fd/"}
}

// usable reports whether re-checks can be made at all.
func (v *vmFiles) usable() bool { return v.how != checkOff }

// pass runs one re-check pass fn, with CAP_SYS_PTRACE raised when inertd
// kept it.
func (v *vmFiles) pass(fn func()) {
	if !v.ptrace {
		fn()
		return
	}
	if err := withPtrace(func() error { fn(); return nil }); err != nil {
		v.log.Warningf("re-check: %v", err)
	}
}

// SameAsVM implements driver.VMFiles.
func (v *vmFiles) SameAsVM(vmfd int64, fd int) (bool, error) {
	for {
		var same bool
		var err error
		switch v.how {
		case byKcmp:
			same, err = v.kcmp(vmfd, fd)
		case byStat:
			same, err = v.stat(vmfd, fd)
		case byOpen:
			same, err = v.open(vmfd)
		default:
			return false, errCheckOff
		}
		if !refused(err) {
			return same, err
		}
		v.how++
		v.log.Warningf("re-check of the VM's fds: %v; using %s", err, checkNames[v.how])
	}
}

// refused reports whether err means the way itself is unusable here (a
// seccomp filter, no CONFIG_KCMP, no ptrace access to the VM), rather
// than an answer about this fd.
func refused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) ||
		errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)
}

// kcmp is a raw system call: kcmp(2) never blocks (it compares two
// pointers under the two processes' locks), and skipping the runtime's
// syscall bookkeeping makes a re-check pass shorter, so the runtime's
// monitor thread wakes less often while it runs (BENCHMARKS.md, "The
// request path, fourth round": 310 -> 280 ns per fd, and a fifth fewer
// context switches while idle with 9,000 fds armed).
func (v *vmFiles) kcmp(vmfd int64, fd int) (bool, error) {
	r, _, errno := unix.RawSyscall6(unix.SYS_KCMP, uintptr(v.vm), uintptr(v.self), kcmpFile, uintptr(vmfd), uintptr(fd), 0)
	switch errno {
	case 0:
		return r == 0, nil
	case unix.EBADF:
		return false, nil // the VM's N is not open: inertd's copy is
	}
	return false, os.NewSyscallError("kcmp", errno)
}

func (v *vmFiles) stat(vmfd int64, fd int) (bool, error) {
	var vst, st unix.Stat_t
	if err := unix.Stat(v.dir+strconv.FormatInt(vmfd, 10), &vst); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, os.NewSyscallError("stat", err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return false, os.NewSyscallError("fstat", err)
	}
	return vst.Dev == st.Dev && vst.Ino == st.Ino, nil
}

func (v *vmFiles) open(vmfd int64) (bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(v.dir+strconv.FormatInt(vmfd, 10), &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, os.NewSyscallError("lstat", err)
	}
	return true, nil
}

// ringFiles is driver.Files for a Uring: closes go in the ring with the
// next wait, after the removal of the poll queued before them.
type ringFiles struct{ u *pollset.Uring }

func (ringFiles) Identity(fd int) (driver.FileID, error) { return osFiles{}.Identity(fd) }
func (r ringFiles) Close(fd int) error                   { return r.u.CloseFD(fd) }

// Flush submits the queued closes now (driver.Flusher).
func (r ringFiles) Flush() error { return r.u.Submit() }

var _ driver.Flusher = ringFiles{}
