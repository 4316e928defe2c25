package driver

import (
	"math"

	"github.com/inert-go/inert/protocol"
)

// Handing fds to the VM (PROTOCOL.md, "Handing fds to the VM"): dup sends
// back the fd that came with the request, open sends a socket it makes.
// Either way the fd leaves the driver through the Courier, which sends it
// on the side channel and closes inertd's copy.

// Sockets makes the sockets of open requests: the kernel side of open,
// kept out of the driver as Files is.
type Sockets interface {
	// Open makes the socket spec describes (socket, setsockopt, bind and,
	// for tcp, listen) and returns it close-on-exec. On error nothing is
	// left open.
	Open(spec *protocol.OpenSpec) (fd int, err error)
}

// Courier hands fds to the VM.
type Courier interface {
	// Hand owns fd from the call on: it sends {fd, Pid, Ref} with fd to
	// the VM and closes inertd's copy, or, when the handover cannot be
	// sent, closes fd and calls Driver.Undelivered. pid and ref alias
	// the request being handled: a Courier that keeps them copies them.
	Hand(pid, ref []byte, fd int)
}

// PassFDs lets the driver answer dup and open, with the sockets s makes
// and through c. Until it is called both are answered enotsup.
func (d *Driver) PassFDs(s Sockets, c Courier) {
	d.sockets, d.courier = s, c
}

// Undelivered answers a handover the Courier could not send, and counts
// its fd as closed instead of sent.
func (d *Driver) Undelivered(pid, ref []byte, err error) {
	d.cnt.FDsSent--
	d.cnt.FDsClosed++
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
	d.hand(req, fds[0])
}

// open makes the socket of req.Spec and hands it to the VM.
func (d *Driver) open(req *protocol.Request) {
	switch {
	case !req.SpecOK:
		d.fail(req, "einval")
		return
	case d.courier == nil || d.sockets == nil:
		d.fail(req, "enotsup")
		return
	}
	fd, err := d.sockets.Open(&req.Spec)
	if err != nil {
		d.fail(req, errnoName(err))
		return
	}
	d.cnt.FDsOpened++
	d.hand(req, fd)
}

func (d *Driver) hand(req *protocol.Request, fd int) {
	d.cnt.FDsSent++
	d.courier.Hand(req.Pid, req.Ref, fd)
}
