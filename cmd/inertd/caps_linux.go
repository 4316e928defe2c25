package main

import (
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inertd needs no privileges. It may be given three capabilities, each
// used for one call alone:
//
//   - CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=p on the binary,
//     or ambient from its parent), so that `open` can bind a port below
//     1024 for the VM;
//   - CAP_NET_ADMIN (setcap cap_net_admin=p, or inertd of a VM running as
//     root), so that `open` can make a TUN or TAP interface: the
//     TUNSETIFF ioctl on /dev/net/tun;
//   - CAP_SYS_PTRACE, which it has when the VM runs as root with it: the
//     re-check of armed fds (recheck.go) compares the VM's fds with
//     inertd's copies with kcmp(2), which the kernel refuses to a process
//     whose permitted set is not a superset of the VM's unless it has
//     CAP_SYS_PTRACE. A VM without privileges needs none of it.
//
// dropPrivileges runs first thing: every other capability leaves every
// set, and the effective set is empty, on every thread of the process
// (capabilities are per thread on Linux, and the Go runtime has started
// threads before main). withCapability raises one kept capability on the
// calling thread around a call and lowers it again.

// bindServiceBit, netAdminBit and ptraceBit are CAP_NET_BIND_SERVICE,
// CAP_NET_ADMIN and CAP_SYS_PTRACE in the first word of the sets.
const (
	bindServiceBit = 1 << unix.CAP_NET_BIND_SERVICE
	netAdminBit    = 1 << unix.CAP_NET_ADMIN
	ptraceBit      = 1 << unix.CAP_SYS_PTRACE
	keptBits       = bindServiceBit | netAdminBit | ptraceBit
)

// privileges are the capabilities inertd keeps, permitted and not
// effective.
type privileges struct{ bindService, netAdmin, ptrace bool }

// dropPrivileges reports what stays permitted. A binary built with cgo
// (go test -race) cannot change every thread: it drops on the calling
// thread and says so in warn.
func dropPrivileges() (kept privileges, warn string, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return kept, "", os.NewSyscallError("capget", err)
	}
	var keep [2]unix.CapUserData
	keep[0].Permitted = data[0].Permitted & keptBits
	defer func() {
		if err == nil {
			keptSets.Store(&keep)
		}
	}()
	kept = privileges{bindService: keep[0].Permitted&bindServiceBit != 0,
		netAdmin: keep[0].Permitted&netAdminBit != 0, ptrace: keep[0].Permitted&ptraceBit != 0}
	if data == keep {
		return kept, "", nil // nothing to drop: the usual, unprivileged case
	}
	// x/sys/unix has no all-threads syscall: this is the one place inertd
	// uses the syscall package for a system call, because Capset alone
	// would leave the runtime's other threads privileged.
	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET,
		uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&keep[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&keep)
	switch {
	case errors.Is(errno, unix.ENOTSUP):
		hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		if err := unix.Capset(&hdr, &keep[0]); err != nil {
			return privileges{}, "", os.NewSyscallError("capset", err)
		}
		return kept, "built with cgo: capabilities dropped on the main thread only; build with CGO_ENABLED=0", nil
	case errno != 0:
		return privileges{}, "", os.NewSyscallError("capset (all threads)", errno)
	}
	return kept, "", nil
}

// keptSets holds the sets every thread has once dropPrivileges has
// succeeded (permitted: what was kept; effective, inheritable: empty), so
// that withCapability needs no capget per call; nil before.
var keptSets atomic.Pointer[[2]unix.CapUserData]

// withBindService runs fn with CAP_NET_BIND_SERVICE effective on the
// calling thread, then empties the effective set again.
func withBindService(fn func() error) error { return withCapability(bindServiceBit, fn) }

// withNetAdmin runs fn with CAP_NET_ADMIN effective on the calling
// thread, then empties the effective set again.
func withNetAdmin(fn func() error) error { return withCapability(netAdminBit, fn) }

// withPtrace runs fn with CAP_SYS_PTRACE effective on the calling thread,
// then empties the effective set again.
func withPtrace(fn func() error) error { return withCapability(ptraceBit, fn) }

// withCapability runs fn with the capability bit effective on the
// calling thread, then empties the effective set again. Without it in
// the permitted set fn runs as it is (the call may still succeed).
func withCapability(bit uint32, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if kept := keptSets.Load(); kept != nil {
		data = *kept // the sets never change after dropPrivileges
	} else if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capget", err)
	}
	if data[0].Permitted&bit == 0 {
		return fn()
	}
	data[0].Effective = bit
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capset", err)
	}
	ferr := fn()
	data[0].Effective = 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		// Never go on with a privileged thread.
		panic("inertd: cannot lower a capability: " + err.Error())
	}
	return ferr
}
