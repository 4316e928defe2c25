package driver

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// fakePoller models epoll's registration rules so misuse shows up as an
// error: Add of a registered fd is EEXIST, Mod/Del of an unknown one ENOENT.
type fakePoller struct {
	armed    map[int]pollset.Events
	refuse   map[int]bool // Add fails with EPERM (a regular file)
	calls    []string
	closedAt func(fd int) bool
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
	if p.closedAt(fd) {
		return syscall.EBADF // closed before Del: the order SPEC §3 forbids
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
	if !f.open[fd] {
		return syscall.EBADF
	}
	f.open[fd] = false
	f.closes++
	return nil
}

// fakeOut records entries as readable strings.
type fakeOut struct{ got []string }

func (o *fakeOut) add(format string, a ...any) { o.got = append(o.got, fmt.Sprintf(format, a...)) }
func (o *fakeOut) Hello(owner []byte, v int)   { o.add("hello %s %d", owner, v) }
func (o *fakeOut) Armed(poll bool, pid, ref []byte, fd int64, m protocol.Mode) {
	kind := "fdset"
	if poll {
		kind = "poll"
	}
	o.add("armed %s %s %s %d %s", kind, pid, ref, fd, modeName(m))
}
func (o *fakeOut) Event(dir protocol.Mode, pid []byte, fd int64) {
	o.add("inert_%s %s %d", modeName(dir), pid, fd)
}
func (o *fakeOut) Polled(pid, ref []byte, fd int64, dir protocol.Mode) {
	o.add("polled %s %s %d %s", pid, ref, fd, modeName(dir))
}
func (o *fakeOut) Cleared(pid, ref []byte, fd int64, left protocol.Mode) {
	o.add("cleared %s %s %d %s", pid, ref, fd, modeName(left))
}
func (o *fakeOut) Cancelled(ref []byte)            { o.add("cancelled %s", ref) }
func (o *fakeOut) Owner(pid, ref, newOwner []byte) { o.add("owner %s %s %s", pid, ref, newOwner) }
func (o *fakeOut) Error(pid, ref []byte, r string) { o.add("error %s %s %s", pid, ref, r) }
func (o *fakeOut) Busy(pid, ref, owner []byte)     { o.add("error %s %s {ebusy,%s}", pid, ref, owner) }
func (o *fakeOut) Reply(pid, ref, term []byte)     { o.add("reply %s %s", pid, ref) }

type testLog struct{ t *testing.T }

func (l testLog) Printf(format string, a ...any) { l.t.Logf(format, a...) }

type rig struct {
	t     *testing.T
	d     *Driver
	ps    *fakePoller
	files *fakeFiles
	out   *fakeOut
	recvd int
}

func newRig(t *testing.T) *rig {
	files := &fakeFiles{next: 100, id: map[int]FileID{}, open: map[int]bool{}}
	ps := &fakePoller{armed: map[int]pollset.Events{}, refuse: map[int]bool{}}
	ps.closedAt = func(fd int) bool { return !files.open[fd] }
	out := &fakeOut{}
	r := &rig{t: t, ps: ps, files: files, out: out}
	r.d = New(ps, files, out, testLog{t})
	t.Cleanup(r.checkNoLeak)
	return r
}

// checkNoLeak: every fd handed to the driver is closed or held by exactly
// one armed interest, and the poller holds exactly the armed interests.
func (r *rig) checkNoLeak() {
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

func (r *rig) expect(want ...string) {
	r.t.Helper()
	if !reflect.DeepEqual(r.out.got, want) {
		r.t.Errorf("entries:\n got  %q\n want %q", r.out.got, want)
	}
	r.out.got = nil
}

func TestFdsetDeliversOneEventThenReleasesTheDuplicate(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.expect("armed fdset P1 R1 7 read")
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	r.expect("inert_read P1 7")
	if r.d.Armed() != 0 || r.files.open[fd] {
		t.Fatalf("after delivery: armed %d, dup open %v; want 0, false", r.d.Armed(), r.files.open[fd])
	}
	// A late report for the released fd is ignored.
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	r.expect()
}

func TestReleaseRemovesRegistrationBeforeClosing(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	last := r.ps.calls[len(r.ps.calls)-1]
	if last != fmt.Sprintf("del %d", fd) {
		t.Fatalf("last poller call %q, want del of the duplicate", last)
	}
	// fakePoller.Del fails with EBADF had the fd been closed first; the
	// leak check would then find the registration still there.
}

func TestReadWriteDeliversBothDirectionsOnce(t *testing.T) {
	cases := []struct {
		name   string
		events []pollset.Events
		want   []string
	}{
		{"both at once", []pollset.Events{pollset.Read | pollset.Write},
			[]string{"inert_read P1 7", "inert_write P1 7"}},
		{"write then read", []pollset.Events{pollset.Write, pollset.Read},
			[]string{"inert_write P1 7", "inert_read P1 7"}},
		{"read twice before write", []pollset.Events{pollset.Read, pollset.Read, pollset.Write},
			[]string{"inert_read P1 7", "inert_write P1 7"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			fd := r.fdset("P1", "R1", 7, protocol.ModeRW, 1)
			r.out.got = nil
			for _, ev := range c.events {
				r.d.Ready(pollset.Event{FD: int32(fd), Events: ev})
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
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
	if got := r.ps.armed[fd]; got != pollset.Write {
		t.Fatalf("poller interest after read fired: %d, want write only", got)
	}
}

func TestArmedFDBelongsToItsCaller(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.fdset("P2", "R2", 7, protocol.ModeRead, 1)
	r.expect("armed fdset P1 R1 7 read", "error P2 R2 {ebusy,P1}")
	r.req(protocol.OpPoll, "P2", "R3", 7, protocol.ModeRead, 1)
	r.expect("error P2 R3 {ebusy,P1}")
}

func TestTakeoverFromADeadOwner(t *testing.T) {
	cases := []struct {
		name string
		dead string
		want string
	}{
		{"dead owner matches", "P1", "armed fdset P2 R2 7 write"},
		{"dead pid is not the owner", "P9", "error P2 R2 {ebusy,P1}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
			r.out.got = nil
			q := &protocol.Request{Op: protocol.OpFdset, Pid: []byte("P2"), Ref: []byte("R2"),
				FD: 7, FDValid: true, Mode: protocol.ModeWrite, ModeOK: true, Dead: []byte(c.dead)}
			r.recvd++
			r.d.Handle(q, []int{r.files.dup(1)})
			r.expect(c.want)
		})
	}
}

func TestSecondFdsetBySameCallerReplacesTheMode(t *testing.T) {
	r := newRig(t)
	fd := r.fdset("P1", "R1", 7, protocol.ModeRW, 1)
	r.ps.calls = nil
	dup := r.fdset("P1", "R2", 7, protocol.ModeWrite, 1)
	r.expect("armed fdset P1 R1 7 read_write", "armed fdset P1 R2 7 write")
	if r.files.open[dup] {
		t.Errorf("second duplicate of the same file kept open")
	}
	if want := []string{fmt.Sprintf("mod %d %d", fd, pollset.Write)}; !reflect.DeepEqual(r.ps.calls, want) {
		t.Errorf("poller calls %q, want %q (no del/add for the same file)", r.ps.calls, want)
	}
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read | pollset.Write})
	r.expect("inert_write P1 7")
}

func TestRearmOfSameFileAndModeMakesNoPollerCall(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.ps.calls = nil
	r.fdset("P1", "R2", 7, protocol.ModeRead, 1)
	if len(r.ps.calls) != 0 {
		t.Fatalf("poller calls %q for an identical re-arm, want none", r.ps.calls)
	}
}

func TestReusedFDNumberReplacesTheStaleRegistration(t *testing.T) {
	r := newRig(t)
	old := r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	dup := r.fdset("P1", "R2", 7, protocol.ModeRead, 2) // fd 7 now names file 2
	if r.files.open[old] || !r.files.open[dup] {
		t.Fatalf("old duplicate open %v, new open %v; want false, true", r.files.open[old], r.files.open[dup])
	}
	r.d.Ready(pollset.Event{FD: int32(old), Events: pollset.Read})
	r.d.Ready(pollset.Event{FD: int32(dup), Events: pollset.Read})
	r.expect("armed fdset P1 R1 7 read", "armed fdset P1 R2 7 read", "inert_read P1 7")
}

func TestFdclrByAnyProcess(t *testing.T) {
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
			r.out.got = nil
			r.req(protocol.OpFdclr, "P2", "R2", 7, c.clear, 1)
			r.expect("cleared P2 R2 7 " + c.left)
			if r.d.Armed() != c.arm {
				t.Fatalf("armed %d, want %d", r.d.Armed(), c.arm)
			}
		})
	}
}

func TestFdclrUnlocksForAnotherCaller(t *testing.T) {
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.req(protocol.OpFdclr, "P2", "R2", 7, protocol.ModeRW, 1)
	r.fdset("P2", "R3", 7, protocol.ModeRead, 1)
	r.expect("armed fdset P1 R1 7 read", "cleared P2 R2 7 none", "armed fdset P2 R3 7 read")
}

func TestFdclrWithoutItsFDStillClears(t *testing.T) {
	// inertd at its fd limit receives the request but not the fd.
	r := newRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.req(protocol.OpFdclr, "P2", "R2", 7, protocol.ModeRW, 0)
	r.req(protocol.OpFdclr, "P2", "R3", -1, protocol.ModeRW, 0)
	r.expect("armed fdset P1 R1 7 read", "cleared P2 R2 7 none", "error P2 R3 ebadf")
}

func TestFdclrOfUnarmedFDIsOK(t *testing.T) {
	r := newRig(t)
	r.req(protocol.OpFdclr, "P1", "R1", 9, protocol.ModeRW, 1)
	r.expect("cleared P1 R1 9 none")
}

func TestPollEndsAtTheFirstDirection(t *testing.T) {
	r := newRig(t)
	fd := r.req(protocol.OpPoll, "P1", "R1", 7, protocol.ModeRW, 1)
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Write})
	r.expect("armed poll P1 R1 7 read_write", "polled P1 R1 7 write")
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
	r.expect("armed poll P1 R1 7 read", "cancelled R0", "cancelled R1")
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
	if got := r.out.got[len(r.out.got)-1]; got != "armed fdset P3 R4 7 read" {
		t.Fatalf("fdset after owner death: %q", got)
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
	r.expect("hello O1 1", "error P2 R1 not_owner", "owner O1 R2 P2", "error O1 R3 not_owner")
}

func TestBadInputIsAnsweredAndEveryFDClosed(t *testing.T) {
	cases := []struct {
		name string
		req  protocol.Request
		nfds int
		want string
	}{
		{"negative fd", protocol.Request{Op: protocol.OpFdset, FD: -1, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 1, "ebadf"},
		{"fd above int32", protocol.Request{Op: protocol.OpFdset, FD: math.MaxInt32 + 1, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 1, "ebadf"},
		{"bignum or non-integer fd", protocol.Request{Op: protocol.OpPoll, FDValid: false, Mode: protocol.ModeRead, ModeOK: true}, 1, "ebadf"},
		{"unknown mode", protocol.Request{Op: protocol.OpFdset, FD: 7, FDValid: true, ModeOK: false}, 1, "einval"},
		{"no fd passed", protocol.Request{Op: protocol.OpFdset, FD: 7, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 0, "einval"},
		{"two fds passed", protocol.Request{Op: protocol.OpFdset, FD: 7, FDValid: true, Mode: protocol.ModeRead, ModeOK: true}, 2, "einval"},
		{"fdclr with bad mode", protocol.Request{Op: protocol.OpFdclr, FD: 7, FDValid: true, ModeOK: false}, 1, "einval"},
		{"fds on a request that takes none", protocol.Request{Op: protocol.OpInfo}, 3, "einval"},
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
			r.expect("error P1 R1 " + c.want)
		})
	}
}

func TestPollerRefusalIsReportedAsErrno(t *testing.T) {
	r := newRig(t)
	r.ps.refuse[r.files.next+1] = true // the next duplicate: a regular file
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.expect("error P1 R1 eperm")
}

func TestUnaddressableRequestIsDropped(t *testing.T) {
	r := newRig(t)
	r.d.Handle(&protocol.Request{Op: protocol.OpFdset, FD: -1, FDValid: true}, nil)
	r.expect()
	if r.d.Counters().Dropped != 1 {
		t.Fatalf("dropped counter %d, want 1", r.d.Counters().Dropped)
	}
}

func TestCloseAllReleasesEverything(t *testing.T) {
	r := newRig(t)
	for i := int64(0); i < 50; i++ {
		r.fdset(fmt.Sprintf("P%d", i%5), "R", 100+i, protocol.ModeRW, uint64(i+1))
	}
	r.d.CloseAll()
	if r.d.Armed() != 0 {
		t.Fatalf("armed %d after CloseAll", r.d.Armed())
	}
}

func TestManyFDsEachReportedExactlyOnce(t *testing.T) {
	r := newRig(t)
	dups := map[int]int64{}
	for i := int64(0); i < 2000; i++ {
		dups[r.fdset(fmt.Sprintf("P%d", i%200), "R", 1000+i, protocol.ModeRead, uint64(i+1))] = 1000 + i
	}
	r.out.got = nil
	for round := 0; round < 2; round++ { // the second round must deliver nothing
		for fd := range dups {
			r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read})
		}
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
}
