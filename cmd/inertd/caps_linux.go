package main

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inertd needs no privileges. It may be given one capability,
// CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=p on the binary, or
// ambient from its parent), so that `open` can bind a port below 1024 for
// the VM; it uses it for that bind alone.
//
// dropPrivileges runs first thing: every capability but that one leaves
// every set, and the effective set is empty, on every thread of the
// process (capabilities are per thread on Linux, and the Go runtime has
// started threads before main). withBindService raises the one capability
// on the calling thread around a bind and lowers it again.

// bindServiceBit is CAP_NET_BIND_SERVICE in the first word of the sets.
const bindServiceBit = 1 << unix.CAP_NET_BIND_SERVICE

// dropPrivileges reports whether CAP_NET_BIND_SERVICE stays permitted. A
// binary built with cgo (go test -race) cannot change every thread: it
// drops on the calling thread and says so in warn.
func dropPrivileges() (bindService bool, warn string, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, "", os.NewSyscallError("capget", err)
	}
	bindService = data[0].Permitted&bindServiceBit != 0
	var keep [2]unix.CapUserData
	if bindService {
		keep[0].Permitted = bindServiceBit
	}
	if data == keep {
		return bindService, "", nil // nothing to drop: the usual, unprivileged case
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
			return false, "", os.NewSyscallError("capset", err)
		}
		return bindService, "built with cgo: capabilities dropped on the main thread only; build with CGO_ENABLED=0", nil
	case errno != 0:
		return false, "", os.NewSyscallError("capset (all threads)", errno)
	}
	return bindService, "", nil
}

// withBindService runs fn with CAP_NET_BIND_SERVICE effective on the
// calling thread, then empties the effective set again.
func withBindService(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capget", err)
	}
	if data[0].Permitted&bindServiceBit == 0 {
		return fn() // not given the capability: the bind may still succeed
	}
	data[0].Effective = bindServiceBit
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capset", err)
	}
	ferr := fn()
	data[0].Effective = 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		// Never go on with a privileged thread.
		panic("inertd: cannot lower CAP_NET_BIND_SERVICE: " + err.Error())
	}
	return ferr
}
