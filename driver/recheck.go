package driver

import "github.com/inert-go/inert/pollset"

// Re-checking the VM's fds (PROTOCOL.md, "Fds the VM closes while
// armed"): inertd holds its own duplicate of every armed fd, so a VM that
// closes an armed fd without fdclr would leave the file open in inertd (a
// TCP peer never sees EOF, a UDP port stays bound) and the interest armed
// on a number that may now name another file. The daemon calls Recheck
// at a fixed interval while something is armed; every interest whose VM
// fd number no longer names inertd's copy is dropped; so is one whose
// readiness is about to be reported (RecheckReady).

// VMFiles tells whether the VM's fd number still names the open file
// inertd holds.
type VMFiles interface {
	// SameAsVM reports whether fd vmfd of the VM is the open file of
	// inertd's fd. An error means it cannot tell (the interest is kept).
	SameAsVM(vmfd int64, fd int) (bool, error)
}

// Recheck drops every interest whose VM fd was closed or now names
// another file: it is removed from the poller, inertd's copy is closed,
// and its caller is told, with {closed, Pid, Ref, FD} for an fdset and
// {error, Pid, Ref, ebadf} for a poll, instead of an event. It returns
// how many it dropped.
func (d *Driver) Recheck(v VMFiles) int {
	n := 0
	for _, it := range d.byVM {
		if d.dropIfStale(v, it) {
			n++
		}
	}
	return n
}

// HasInterest reports whether any of evs is for an armed fd.
func (d *Driver) HasInterest(evs []pollset.Event) bool {
	for _, ev := range evs {
		if d.byFD[int(ev.FD)] != nil {
			return true
		}
	}
	return false
}

// RecheckReady is Recheck for the interests of evs alone, the readiness
// reports of one wait, before Ready reports them: an fd the VM closed
// never gets an event, however soon after the close its old file became
// ready. It returns how many it dropped.
func (d *Driver) RecheckReady(v VMFiles, evs []pollset.Event) int {
	n := 0
	for _, ev := range evs {
		if it := d.byFD[int(ev.FD)]; it != nil && d.dropIfStale(v, it) {
			n++
		}
	}
	return n
}

// dropIfStale drops it, and tells its caller, when the VM's fd number
// no longer names inertd's copy.
func (d *Driver) dropIfStale(v VMFiles, it *interest) bool {
	same, err := v.SameAsVM(it.vmfd, it.fd)
	if err != nil || same {
		return false
	}
	// The entry copies pid and ref before release recycles it.
	d.cnt.VMClosed++
	if it.poll {
		d.cnt.Errors++
		d.out.Error(it.owner.pid, it.ref, "ebadf")
	} else {
		d.out.Closed(it.owner.pid, it.ref, it.vmfd)
	}
	d.release(it)
	return true
}
