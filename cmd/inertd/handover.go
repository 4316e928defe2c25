package main

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// Handing fds to the VM (PROTOCOL.md, "Handing fds to the VM"): the
// daemon is the driver's Courier. A handover is queued when the driver
// makes it and sent at the end of the loop turn, on the side channel, as
// {fd, Pid, Ref} with the fd in SCM_RIGHTS; inertd's copy is closed once
// it is sent. When the side channel is full the queue waits, in order,
// for it to be writable: the loop never blocks on the VM.

// handoverRetry is how often, in milliseconds, a queue that cannot watch
// the side channel (no fd left for the watch) tries again.
const handoverRetry = 10

// handover is one message on its way to the VM: one fd, or two for a
// pty.
type handover struct {
	msg            []byte // term_to_binary({fd, Pid, Ref}) or {fd, Pid, Ref, Info}
	pidLen, refLen int    // Pid is msg[handoverHead:][:pidLen], Ref follows
	fds            [2]int
	nfds           int
}

// handoverHead is the length of the version byte, tuple header and atom
// fd that start every handover message (a tuple of 3 or 4: the same).
var handoverHead = len(protocol.AppendHandover(nil, nil, nil))

func (h *handover) pid() []byte { return h.msg[handoverHead : handoverHead+h.pidLen] }
func (h *handover) ref() []byte {
	return h.msg[handoverHead+h.pidLen : handoverHead+h.pidLen+h.refLen]
}

// fdList is the fds the message carries.
func (h *handover) fdList() []int { return h.fds[:h.nfds] }

// handovers is the queue, and the write watch on the side channel while
// the queue waits: a duplicate of its fd registered for one-shot write
// readiness (the side channel's own fd is watched for reading,
// level-triggered).
type handovers struct {
	q       []handover
	watch   int  // the duplicate; 0 until first needed (never fd 0: stdin)
	armed   bool // watch is registered for write readiness
	noWatch bool // the duplicate could not be made: retry on a timer
}

// Hand queues fds for the VM; see driver.Courier. The driver hands one
// fd, or two (a pty).
func (d *daemon) Hand(pid, ref []byte, fds []int, info *protocol.HandInfo) {
	h := handover{
		msg:    protocol.AppendHandoverInfo(nil, pid, ref, info),
		pidLen: len(pid),
		refLen: len(ref),
	}
	h.nfds = copy(h.fds[:], fds)
	for _, fd := range fds[h.nfds:] {
		unix.Close(fd) // not reached: the driver hands one fd or two
	}
	d.handq.q = append(d.handq.q, h)
}

// sendHandovers sends what the queue holds, in order, until the side
// channel is full.
func (d *daemon) sendHandovers() {
	hq := &d.handq
	for len(hq.q) > 0 {
		h := &hq.q[0]
		var err error = unix.ENOTCONN
		if d.conn != nil {
			err = d.conn.Send(h.msg, h.fdList())
		}
		if errors.Is(err, unix.EAGAIN) {
			d.awaitWritable()
			return
		}
		for _, fd := range h.fdList() {
			if cerr := unix.Close(fd); cerr != nil {
				d.log.Warningf("close handed fd %d: %v", fd, cerr)
			}
		}
		if err != nil {
			d.log.Warningf("handover of fds %v: %v", h.fdList(), err)
			d.drv.Undelivered(h.pid(), h.ref(), h.nfds, err)
		}
		hq.q[0] = handover{}
		hq.q = hq.q[1:]
	}
	hq.q = hq.q[:0:0]
	hq.noWatch = false
	d.dropWatch()
}

// dropWatch closes the write watch once the queue is empty: it is made
// again when the side channel next fills up.
func (d *daemon) dropWatch() {
	hq := &d.handq
	if hq.watch == 0 {
		return
	}
	if err := d.ps.Del(hq.watch); err != nil {
		d.log.Warningf("side channel write watch: %v", err)
	}
	unix.Close(hq.watch)
	hq.watch, hq.armed = 0, false
}

// awaitWritable arms the write watch on the side channel, making it on
// first use.
func (d *daemon) awaitWritable() {
	hq := &d.handq
	if hq.armed {
		return
	}
	if hq.watch == 0 {
		fd, err := unix.FcntlInt(uintptr(d.conn.FD()), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			if !hq.noWatch {
				d.log.Warningf("side channel write watch: %v; retrying every %d ms", err, handoverRetry)
			}
			hq.noWatch = true
			return
		}
		if err := d.ps.Add(fd, pollset.Write); err != nil {
			unix.Close(fd)
			d.log.Warningf("side channel write watch: %v", err)
			hq.noWatch = true
			return
		}
		hq.watch, hq.armed, hq.noWatch = fd, true, false
		return
	}
	if err := d.ps.Mod(hq.watch, pollset.Write); err != nil {
		d.log.Warningf("side channel write watch: %v", err)
		hq.noWatch = true
		return
	}
	hq.armed, hq.noWatch = true, false
}

// isWatch reports whether fd is the write watch.
func (hq *handovers) isWatch(fd int) bool { return hq.watch != 0 && fd == hq.watch }

// writable records that the one-shot watch fired.
func (hq *handovers) writable() { hq.armed = false }

// polling reports whether the queue waits without a watch: the loop then
// wakes up every handoverRetry ms to try again.
func (hq *handovers) polling() bool { return len(hq.q) > 0 && hq.noWatch }

// closeAll closes every fd still queued and the watch: inertd is exiting.
func (hq *handovers) closeAll() {
	for i := range hq.q {
		for _, fd := range hq.q[i].fdList() {
			unix.Close(fd)
		}
	}
	hq.q = nil
	if hq.watch != 0 {
		unix.Close(hq.watch)
		hq.watch = 0
	}
}
