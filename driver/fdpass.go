package driver

import (
	"math"

	"github.com/inert-go/inert/protocol"
)

// Handing fds to the VM (PROTOCOL.md, "Handing fds to the VM"): dup sends
// back the fd that came with the request, open sends a socket or device
// it makes. Either way the fds leave the driver through the Courier,
// which sends them on the side channel and closes inertd's copies.

// Sockets makes the sockets and devices of open requests and sets the
// line of a tty for termios: the kernel side of both, kept out of the
// driver as Files is.
type Sockets interface {
	// Open makes what spec describes (a socket: socket, setsockopt, bind
	// and, for tcp, listen; a TUN or TAP interface; a pty pair) and
	// returns its fds close-on-exec. On error nothing is left open.
	Open(spec *protocol.OpenSpec) (Opened, error)
	// SetTermios applies t to the tty fd and checks that the kernel took
	// it. fd stays open: the driver closes it.
	SetTermios(fd int, t *protocol.Termios) error
}

// Opened is what an open made: one fd, or for a pty two (the controlling
// side, then the peer), and what the handover says of them.
type Opened struct {
	FDs  []int
	Info protocol.HandInfo
}

// Courier hands fds to the VM.
type Courier interface {
	// Hand owns fds from the call on: it sends {fd, Pid, Ref} (or
	// {fd, Pid, Ref, Info} when info says anything) with fds to the VM
	// and closes inertd's copies, or, when the handover cannot be sent,
	// closes them and calls Driver.Undelivered. pid, ref and fds alias
	// the request being handled: a Courier that keeps them copies them.
	Hand(pid, ref []byte, fds []int, info *protocol.HandInfo)
}

// PassFDs lets the driver answer dup and open, with the sockets s makes
// and through c. Until it is called both are answered enotsup.
func (d *Driver) PassFDs(s Sockets, c Courier) {
	d.sockets, d.courier = s, c
}

// Undelivered answers a handover of n fds the Courier could not send, and
// counts its fds as closed instead of sent.
func (d *Driver) Undelivered(pid, ref []byte, n int, err error) {
	d.cnt.FDsSent -= uint64(n)
	d.cnt.FDsClosed += uint64(n)
	d.cnt.Errors++
	d.out.Error(pid, ref, errnoName(err))
}

// dup hands the one fd that came with the request back to the VM: it is
// already inertd's own duplicate, so the VM gets a new fd number for the
// same open file.
func (d *Driver) dup(req *protocol.Request, fds []int) {
	reason := ""
	switch {
	case !req.FDValid || req.FD < 0 || req.FD > math.MaxInt32:
		reason = "ebadf"
	case len(fds) != 1:
		reason = "einval"
	case d.courier == nil:
		reason = "enotsup"
	}
	if reason != "" {
		d.closeAll(fds)
		d.fail(req, reason)
		return
	}
	d.hand(req, fds[:1], &protocol.HandInfo{})
}

// open makes the socket or device of req.Spec and hands it to the VM.
func (d *Driver) open(req *protocol.Request) {
	switch {
	case !req.SpecOK:
		d.fail(req, "einval")
		return
	case d.courier == nil || d.sockets == nil:
		d.fail(req, "enotsup")
		return
	}
	o, err := d.sockets.Open(&req.Spec)
	if err != nil {
		d.fail(req, errnoName(err))
		return
	}
	d.cnt.FDsOpened += uint64(len(o.FDs))
	d.hand(req, o.FDs, &o.Info)
}

// okTerm is the atom ok, the reply to a termios request that succeeded.
var okTerm = protocol.AppendAtom(nil, "ok")

// termios applies the settings of req to the one fd that came with it,
// a tty the VM holds, and closes inertd's copy: the settings stay with
// the open file.
func (d *Driver) termios(req *protocol.Request, fds []int) {
	reason := ""
	switch {
	case !req.FDValid || req.FD < 0 || req.FD > math.MaxInt32:
		reason = "ebadf"
	case len(fds) != 1 || !req.TermiosOK:
		reason = "einval"
	case d.sockets == nil:
		reason = "enotsup"
	default:
		if err := d.sockets.SetTermios(fds[0], &req.Termios); err != nil {
			reason = errnoName(err)
		}
	}
	d.closeAll(fds)
	if reason != "" {
		d.fail(req, reason)
		return
	}
	d.out.Reply(req.Pid, req.Ref, okTerm)
}

func (d *Driver) hand(req *protocol.Request, fds []int, info *protocol.HandInfo) {
	d.cnt.FDsSent += uint64(len(fds))
	d.courier.Hand(req.Pid, req.Ref, fds, info)
}
