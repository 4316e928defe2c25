package driver

import (
	"syscall"
	"testing"

	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// fakeVM answers SameAsVM from what the test says the VM's fd table
// holds: vmfd -> the file inertd's copy must be to be the same.
type fakeVM struct {
	files  *fakeFiles
	table  map[int64]uint64 // VM fd -> file; missing: closed in the VM
	broken bool             // cannot tell at all
	calls  int
}

func (v *fakeVM) SameAsVM(vmfd int64, fd int) (bool, error) {
	v.calls++
	if v.broken {
		return false, syscall.EPERM
	}
	file, open := v.table[vmfd]
	if !open {
		return false, nil
	}
	id, err := v.files.Identity(fd)
	if err != nil {
		return false, err
	}
	return id.Ino == file, nil
}

func TestRecheckDropsTheInterestsWhoseVMFDWasClosedOrReused(t *testing.T) {
	r := newRig(t)
	vm := &fakeVM{files: r.files, table: map[int64]uint64{7: 1, 8: 2, 9: 3, 10: 4}}
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.fdset("P1", "R2", 8, protocol.ModeRW, 2)
	r.req(protocol.OpPoll, "P2", "R3", 9, protocol.ModeRead, 3)
	r.fdset("P2", "R4", 10, protocol.ModeWrite, 4)
	if n := r.d.Recheck(vm); n != 0 {
		t.Fatalf("Recheck dropped %d interests while the VM holds every file", n)
	}
	r.expect()
	delete(vm.table, 7) // closed in the VM
	vm.table[9] = 99    // closed, and the number now names another file
	if n := r.d.Recheck(vm); n != 2 {
		t.Fatalf("Recheck dropped %d interests, want 2 (fds 7 and 9)", n)
	}
	got := map[string]bool{}
	for _, e := range r.out.got {
		got[e] = true
	}
	r.out.got = nil
	if len(got) != 2 || !got["closed P1 R1 7"] || !got["error P2 R3 ebadf"] {
		t.Fatalf("entries %v, want closed P1 R1 7 and error P2 R3 ebadf", got)
	}
	if r.d.Armed() != 2 || r.d.byVM[7] != nil || r.d.byVM[9] != nil {
		t.Fatalf("armed %d, want fds 8 and 10 only", r.d.Armed())
	}
	if c := r.d.Counters(); c.VMClosed != 2 {
		t.Fatalf("vm_closed counter %d, want 2", c.VMClosed)
	}
	// fdset of the number again arms the new file, and fdclr of the
	// dropped one names no interest.
	r.req(protocol.OpFdclr, "P1", "R5", 7, protocol.ModeRW, 0)
	r.expect("cleared P1 R5 7 none none")
	r.req(protocol.OpDown, "P1", "", 0, 0, 0)
	r.req(protocol.OpDown, "P2", "", 0, 0, 0)
}

func TestRecheckThatCannotTellKeepsEveryInterest(t *testing.T) {
	r := newRig(t)
	vm := &fakeVM{files: r.files, broken: true}
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	if n := r.d.Recheck(vm); n != 0 || r.d.Armed() != 1 {
		t.Fatalf("Recheck dropped %d, armed %d: an answer of cannot-tell must keep the interest", n, r.d.Armed())
	}
	r.expect()
	r.req(protocol.OpDown, "P1", "", 0, 0, 0)
}

func TestReadyOfAnFDTheVMClosedIsAClosedEntryNotAnEvent(t *testing.T) {
	r := newRig(t)
	vm := &fakeVM{files: r.files, table: map[int64]uint64{7: 1, 8: 2}}
	a := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	b := r.fdset("P1", "R2", 8, protocol.ModeRead, 2)
	vm.table[7] = 99 // the VM closed 7 and the number names another file
	evs := []pollset.Event{{FD: int32(a), Events: pollset.Read}, {FD: int32(b), Events: pollset.Read}, {FD: 3, Events: pollset.Read}}
	if !r.d.HasInterest(evs) {
		t.Fatal("HasInterest: false for events of armed fds")
	}
	if n := r.d.RecheckReady(vm, evs); n != 1 {
		t.Fatalf("RecheckReady dropped %d, want 1", n)
	}
	r.turn(a, pollset.Read)
	r.turn(b, pollset.Read)
	r.expect("closed P1 R1 7", "inert_read P1 8 R2")
	if r.d.HasInterest(evs) {
		t.Fatal("HasInterest: true with nothing armed")
	}
}
