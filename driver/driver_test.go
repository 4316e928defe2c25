package driver

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/inert-go/inert/internal/iotest"
	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// journal is one record, in order, of what the driver did to the
// outside: entries written (fakeOut), poller Del calls and closes. It lets
// a test check that a duplicate is closed only after its event's entry.
type journal struct{ log []string }

func (j *journal) add(format string, a ...any) {
	if j != nil {
		j.log = append(j.log, fmt.Sprintf(format, a...))
	}
}

// fakePoller models epoll's registration rules so misuse shows up as an
// error: Add of a registered fd is EEXIST, Mod/Del of an unknown one ENOENT.
type fakePoller struct {
	armed    map[int]pollset.Events
	refuse   map[int]bool // Add fails with EPERM (a regular file)
	calls    []string
	closedAt func(fd int) bool
	j        *journal
}

func (p *fakePoller) Add(fd int, ev pollset.Events) error {
	p.calls = append(p.calls, fmt.Sprintf("add %d %d", fd, ev))
	if p.refuse[fd] {
		return syscall.EPERM
	}
	if _, ok := p.armed[fd]; ok {
		return syscall.EEXIST
	}
	p.armed[fd] = ev
	return nil
}

func (p *fakePoller) Mod(fd int, ev pollset.Events) error {
	p.calls = append(p.calls, fmt.Sprintf("mod %d %d", fd, ev))
	if _, ok := p.armed[fd]; !ok {
		return syscall.ENOENT
	}
	p.armed[fd] = ev
	return nil
}

func (p *fakePoller) Del(fd int) error {
	p.calls = append(p.calls, fmt.Sprintf("del %d", fd))
	p.j.add("del %d", fd)
	if p.closedAt(fd) {
		return syscall.EBADF // closed before Del: the order docs/contract.md (File descriptors) forbids
	}
	if _, ok := p.armed[fd]; !ok {
		return syscall.ENOENT
	}
	delete(p.armed, fd)
	return nil
}

// fakeFiles hands out fd numbers and remembers which file each names.
type fakeFiles struct {
	next   int
	id     map[int]FileID
	open   map[int]bool
	closes int
	j      *journal
}

func (f *fakeFiles) dup(file uint64) int {
	f.next++
	f.id[f.next] = FileID{Dev: 1, Ino: file}
	f.open[f.next] = true
	return f.next
}

func (f *fakeFiles) Identity(fd int) (FileID, error) {
	if !f.open[fd] {
		return FileID{}, syscall.EBADF
	}
	return f.id[fd], nil
}

func (f *fakeFiles) Close(fd int) error {
	f.j.add("close %d", fd)
	if !f.open[fd] {
		return syscall.EBADF
	}
	f.open[fd] = false
	f.closes++
	return nil
}

// fakeOut records entries as readable strings; a nil raw term (Cleared's
// iref) reads none, as the atom Batch writes for it.
type fakeOut struct {
	got []string
	j   *journal
}

func (o *fakeOut) add(format string, a ...any) {
	e := fmt.Sprintf(format, a...)
	o.got = append(o.got, e)
	o.j.add("entry %s", e)
}
func (o *fakeOut) Hello(owner []byte, v int) { o.add("hello %s %d", owner, v) }
func (o *fakeOut) Event(dir protocol.Mode, pid []byte, fd int64, ref []byte) {
	o.add("inert_%s %s %d %s", dir.String(), pid, fd, ref)
}
func (o *fakeOut) Failed(pid, ref []byte, fd int64, reason string) {
	o.add("failed %s %s %d %s", pid, ref, fd, reason)
}
func (o *fakeOut) FailedBusy(pid, ref []byte, fd int64, owner []byte) {
	o.add("failed %s %s %d {ebusy,%s}", pid, ref, fd, owner)
}
func (o *fakeOut) Polled(pid, ref []byte, fd int64, dir protocol.Mode) {
	o.add("polled %s %s %d %s", pid, ref, fd, dir.String())
}
func (o *fakeOut) Cleared(pid, ref []byte, fd int64, left protocol.Mode, iref []byte) {
	if iref == nil {
		iref = []byte("none")
	}
	o.add("cleared %s %s %d %s %s", pid, ref, fd, left.String(), iref)
}
func (o *fakeOut) Cancelled(ref []byte)             { o.add("cancelled %s", ref) }
func (o *fakeOut) Closed(pid, ref []byte, fd int64) { o.add("closed %s %s %d", pid, ref, fd) }
func (o *fakeOut) Owner(pid, ref, newOwner []byte)  { o.add("owner %s %s %s", pid, ref, newOwner) }
func (o *fakeOut) Error(pid, ref []byte, r string)  { o.add("error %s %s %s", pid, ref, r) }
func (o *fakeOut) Busy(pid, ref, owner []byte)      { o.add("error %s %s {ebusy,%s}", pid, ref, owner) }
func (o *fakeOut) Reply(pid, ref, term []byte)      { o.add("reply %s %s", pid, ref) }
func (o *fakeOut) IOSent(pid, ref []byte, n int64)  { o.add("io_sent %s %s %d", pid, ref, n) }
func (o *fakeOut) IOClosed(pid, ref []byte, r string) {
	o.add("io_closed %s %s %s", pid, ref, r)
}
func (o *fakeOut) IOData(pid, ref []byte, size int, read func([]byte) (int, bool, bool)) int {
	n := len(iotest.Chunks(size, read))
	if n > 0 {
		o.add("io_data %s %s %d", pid, ref, n)
	}
	return n
}

type testLog struct{ t *testing.T }

func (l testLog) Warningf(format string, a ...any) { l.t.Logf(format, a...) }

type rig struct {
	t     *testing.T
	d     *Driver
	ps    *fakePoller
	files *fakeFiles
	out   *fakeOut
	j     *journal
	recvd int
}

func newRig(t *testing.T) *rig {
	j := &journal{}
	files := &fakeFiles{next: 100, id: map[int]FileID{}, open: map[int]bool{}, j: j}
	ps := &fakePoller{armed: map[int]pollset.Events{}, refuse: map[int]bool{}, j: j}
	ps.closedAt = func(fd int) bool { return !files.open[fd] }
	out := &fakeOut{j: j}
	r := &rig{t: t, ps: ps, files: files, out: out, j: j}
	r.d = New(ps, files, out, testLog{t})
	t.Cleanup(r.checkNoLeak)
	return r
}

// checkNoLeak: nothing waits for a Reap (a test reaps where the loop
// would, after each turn's frame), every fd handed to the driver is closed
// or held by exactly one armed interest, and the poller holds exactly the
// armed interests.
func (r *rig) checkNoLeak() {
	if n := r.d.Reaping(); n != 0 {
		r.t.Errorf("%d delivered interests still wait for Reap at the end of the test", n)
	}
	open := 0
	for _, o := range r.files.open {
		if o {
			open++
		}
	}
	if open != r.d.Armed() || len(r.ps.armed) != r.d.Armed() {
		r.t.Errorf("open fds %d, registered %d, armed interests %d: must be equal", open, len(r.ps.armed), r.d.Armed())
	}
	if r.files.closes+open != r.recvd {
		r.t.Errorf("received %d fds, closed %d, open %d: an fd leaked or was closed twice", r.recvd, r.files.closes, open)
	}
}

// req sends a request with one fresh duplicate of file (file 0: no fd).
func (r *rig) req(op protocol.Op, pid, ref string, vmfd int64, m protocol.Mode, file uint64) int {
	q := &protocol.Request{Op: op, Pid: []byte(pid), Ref: []byte(ref), FD: vmfd, FDValid: true, Mode: m, ModeOK: true}
	var fds []int
	if file != 0 {
		fds = []int{r.files.dup(file)}
		r.recvd++
	}
	r.d.Handle(q, fds)
	if len(fds) == 1 {
		return fds[0]
	}
	return -1
}

func (r *rig) fdset(pid, ref string, vmfd int64, m protocol.Mode, file uint64) int {
	return r.req(protocol.OpFdset, pid, ref, vmfd, m, file)
}

// turn is one loop turn of readiness reports: the driver handles them, the
// daemon writes the frame, then reaps.
func (r *rig) turn(fd int, evs ...pollset.Events) {
	for _, ev := range evs {
		r.d.Ready(pollset.Event{FD: int32(fd), Events: ev})
	}
	r.j.add("frame written")
	r.d.Reap()
}

func (r *rig) expect(want ...string) {
	r.t.Helper()
	if !reflect.DeepEqual(r.out.got, want) {
		r.t.Errorf("entries:\n got  %q\n want %q", r.out.got, want)
	}
	r.out.got = nil
}

func TestFdsetIsSilentThenDeliversOneEventCarryingItsRef(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.expect() // success answers nothing
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	r.expect("inert_read P1 7 R1")
	if r.d.Armed() != 0 || r.d.Reaping() != 1 || !r.files.open[fd] {
		t.Fatalf("after delivery, before Reap: armed %d, reaping %d, dup open %v; want 0, 1, true",
			r.d.Armed(), r.d.Reaping(), r.files.open[fd])
	}
	// A second report for the delivered fd in the same turn is ignored.
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	r.expect()
	r.d.Reap()
	if r.d.Reaping() != 0 || r.files.open[fd] {
		t.Fatalf("after Reap: reaping %d, dup open %v; want 0, false", r.d.Reaping(), r.files.open[fd])
	}
	// A late report for the reaped fd is ignored.
	r.turn(fd, pollset.Read)
	r.expect()
}

// The hot path writes the frame first: the duplicate of a delivered
// interest is disarmed and closed only by the Reap after the frame, Del
// before Close (epoll keys registrations by open file description).
func TestDeliveredDuplicateIsDeletedThenClosedOnlyAfterTheFrameIsWritten(t *testing.T) {
	cases := []struct {
		name  string
		op    protocol.Op
		mode  protocol.Mode
		evs   []pollset.Events
		entry string
	}{
		{"fdset", protocol.OpFdset, protocol.ModeRead, []pollset.Events{pollset.Read}, "inert_read P1 7 R1"},
		{"fdset read_write", protocol.OpFdset, protocol.ModeRW, []pollset.Events{pollset.Read | pollset.Write}, "inert_write P1 7 R1"},
		{"poll", protocol.OpPoll, protocol.ModeRW, []pollset.Events{pollset.Write}, "polled P1 R1 7 write"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			fd := r.req(c.op, "P1", "R1", 7, c.mode, 1)
			r.j.log = nil
			r.turn(fd, c.evs...)
			log := r.j.log
			if len(log) < 4 {
				t.Fatalf("journal %q: want the entries, the frame, del, close", log)
			}
			tail := log[len(log)-4:]
			want := []string{"entry " + c.entry, "frame written", fmt.Sprintf("del %d", fd), fmt.Sprintf("close %d", fd)}
			if !reflect.DeepEqual(tail, want) {
				t.Fatalf("journal ends %q, want %q", tail, want)
			}
			for _, e := range log[:len(log)-4] {
				if !strings.HasPrefix(e, "entry ") {
					t.Fatalf("journal %q: %q before the frame was written", log, e)
				}
			}
		})
	}
}

func TestReapWithNothingDeliveredMakesNoCall(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRW, 1)
	fd := r.fdset("P1", "R2", 8, protocol.ModeRW, 2)
	r.j.log = nil
	r.turn(fd, pollset.Read) // one direction left: stays armed
	r.d.Reap()
	if want := []string{"entry inert_read P1 8 R2", "frame written"}; !reflect.DeepEqual(r.j.log, want) {
		t.Fatalf("journal %q, want %q", r.j.log, want)
	}
}

// A delivered interest leaves the maps and its owner's count at once, so
// requests later in the same turn see the fd as free.
func TestDeliveredInterestIsGoneForRequestsOfTheSameTurn(t *testing.T) {
	r := newRig(t)
	old := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.d.Ready(pollset.Event{FD: int32(old), Events: pollset.Read})
	if _, held := r.d.callers["P1"]; held {
		t.Fatalf("P1 still counted as a holder after its only interest was delivered")
	}
	dup := r.fdset("P2", "R2", 7, protocol.ModeWrite, 1)
	r.req(protocol.OpFdclr, "P3", "R3", 8, protocol.ModeRW, 0)
	r.expect("inert_read P1 7 R1", "cleared P3 R3 8 none none")
	if it := r.d.byVM[7]; it == nil || string(it.owner.pid) != "P2" || it.fd != dup {
		t.Fatalf("fd 7 after a takeover in the delivering turn: %+v, want P2's interest on %d", it, dup)
	}
	r.d.Reap()
	if r.files.open[old] || !r.files.open[dup] || r.ps.armed[dup] != pollset.Write {
		t.Fatalf("after Reap: old dup open %v, new dup open %v, new registration %d",
			r.files.open[old], r.files.open[dup], r.ps.armed[dup])
	}
}

// An interest waiting for Reap is not recycled: arming another in the same
// turn must not hand out its struct, or Reap would close the wrong fd.
func TestInterestWaitingForReapIsNotRecycled(t *testing.T) {
	r := newRig(t)
	first := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.d.Ready(pollset.Event{FD: int32(first), Events: pollset.Read})
	retired := r.d.reaping[0]
	second := r.fdset("P1", "R2", 9, protocol.ModeRead, 2)
	if r.d.byVM[9] == retired {
		t.Fatalf("the interest waiting for Reap was reused for fd 9")
	}
	r.j.log = nil
	r.d.Reap()
	if want := []string{fmt.Sprintf("del %d", first), fmt.Sprintf("close %d", first)}; !reflect.DeepEqual(r.j.log, want) {
		t.Fatalf("Reap did %q, want %q", r.j.log, want)
	}
	if !r.files.open[second] {
		t.Fatalf("Reap closed the new interest's duplicate")
	}
	// Now it may be reused, and it comes back clean.
	third := r.fdset("P2", "R3", 10, protocol.ModeWrite, 3)
	r.turn(third, pollset.Write)
	r.expect("inert_read P1 7 R1", "inert_write P2 10 R3")
}

// info reaps first, so an info answered in the turn of a delivery
// balances: fds_received + fds_opened = fds_closed + fds_sent + armed.
func TestInfoInTheDeliveringTurnCountsTheDuplicateClosed(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.fdset("P1", "R2", 8, protocol.ModeRead, 2)
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	r.d.Handle(&protocol.Request{Op: protocol.OpInfo, Pid: []byte("P9"), Ref: []byte("R9")}, nil)
	r.expect("inert_read P1 7 R1", "reply P9 R9")
	c := r.d.Counters()
	if c.FDsReceived != 2 || c.FDsClosed != 1 || r.d.Armed() != 1 || r.d.Reaping() != 0 {
		t.Fatalf("received %d, closed %d, armed %d, reaping %d; want 2, 1, 1, 0",
			c.FDsReceived, c.FDsClosed, r.d.Armed(), r.d.Reaping())
	}
}

func TestReadWriteDeliversBothDirectionsOnce(t *testing.T) {
	cases := []struct {
		name   string
		events []pollset.Events
		want   []string
	}{
		{"both at once", []pollset.Events{pollset.Read | pollset.Write},
			[]string{"inert_read P1 7 R1", "inert_write P1 7 R1"}},
		{"write then read", []pollset.Events{pollset.Write, pollset.Read},
			[]string{"inert_write P1 7 R1", "inert_read P1 7 R1"}},
		{"read twice before write", []pollset.Events{pollset.Read, pollset.Read, pollset.Write},
			[]string{"inert_read P1 7 R1", "inert_write P1 7 R1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			fd := r.fdset("P1", "R1", 7, protocol.ModeRW, 1)
			for _, ev := range c.events {
				r.turn(fd, ev)
			}
			r.expect(c.want...)
			if r.d.Armed() != 0 {
				t.Fatalf("armed %d after both directions, want 0", r.d.Armed())
			}
		})
	}
}

func TestAfterOneDirectionTheOtherStaysArmed(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRW, 1)
	r.turn(fd, pollset.Read)
	if got := r.ps.armed[fd]; got != pollset.Write {
		t.Fatalf("poller interest after read fired: %d, want write only", got)
	}
}

func TestBusyFDIsAFailedEntryForFdsetAndAnErrorForPoll(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.fdset("P2", "R2", 7, protocol.ModeRead, 1)
	r.expect("failed P2 R2 7 {ebusy,P1}")
	r.req(protocol.OpPoll, "P2", "R3", 7, protocol.ModeRead, 1)
	r.expect("error P2 R3 {ebusy,P1}")
}

func TestTakeoverFromADeadOwner(t *testing.T) {
	cases := []struct {
		name string
		dead string
		want []string
	}{
		{"dead owner matches: silent success", "P1", nil},
		{"dead pid is not the owner: failed ebusy", "P9", []string{"failed P2 R2 7 {ebusy,P1}"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
			q := &protocol.Request{Op: protocol.OpFdset, Pid: []byte("P2"), Ref: []byte("R2"),
				FD: 7, FDValid: true, Mode: protocol.ModeWrite, ModeOK: true, Dead: []byte(c.dead)}
			r.recvd++
			r.d.Handle(q, []int{r.files.dup(1)})
			r.expect(c.want...)
		})
	}
}

func TestSecondFdsetBySameCallerReplacesTheModeAndTheRef(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRW, 1)
	r.ps.calls = nil
	dup := r.fdset("P1", "R2", 7, protocol.ModeWrite, 1)
	r.expect()
	if r.files.open[dup] {
		t.Errorf("second duplicate of the same file kept open")
	}
	if want := []string{fmt.Sprintf("mod %d %d", fd, pollset.Write)}; !reflect.DeepEqual(r.ps.calls, want) {
		t.Errorf("poller calls %q, want %q (no del/add for the same file)", r.ps.calls, want)
	}
	r.turn(fd, pollset.Read|pollset.Write)
	r.expect("inert_write P1 7 R2")
}

func TestRearmOfSameFileAndModeMakesNoPollerCallAndTakesTheNewRef(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.ps.calls = nil
	r.fdset("P1", "R2", 7, protocol.ModeRead, 1)
	if len(r.ps.calls) != 0 {
		t.Fatalf("poller calls %q for an identical re-arm, want none", r.ps.calls)
	}
	r.turn(fd, pollset.Read)
	r.expect("inert_read P1 7 R2")
}

func TestReusedFDNumberReplacesTheStaleRegistration(t *testing.T) {
	r := newRig(t)
	old := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	dup := r.fdset("P1", "R2", 7, protocol.ModeRead, 2) // fd 7 now names file 2
	if r.files.open[old] || !r.files.open[dup] {
		t.Fatalf("old duplicate open %v, new open %v; want false, true", r.files.open[old], r.files.open[dup])
	}
	r.turn(old, pollset.Read)
	r.turn(dup, pollset.Read)
	r.expect("inert_read P1 7 R2")
}

func TestFdclrByAnyProcessNamesTheInterestItCleared(t *testing.T) {
	cases := []struct {
		name  string
		armed protocol.Mode
		clear protocol.Mode
		left  string
		arm   int
	}{
		{"all of it", protocol.ModeRead, protocol.ModeRW, "none", 0},
		{"one direction", protocol.ModeRW, protocol.ModeRead, "write", 1},
		{"a direction not armed", protocol.ModeWrite, protocol.ModeRead, "write", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.fdset("P1", "R1", 7, c.armed, 1)
			r.req(protocol.OpFdclr, "P2", "R2", 7, c.clear, 1)
			r.expect("cleared P2 R2 7 " + c.left + " R1")
			if r.d.Armed() != c.arm {
				t.Fatalf("armed %d, want %d", r.d.Armed(), c.arm)
			}
		})
	}
}

func TestFdclrOfAPollNamesThePollsRef(t *testing.T) {
	r := newRig(t)
	r.req(protocol.OpPoll, "P1", "R1", 7, protocol.ModeRW, 1)
	r.req(protocol.OpFdclr, "P2", "R2", 7, protocol.ModeRead, 1)
	r.expect("cleared P2 R2 7 none R1")
}

func TestFdclrUnlocksForAnotherCaller(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.req(protocol.OpFdclr, "P2", "R2", 7, protocol.ModeRW, 1)
	fd := r.fdset("P2", "R3", 7, protocol.ModeRead, 1)
	r.turn(fd, pollset.Read)
	r.expect("cleared P2 R2 7 none R1", "inert_read P2 7 R3")
}

func TestFdclrWithoutItsFDStillClears(t *testing.T) {
	// inertd at its fd limit receives the request but not the fd.
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.req(protocol.OpFdclr, "P2", "R2", 7, protocol.ModeRW, 0)
	r.req(protocol.OpFdclr, "P2", "R3", -1, protocol.ModeRW, 0)
	r.expect("cleared P2 R2 7 none R1", "error P2 R3 ebadf")
}

func TestFdclrOfUnarmedFDNamesNoInterest(t *testing.T) {
	r := newRig(t)
	r.req(protocol.OpFdclr, "P1", "R1", 9, protocol.ModeRW, 1)
	r.expect("cleared P1 R1 9 none none")
}

func TestFdclrAfterDeliveryInTheSameTurnNamesNoInterest(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	r.req(protocol.OpFdclr, "P1", "R2", 7, protocol.ModeRW, 1)
	r.d.Reap()
	r.expect("inert_read P1 7 R1", "cleared P1 R2 7 none none")
}

func TestPollIsSilentUntilItEndsAtTheFirstDirection(t *testing.T) {
	r := newRig(t)
	fd := r.req(protocol.OpPoll, "P1", "R1", 7, protocol.ModeRW, 1)
	r.expect()
	r.turn(fd, pollset.Write)
	r.expect("polled P1 R1 7 write")
	if r.d.Armed() != 0 {
		t.Fatalf("poll left %d interests armed", r.d.Armed())
	}
}

func TestCancelRemovesOnlyTheMatchingPoll(t *testing.T) {
	r := newRig(t)
	r.req(protocol.OpPoll, "P1", "R1", 7, protocol.ModeRead, 1)
	r.d.Handle(&protocol.Request{Op: protocol.OpCancel, Ref: []byte("R0"), FD: 7, FDValid: true}, nil)
	if r.d.Armed() != 1 {
		t.Fatalf("cancel of another ref disarmed the poll")
	}
	r.d.Handle(&protocol.Request{Op: protocol.OpCancel, Ref: []byte("R1"), FD: 7, FDValid: true}, nil)
	r.expect("cancelled R0", "cancelled R1")
	if r.d.Armed() != 0 {
		t.Fatalf("cancel left the poll armed")
	}
}

func TestCancelDoesNotTouchAnFdsetInterest(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.d.Handle(&protocol.Request{Op: protocol.OpCancel, Ref: []byte("R1"), FD: 7, FDValid: true}, nil)
	if r.d.Armed() != 1 {
		t.Fatalf("cancel removed an fdset interest")
	}
}

func TestCallerDeathClearsOnlyItsInterests(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.fdset("P1", "R2", 8, protocol.ModeWrite, 2)
	r.fdset("P2", "R3", 9, protocol.ModeRead, 3)
	r.d.Handle(&protocol.Request{Op: protocol.OpDown, Pid: []byte("P1")}, nil)
	if r.d.Armed() != 1 {
		t.Fatalf("armed %d after P1 died, want 1 (P2's)", r.d.Armed())
	}
	r.fdset("P3", "R4", 7, protocol.ModeRead, 1)
	r.expect()
	if it := r.d.byVM[7]; it == nil || string(it.owner.pid) != "P3" {
		t.Fatalf("fdset after owner death: fd 7 held by %+v, want P3", it)
	}
	// A dead pid that holds nothing is a no-op.
	r.d.Handle(&protocol.Request{Op: protocol.OpDown, Pid: []byte("P7")}, nil)
}

func TestControllingProcessOnlyByTheOwner(t *testing.T) {
	r := newRig(t)
	r.d.Handle(&protocol.Request{Op: protocol.OpHello, Pid: []byte("O1")}, nil)
	r.d.Handle(&protocol.Request{Op: protocol.OpControllingProcess, Pid: []byte("P2"), Ref: []byte("R1"), NewOwner: []byte("P2")}, nil)
	r.d.Handle(&protocol.Request{Op: protocol.OpControllingProcess, Pid: []byte("O1"), Ref: []byte("R2"), NewOwner: []byte("P2")}, nil)
	r.d.Handle(&protocol.Request{Op: protocol.OpControllingProcess, Pid: []byte("O1"), Ref: []byte("R3"), NewOwner: []byte("P3")}, nil)
	r.expect("hello O1 2", "error P2 R1 not_owner", "owner O1 R2 P2", "error O1 R3 not_owner")
}

// A failed fdset names its FD; only an fdset whose FD cannot be read or
// is out of range, and every other request, answers with an error entry.
func TestBadInputIsAnsweredAndEveryFDClosed(t *testing.T) {
	cases := []struct {
		name string
		req  protocol.Request
		nfds int
		want string
	}{
		{"fdset negative fd: error", protocol.Request{Op: protocol.OpFdset, FD: -1, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 1, "error P1 R1 ebadf"},
		{"fdset fd above int32: error", protocol.Request{Op: protocol.OpFdset, FD: math.MaxInt32 + 1, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 1, "error P1 R1 ebadf"},
		{"fdset bignum or non-integer fd: error", protocol.Request{Op: protocol.OpFdset, FDValid: false, Mode: protocol.ModeRead, ModeOK: true}, 1, "error P1 R1 ebadf"},
		{"poll bignum or non-integer fd: error", protocol.Request{Op: protocol.OpPoll, FDValid: false, Mode: protocol.ModeRead, ModeOK: true}, 1, "error P1 R1 ebadf"},
		{"fdset unknown mode: failed", protocol.Request{Op: protocol.OpFdset, FD: 7, FDValid: true, ModeOK: false}, 1, "failed P1 R1 7 einval"},
		{"fdset no fd passed: failed", protocol.Request{Op: protocol.OpFdset, FD: 7, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 0, "failed P1 R1 7 einval"},
		{"fdset two fds passed: failed", protocol.Request{Op: protocol.OpFdset, FD: 7, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 2, "failed P1 R1 7 einval"},
		{"fdset largest fd, no fd passed: failed", protocol.Request{Op: protocol.OpFdset, FD: math.MaxInt32, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 0, "failed P1 R1 2147483647 einval"},
		{"poll unknown mode: error", protocol.Request{Op: protocol.OpPoll, FD: 7, FDValid: true, ModeOK: false}, 1, "error P1 R1 einval"},
		{"poll two fds passed: error", protocol.Request{Op: protocol.OpPoll, FD: 7, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 2, "error P1 R1 einval"},
		{"fdclr with bad mode: error", protocol.Request{Op: protocol.OpFdclr, FD: 7, FDValid: true, ModeOK: false}, 1, "error P1 R1 einval"},
		{"fds on a request that takes none: error", protocol.Request{Op: protocol.OpInfo}, 3, "error P1 R1 einval"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			q := c.req
			q.Pid, q.Ref = []byte("P1"), []byte("R1")
			fds := make([]int, c.nfds)
			for i := range fds {
				fds[i] = r.files.dup(uint64(i + 1))
			}
			r.recvd += c.nfds
			r.d.Handle(&q, fds)
			r.expect(c.want)
			if r.d.Counters().Errors != 1 {
				t.Fatalf("errors counter %d, want 1", r.d.Counters().Errors)
			}
		})
	}
}

// Reject (a request whose fds did not arrive whole) answers an fdset with
// a readable FD with a failed entry carrying it.
func TestRejectedFdsetIsAFailedEntryWithItsFD(t *testing.T) {
	r := newRig(t)
	fdset := protocol.Request{Op: protocol.OpFdset, Pid: []byte("P1"), Ref: []byte("R1"), FD: 7, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}
	r.d.Reject(&fdset, "emfile", nil)
	bad := fdset
	bad.FDValid, bad.FD = false, 0
	r.d.Reject(&bad, "emfile", nil)
	poll := fdset
	poll.Op = protocol.OpPoll
	r.d.Reject(&poll, "emfile", nil)
	r.expect("failed P1 R1 7 emfile", "error P1 R1 emfile", "error P1 R1 emfile")
}

// epoll refuses (EPERM) files it cannot wait on; poll(2) and io_uring
// report them ready, and so does the driver, at once, keeping nothing.
func TestFileThePollerRefusesIsReadyAtOnceInEveryDirectionAsked(t *testing.T) {
	r := newRig(t)
	for _, fd := range []int{r.files.next + 1, r.files.next + 2, r.files.next + 3, r.files.next + 4} {
		r.ps.refuse[fd] = true // the next duplicates: regular files
	}
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.fdset("P1", "R2", 8, protocol.ModeRW, 2)
	r.req(protocol.OpPoll, "P1", "R3", 9, protocol.ModeWrite, 3)
	r.req(protocol.OpPoll, "P1", "R4", 10, protocol.ModeRW, 4)
	r.expect("inert_read P1 7 R1", "inert_read P1 8 R2", "inert_write P1 8 R2", "polled P1 R3 9 write", "polled P1 R4 10 read")
	for fd, open := range r.files.open {
		if open {
			t.Errorf("duplicate %d left open", fd)
		}
	}
	if r.d.Armed() != 0 || r.d.Reaping() != 0 {
		t.Fatalf("after always-ready fds: armed %d, reaping %d; want 0, 0", r.d.Armed(), r.d.Reaping())
	}
}

// queuedFiles is fakeFiles whose closes wait for Flush, as ringFiles'
// wait for the next io_uring_enter.
type queuedFiles struct{ *fakeFiles }

func (q queuedFiles) Flush() error {
	q.j.add("flush")
	return nil
}

// With closes that only queue (io_uring), info carries them out before it
// answers: a VM that reads inertd's fds after the answer finds them shut.
func TestInfoFlushesQueuedClosesBeforeItAnswers(t *testing.T) {
	r := newRig(t)
	r.d = New(r.ps, queuedFiles{r.files}, r.out, testLog{t})
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	r.j.log = nil
	r.d.Handle(&protocol.Request{Op: protocol.OpInfo, Pid: []byte("P9"), Ref: []byte("R9")}, nil)
	want := []string{fmt.Sprintf("del %d", fd), fmt.Sprintf("close %d", fd), "flush", "entry reply P9 R9"}
	if !reflect.DeepEqual(r.j.log, want) {
		t.Fatalf("info did %q, want %q", r.j.log, want)
	}
	r.out.got = nil
}

func TestFailedRearmOfTheSameFileReleasesAndNamesTheFD(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	delete(r.ps.armed, fd) // the registration is gone: Mod fails with ENOENT
	r.fdset("P1", "R2", 7, protocol.ModeWrite, 1)
	r.expect("failed P1 R2 7 enoent")
	if r.d.Armed() != 0 || r.files.open[fd] {
		t.Fatalf("after a failed re-arm: armed %d, dup open %v; want 0, false", r.d.Armed(), r.files.open[fd])
	}
}

func TestUnaddressableRequestIsDropped(t *testing.T) {
	r := newRig(t)
	r.d.Handle(&protocol.Request{Op: protocol.OpFdset, FD: -1, FDValid: true}, nil)
	r.expect()
	if r.d.Counters().Dropped != 1 {
		t.Fatalf("dropped counter %d, want 1", r.d.Counters().Dropped)
	}
}

func TestCloseAllReleasesEverythingAndReapsTheDelivered(t *testing.T) {
	r := newRig(t)
	var fds []int
	for i := int64(0); i < 50; i++ {
		fds = append(fds, r.fdset(fmt.Sprintf("P%d", i%5), "R", 100+i, protocol.ModeRW, uint64(i+1)))
	}
	for _, fd := range fds[:10] { // delivered, the frame not yet written
		r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read | pollset.Write})
	}
	r.d.CloseAll()
	if r.d.Armed() != 0 || r.d.Reaping() != 0 {
		t.Fatalf("armed %d, reaping %d after CloseAll", r.d.Armed(), r.d.Reaping())
	}
}

func TestManyFDsEachReportedExactlyOnce(t *testing.T) {
	r := newRig(t)
	dups := map[int]int64{}
	for i := int64(0); i < 2000; i++ {
		dups[r.fdset(fmt.Sprintf("P%d", i%200), fmt.Sprintf("R%d", i), 1000+i, protocol.ModeRead, uint64(i+1))] = 1000 + i
	}
	r.out.got = nil
	for round := 0; round < 2; round++ { // the second round must deliver nothing
		for fd := range dups {
			r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
		}
		r.d.Reap()
	}
	if len(r.out.got) != 2000 {
		t.Fatalf("%d events for 2000 fds, want 2000", len(r.out.got))
	}
	seen := map[string]bool{}
	for _, e := range r.out.got {
		if seen[e] || !strings.HasPrefix(e, "inert_read ") {
			t.Fatalf("duplicate or unexpected entry %q", e)
		}
		seen[e] = true
	}
	for fd, vmfd := range dups {
		if want := fmt.Sprintf("inert_read P%d %d R%d", (vmfd-1000)%200, vmfd, vmfd-1000); !seen[want] {
			t.Fatalf("no %q for dup %d", want, fd)
		}
	}
}

// Broken (a request whose fds did not arrive whole, already closed) is
// answered emfile at the fd limit and einval otherwise; an fdclr at the
// fd limit is carried out without its fd; a message that names no Pid is
// dropped. The fd limit is asked about only for too many fds.
func TestBrokenFDsAnswerPolicy(t *testing.T) {
	fdset := protocol.Request{Op: protocol.OpFdset, Pid: []byte{'P'}, Ref: []byte{'R'}, FD: 7, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}
	poll, fdclr := fdset, fdset
	poll.Op, fdclr.Op = protocol.OpPoll, protocol.OpFdclr
	cases := []struct {
		name    string
		req     *protocol.Request // nil: a message that is not a request
		cause   error
		atLimit bool
		want    []string
		dropped uint64
	}{
		{"fdset, too many fds: failed einval", &fdset, protocol.ErrTooManyFDs, false, []string{"failed P R 7 einval"}, 0},
		{"fdset at the fd limit: failed emfile", &fdset, protocol.ErrTooManyFDs, true, []string{"failed P R 7 emfile"}, 0},
		{"poll at the fd limit: error emfile", &poll, protocol.ErrTooManyFDs, true, []string{"error P R emfile"}, 0},
		{"fdclr at the fd limit: carried out", &fdclr, protocol.ErrTooManyFDs, true, []string{"cleared P R 7 none none"}, 0},
		{"fdclr, too many fds: error einval", &fdclr, protocol.ErrTooManyFDs, false, []string{"error P R einval"}, 0},
		{"unexpected control at the fd limit: einval", &fdset, protocol.ErrUnexpectedControl, true, []string{"failed P R 7 einval"}, 0},
		{"not a request: dropped", nil, protocol.ErrTooManyFDs, true, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			msg := []byte{131, 100, 0, 1, 'x'} // the atom x
			pid, ref := goldenTerm(t, "pid"), goldenTerm(t, "ref")
			if c.req != nil {
				q := *c.req
				q.Pid, q.Ref = pid, ref
				msg = protocol.AppendRequest(nil, &q)
			}
			asked := false
			atLimit := func() bool { asked = true; return c.atLimit }
			var scratch protocol.Request
			r.d.Broken(&scratch, msg, c.cause, atLimit)
			var want []string
			for _, w := range c.want {
				w = strings.Replace(w, "P", string(pid), 1)
				want = append(want, strings.Replace(w, "R", string(ref), 1))
			}
			r.expect(want...)
			if got := r.d.Counters().Dropped; got != c.dropped {
				t.Errorf("dropped counter %d, want %d", got, c.dropped)
			}
			if want := c.cause == protocol.ErrTooManyFDs; asked != want {
				t.Errorf("fd limit asked: %v, want %v", asked, want)
			}
		})
	}
}

// goldenTerm is a pid or reference OTP wrote (protocol/testdata/golden),
// without its version byte.
func goldenTerm(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../protocol/testdata/golden/local/mv2/" + name + ".etf")
	if err != nil {
		t.Fatal(err)
	}
	return b[1:]
}
