package driver

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/inert-go/inert/protocol"
)

// fakeSockets makes sockets as fresh fds of fakeFiles, or fails with err.
type fakeSockets struct {
	r       *rig
	err     error
	specs   []protocol.OpenSpec
	termios []protocol.Termios
}

func (s *fakeSockets) Open(spec *protocol.OpenSpec) (Opened, error) {
	s.specs = append(s.specs, *spec)
	if s.err != nil {
		return Opened{}, s.err
	}
	s.r.recvd++ // counted like a received fd by the leak check
	o := Opened{FDs: []int{s.r.files.dup(uint64(1000 + len(s.specs)))}}
	switch {
	case spec.Proto == protocol.ProtoPty:
		s.r.recvd++
		o.FDs = append(o.FDs, s.r.files.dup(uint64(2000+len(s.specs))))
		o.Info = protocol.HandInfo{Path: "/dev/pts/9", Peer: true}
	case spec.Proto.IsTun():
		o.Info = protocol.HandInfo{Name: "tun9"}
	}
	return o, nil
}

func (s *fakeSockets) SetTermios(fd int, t *protocol.Termios) error {
	if _, ok := s.r.files.id[fd]; !ok {
		s.r.t.Errorf("SetTermios on fd %d, which is not open", fd)
	}
	s.termios = append(s.termios, *t)
	return s.err
}

// fakeCourier records handovers and closes the fd as the daemon does once
// it is sent, or fails the send when fail is set.
type fakeCourier struct {
	r    *rig
	fail error
	got  []string
}

func (c *fakeCourier) Hand(pid, ref []byte, fds []int, info *protocol.HandInfo) {
	var files []string
	for _, fd := range fds {
		files = append(files, fmt.Sprint(c.r.files.id[fd].Ino))
		if c.r.files.Close(fd) != nil {
			c.r.t.Errorf("handed fd %d is not open", fd)
		}
	}
	if c.fail != nil {
		c.r.d.Undelivered(pid, ref, len(fds), c.fail)
		return
	}
	got := fmt.Sprintf("fd %s %s file %s", pid, ref, strings.Join(files, " "))
	if !info.Empty() {
		got += fmt.Sprintf(" %+v", *info)
	}
	c.got = append(c.got, got)
}

func newPassRig(t *testing.T) (*rig, *fakeSockets, *fakeCourier) {
	r := newRig(t)
	s, c := &fakeSockets{r: r}, &fakeCourier{r: r}
	r.d.PassFDs(s, c)
	return r, s, c
}

// dupWith sends a dup request with n fresh duplicates of file 5.
func (r *rig) dupWith(pid, ref string, vmfd int64, n int) {
	q := &protocol.Request{Op: protocol.OpDup, Pid: []byte(pid), Ref: []byte(ref), FD: vmfd, FDValid: true}
	fds := make([]int, n)
	for i := range fds {
		fds[i] = r.files.dup(5)
		r.recvd++
	}
	r.d.Handle(q, fds)
}

func (r *rig) open(pid, ref string, spec *protocol.OpenSpec, fds int) {
	q := &protocol.Request{Op: protocol.OpOpen, Pid: []byte(pid), Ref: []byte(ref)}
	if spec != nil {
		q.Spec, q.SpecOK = *spec, true
	}
	var got []int
	for range fds {
		got = append(got, r.files.dup(6))
		r.recvd++
	}
	r.d.Handle(q, got)
}

func TestDupHandsTheReceivedFDBack(t *testing.T) {
	r, _, c := newPassRig(t)
	r.dupWith("P1", "R1", 7, 1)
	r.expect() // no stdout entry: the answer is the handover
	if want := []string{"fd P1 R1 file 5"}; fmt.Sprint(c.got) != fmt.Sprint(want) {
		t.Fatalf("handovers %q, want %q", c.got, want)
	}
	if cnt := r.d.Counters(); cnt.FDsReceived != 1 || cnt.FDsSent != 1 || cnt.FDsClosed != 0 {
		t.Fatalf("counters %+v: want 1 received, 1 sent, 0 closed", cnt)
	}
	if r.d.Armed() != 0 || len(r.ps.armed) != 0 {
		t.Fatalf("dup armed something: %d, %v", r.d.Armed(), r.ps.armed)
	}
}

func TestDupRefusesBadInputAndClosesEveryFD(t *testing.T) {
	cases := []struct {
		name string
		vmfd int64
		fds  int
		want string
	}{
		{"no fd", 7, 0, "error P1 R1 einval"},
		{"two fds", 7, 2, "error P1 R1 einval"},
		{"sixteen fds", 7, 16, "error P1 R1 einval"},
		{"negative fd", -1, 1, "error P1 R1 ebadf"},
		{"fd beyond int32", 1 << 31, 1, "error P1 R1 ebadf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _, c := newPassRig(t)
			r.dupWith("P1", "R1", tc.vmfd, tc.fds)
			r.expect(tc.want)
			if len(c.got) != 0 {
				t.Fatalf("handed %v on a refused dup", c.got)
			}
			if cnt := r.d.Counters(); cnt.FDsClosed != uint64(tc.fds) || cnt.FDsSent != 0 {
				t.Fatalf("counters %+v: want every fd closed, none sent", cnt)
			}
		})
	}
}

func TestDupAndOpenWithoutCourierAreEnotsup(t *testing.T) {
	r := newRig(t)
	r.dupWith("P1", "R1", 7, 1)
	r.open("P1", "R2", &protocol.OpenSpec{Proto: protocol.ProtoUDP, Family: protocol.FamilyInet}, 0)
	r.expect("error P1 R1 enotsup", "error P1 R2 enotsup")
}

func TestOpenHandsTheNewSocket(t *testing.T) {
	r, s, c := newPassRig(t)
	spec := protocol.OpenSpec{Proto: protocol.ProtoTCP, Family: protocol.FamilyInet,
		Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1}), ReuseAddr: true, Backlog: 16}
	r.open("P1", "R1", &spec, 0)
	r.expect()
	if len(s.specs) != 1 || s.specs[0] != spec {
		t.Fatalf("Sockets.Open got %+v, want %+v", s.specs, spec)
	}
	if want := "[fd P1 R1 file 1001]"; fmt.Sprint(c.got) != want {
		t.Fatalf("handovers %v, want %s", c.got, want)
	}
	if cnt := r.d.Counters(); cnt.FDsOpened != 1 || cnt.FDsSent != 1 || cnt.FDsReceived != 0 {
		t.Fatalf("counters %+v: want 1 opened, 1 sent", cnt)
	}
}

func TestOpenErrorsAreErrnoAtoms(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{syscall.EADDRINUSE, "eaddrinuse"},
		{syscall.EACCES, "eacces"},
		{syscall.EADDRNOTAVAIL, "eaddrnotavail"},
		{syscall.EMFILE, "emfile"},
		{fmt.Errorf("bind: %w", syscall.EAFNOSUPPORT), "eafnosupport"},
		{errors.New("not an errno"), "eio"},
	} {
		r, s, c := newPassRig(t)
		s.err = tc.err
		r.open("P1", "R1", &protocol.OpenSpec{Proto: protocol.ProtoUDP, Family: protocol.FamilyInet}, 0)
		r.expect("error P1 R1 " + tc.want)
		if len(c.got) != 0 {
			t.Fatalf("%v: handed %v", tc.err, c.got)
		}
	}
}

func TestOpenWithBadSpecOrWithFDsIsEinval(t *testing.T) {
	r, s, c := newPassRig(t)
	r.open("P1", "R1", nil, 0) // SpecOK false
	r.open("P1", "R2", &protocol.OpenSpec{Proto: protocol.ProtoUDP, Family: protocol.FamilyInet}, 2)
	r.expect("error P1 R1 einval", "error P1 R2 einval")
	if len(s.specs) != 0 || len(c.got) != 0 {
		t.Fatalf("opened %v, handed %v on refused requests", s.specs, c.got)
	}
}

func TestUndeliveredHandoverIsAnErrorAndCountsAsClosed(t *testing.T) {
	r, _, c := newPassRig(t)
	c.fail = syscall.ENOBUFS
	r.dupWith("P1", "R1", 7, 1)
	r.expect("error P1 R1 enobufs")
	if cnt := r.d.Counters(); cnt.FDsSent != 0 || cnt.FDsClosed != 1 || cnt.Errors != 1 {
		t.Fatalf("counters %+v: want 0 sent, 1 closed, 1 error", cnt)
	}
}

// Every fd received or opened is closed, armed or sent: the invariant of
// PROTOCOL.md's counters, over a mix of requests.
func TestCountersAccountForEveryFD(t *testing.T) {
	r, s, _ := newPassRig(t)
	r.fdset("P1", "R1", 7, protocol.ModeRead, 1)
	r.dupWith("P1", "R2", 8, 1)
	r.dupWith("P1", "R3", 8, 3)
	r.open("P2", "R4", &protocol.OpenSpec{Proto: protocol.ProtoUDP, Family: protocol.FamilyInet}, 0)
	s.err = syscall.EMFILE
	r.open("P2", "R5", &protocol.OpenSpec{Proto: protocol.ProtoUDP, Family: protocol.FamilyInet}, 1)
	c := r.d.Counters()
	if in, out := c.FDsReceived+c.FDsOpened, c.FDsClosed+c.FDsSent+uint64(r.d.Armed()); in != out {
		t.Fatalf("received %d + opened %d != closed %d + sent %d + armed %d",
			c.FDsReceived, c.FDsOpened, c.FDsClosed, c.FDsSent, r.d.Armed())
	}
}

// A device open hands every fd it made with what the kernel named: a
// pty's two fds (the controlling side first, then the peer) with the
// peer's path, a TUN interface's fd with its name; an undelivered pty
// counts both fds closed.
func TestOpenOfADeviceHandsItsFDsAndNames(t *testing.T) {
	r, _, c := newPassRig(t)
	r.open("P1", "R1", &protocol.OpenSpec{Proto: protocol.ProtoPty}, 0)
	r.open("P1", "R2", &protocol.OpenSpec{Proto: protocol.ProtoTun}, 0)
	r.expect()
	want := "[fd P1 R1 file 1001 2001 {Name: Path:/dev/pts/9 Peer:true} fd P1 R2 file 1002 {Name:tun9 Path: Peer:false}]"
	if fmt.Sprint(c.got) != want {
		t.Fatalf("handovers %v, want %s", c.got, want)
	}
	if cnt := r.d.Counters(); cnt.FDsOpened != 3 || cnt.FDsSent != 3 {
		t.Fatalf("counters %+v: want 3 opened, 3 sent", cnt)
	}
	c.fail = syscall.ENOBUFS
	r.open("P1", "R3", &protocol.OpenSpec{Proto: protocol.ProtoPty}, 0)
	r.expect("error P1 R3 enobufs")
	if cnt := r.d.Counters(); cnt.FDsOpened != 5 || cnt.FDsSent != 3 || cnt.FDsClosed != 2 {
		t.Fatalf("counters %+v: want 5 opened, 3 sent, 2 closed", cnt)
	}
}

// A termios request applies its settings to the fd that came with it and
// closes that copy, answering ok; a bad request or a refusal of the
// kernel is an error, and the fd is closed all the same.
func TestTermiosSetsTheLineOfTheFDItCameWithAndClosesIt(t *testing.T) {
	tio := protocol.Termios{Set: protocol.TermSpeed, Speed: 9600}
	termios := func(r *rig, ref string, vmfd int64, n int, ok bool) {
		q := &protocol.Request{Op: protocol.OpTermios, Pid: []byte("P1"), Ref: []byte(ref), FD: vmfd, FDValid: true,
			Termios: tio, TermiosOK: ok}
		fds := make([]int, n)
		for i := range fds {
			fds[i] = r.files.dup(5)
			r.recvd++
		}
		r.d.Handle(q, fds)
	}
	r, s, _ := newPassRig(t)
	termios(r, "R1", 7, 1, true)
	termios(r, "R2", 7, 2, true)
	termios(r, "R3", 7, 1, false)
	termios(r, "R4", -1, 1, true)
	s.err = syscall.ENOTTY
	termios(r, "R5", 7, 1, true)
	r.expect("reply P1 R1", "error P1 R2 einval", "error P1 R3 einval", "error P1 R4 ebadf", "error P1 R5 enotty")
	if len(s.termios) != 2 || s.termios[0] != tio {
		t.Fatalf("SetTermios got %+v, want %+v twice (R1, R5)", s.termios, tio)
	}
	if cnt := r.d.Counters(); cnt.FDsClosed != 6 || cnt.FDsSent != 0 {
		t.Fatalf("counters %+v: want every fd closed (6), none sent", cnt)
	}
}
