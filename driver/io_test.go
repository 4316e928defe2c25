package driver

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/iohandle"
	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// fakeIO is a Kernel whose fds have nothing to read and take every
// write.
type fakeIO struct{ written int }

func (k *fakeIO) Prepare(fd int) (iohandle.Access, error) {
	return iohandle.Access{Read: true, Write: true, Socket: true}, nil
}
func (k *fakeIO) Read(fd int, p []byte, acc iohandle.Access) (int, error) { return 0, unix.EAGAIN }
func (k *fakeIO) Write(fd int, p []byte, acc iohandle.Access) (int, error) {
	k.written += len(p)
	return len(p), nil
}

func (r *rig) ioOpen(pid, ref string, vmfd int64, typ protocol.IOType, file uint64) {
	q := &protocol.Request{Op: protocol.OpIOOpen, Pid: []byte(pid), Ref: []byte(ref), FD: vmfd,
		FDValid: vmfd >= 0, IO: protocol.IOSpec{Type: typ, ReadSize: 100, SendQueue: 1000}}
	var fds []int
	if file != 0 {
		fds = []int{r.files.dup(file)}
		r.recvd++
	}
	r.d.Handle(q, fds)
}

// io_open is answered enotsup before HandleIO; then ebadf for an FD out
// of range, einval for a bad type or no fd, {reply, ok} once open; the
// handle's fd is armed only once it has credit, its sends are reported,
// and the death of its owner releases it with no entry. Every fd is
// closed in the end.
func TestIORequestsReachTheirHandle(t *testing.T) {
	r := newRig(t)
	r.ioOpen("p", "r0", 7, protocol.IOStream, 1)
	k := &fakeIO{}
	r.d.HandleIO(k)
	r.ioOpen("p", "r1", -1, protocol.IOStream, 1)
	r.ioOpen("p", "r2", 7, protocol.IOInvalid, 1)
	r.ioOpen("p", "r3", 7, protocol.IOStream, 0)
	r.ioOpen("p", "h", 7, protocol.IOStream, 1)
	r.expect("error p r0 enotsup", "error p r1 ebadf", "error p r2 einval", "error p r3 einval", "reply p h")
	if r.d.IOHandles() != 1 || len(r.ps.armed) != 0 {
		t.Fatalf("handles %d, armed %v: nothing is armed before credit", r.d.IOHandles(), r.ps.armed)
	}
	r.d.Handle(&protocol.Request{Op: protocol.OpIOCredit, Pid: []byte("p"), Ref: []byte("h"), IO: protocol.IOSpec{Credit: 50}}, nil)
	var fd int
	for f, ev := range r.ps.armed {
		if ev != pollset.Read {
			t.Fatalf("armed %v, want read", ev)
		}
		fd = f
	}
	r.d.Ready(pollset.Event{FD: int32(fd), Events: pollset.Read}) // EAGAIN: nothing read
	r.d.Handle(&protocol.Request{Op: protocol.OpIOSend, Pid: []byte("p"), Ref: []byte("h"), Data: []byte("abc")}, nil)
	r.d.Handle(&protocol.Request{Op: protocol.OpIOSend, Pid: []byte("p"), Ref: []byte("gone"), Data: []byte("abc")}, nil)
	r.d.Handle(&protocol.Request{Op: protocol.OpDown, Pid: []byte("p")}, nil)
	r.d.Handle(&protocol.Request{Op: protocol.OpIOClose, Pid: []byte("p"), Ref: []byte("h")}, nil)
	r.expect("io_sent p h 3")
	if r.d.IOHandles() != 0 || k.written != 3 || len(r.ps.armed) != 0 {
		t.Fatalf("handles %d, written %d, armed %v", r.d.IOHandles(), k.written, r.ps.armed)
	}
}
