package driver

import (
	"github.com/inert-go/inert/iohandle"
	"github.com/inert-go/inert/protocol"
)

// HandleIO lets the driver answer the io_* requests (PROTOCOL.md, "I/O
// handles") with handles whose fds k reads and writes. Until it is
// called they are answered enotsup.
func (d *Driver) HandleIO(k iohandle.Kernel) {
	d.io = iohandle.New(iohandle.Deps{Poller: d.ps, Kernel: k, Out: d.out, Log: d.log,
		Close: d.closeFD, Errno: errnoName})
}

// IOHandles is the number of open I/O handles.
func (d *Driver) IOHandles() int {
	if d.io == nil {
		return 0
	}
	return d.io.Len()
}

// ioOpen answers io_open: {reply, Pid, Ref, ok} once the fd is a handle,
// else an error (the fds closed).
func (d *Driver) ioOpen(req *protocol.Request, fds []int) {
	reason := ""
	switch {
	case d.io == nil:
		reason = "enotsup"
	case !fdInRange(req):
		reason = "ebadf"
	case len(fds) != 1:
		reason = "einval"
	}
	if reason != "" {
		d.closeAll(fds)
		d.fail(req, reason)
		return
	}
	if reason = d.io.Open(req.Pid, req.Ref, fds[0], req.IO); reason != "" {
		d.fail(req, reason)
		return
	}
	d.out.Reply(req.Pid, req.Ref, okAtom)
}

var okAtom = protocol.AppendAtom(nil, "ok")

// ioRequest hands io_credit, io_send and io_close to their handle; an
// unknown handle (ended already) is no error: its io_closed is on its
// way to the VM.
func (d *Driver) ioRequest(req *protocol.Request) {
	if d.io == nil {
		d.fail(req, "enotsup")
		return
	}
	switch req.Op {
	case protocol.OpIOCredit:
		d.io.Credit(req.Ref, req.IO.Credit)
	case protocol.OpIOSend:
		d.io.Send(req.Ref, req.Data)
	case protocol.OpIOClose:
		d.io.Close(req.Ref)
	}
}
