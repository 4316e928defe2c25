package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/driver"
	"github.com/inert-go/inert/internal/retry"
	"github.com/inert-go/inert/iohandle"
	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

const (
	stdin  = 0
	stdout = 1

	// maxRecvPerWake bounds the requests read from the side channel per
	// wake-up, so a flood cannot starve event delivery.
	maxRecvPerWake = 256
	// eventBatch is how many readiness reports one Wait can return.
	eventBatch = 1024
	// window is how many frames inertd may write beyond the last one the
	// VM acknowledged before it stops reading requests (PROTOCOL.md, "Flow
	// control"): a VM that cannot keep up bounds inertd and its own
	// mailbox instead of queueing without limit.
	window = 256
)

type config struct {
	vmPID         int
	acceptTimeout time.Duration
	verbose       bool          // -v: a debug line for every request
	spin          time.Duration // poll without blocking this long before sleeping
	poller        string        // -poller: one of pollers
	recheck       time.Duration // -recheck: interval of the armed fds' re-check (0: never)
}

// daemon is the single event loop: stdin, the side channel and every armed
// fd are in one pollset, handled by one goroutine.
type daemon struct {
	cfg  config
	log  *logger // every line inertd logs (log.go)
	ps   pollset.Poller
	ln   *protocol.Listener // until the VM has connected
	conn *protocol.Conn     // after
	drv  *driver.Driver
	out  protocol.Batch
	in   protocol.FrameReader

	written uint64 // frames written to stdout
	acked   uint64 // frames the VM has handled, from its last ack
	paused  bool   // the side channel is out of the pollset: window full

	handq handovers // fds for the VM, waiting to be sent (handover.go)

	vmf       *vmFiles  // the re-check of armed fds (kernel_linux.go); nil: off
	nextCheck time.Time // when the next re-check is due; zero while nothing is armed
	own       plumbing  // inertd's own pipes and side channel, never held (kernel.go)
	vmGone    int       // a pidfd of the VM, readable once it has exited; -1: none

	refusedOwn  driver.RateLimit // log lines of refused plumbing fds
	refusedPeer driver.RateLimit // log lines of refused side channel peers

	req    protocol.Request
	buf    []byte
	fds    [protocol.MaxFDsPerMessage]int
	events []pollset.Event
}

// errStdinClosed, errSideClosed and errVMGone end the loop normally;
// errStdinBroken ends it with status 4.
var (
	errStdinClosed = errors.New("stdin closed")
	errSideClosed  = errors.New("side channel closed by the VM")
	errVMGone      = errors.New("the VM has exited")
	errStdinBroken = errors.New("control stream on stdin is broken")
	errStdoutGone  = errors.New("stdout closed by the VM")
)

func run(cfg config, logger *logger) int {
	d := &daemon{
		cfg:    cfg,
		log:    logger,
		vmGone: -1,
		buf:    make([]byte, protocol.MaxFrame+1),
		events: make([]pollset.Event, eventBatch),
	}
	err := d.serve()
	// An orderly stop closes stdin, stdout and then the side channel,
	// and a VM that exits closes everything: inertd may notice any of
	// them first, or a write may fail first. That is a normal exit,
	// with nothing logged.
	leaving := (errors.Is(err, errSideClosed) || errors.Is(err, errStdoutGone)) && d.vmLeaving()
	if d.drv != nil {
		d.drv.CloseAll()
	}
	d.handq.closeAll()
	if d.conn != nil {
		d.conn.Close()
	}
	if d.ln != nil {
		d.ln.Close()
	}
	if d.ps != nil {
		d.ps.Close()
	}
	if d.vmGone >= 0 {
		unix.Close(d.vmGone)
	}
	code := d.exitStatus(err, leaving)
	d.lastWords(err, code == 0)
	return code
}

// exitStatus returns the exit status for the error that ended serve, and
// logs why inertd exits unless it is an ordinary exit (status 0).
func (d *daemon) exitStatus(err error, leaving bool) int {
	switch {
	case errors.Is(err, errStdinClosed), errors.Is(err, errVMGone), leaving:
		return 0
	case errors.Is(err, errSideClosed):
		d.log.Errorf("%v", err)
		return 2
	case errors.Is(err, errAcceptTimeout):
		d.log.Errorf("%v", err)
		return 3
	case errors.Is(err, errStdinBroken):
		// The VM writes only {ack, N} frames: whatever came instead,
		// the frames after it cannot be trusted to line up. The service
		// restarts inertd and re-arms.
		d.log.Errorf("%v: exiting", err)
		return 4
	default:
		d.log.Errorf("fatal: %v", err)
		return 1
	}
}

// lastWords sends the log lines still waiting (why inertd exits, among
// them) in a last frame while stdout takes frames; otherwise, or if that
// write fails, they go to stderr, unless the VM is going away (quiet):
// then nobody reads them.
func (d *daemon) lastWords(err error, quiet bool) {
	if d.log.pending() && !errors.Is(err, errStdoutGone) {
		if werr := d.lastFrame(); werr != nil {
			d.log.Warningf("last frame: %v", werr)
		}
	}
	d.log.down(quiet)
}

// lastFrameWait bounds the wait for stdout to take the last frame: a VM
// that does not read must not keep inertd from exiting.
const lastFrameWait = time.Second

// lastFrame writes the log lines waiting as one frame, with no other
// entry (what the turn serve left unfinished had produced is dropped: the
// daemon is gone), waiting at most lastFrameWait for stdout.
func (d *daemon) lastFrame() error {
	d.out.Reset()
	d.log.addTo(&d.out)
	frame := d.out.Bytes()
	if err := unix.SetNonblock(stdout, true); err != nil {
		return os.NewSyscallError("fcntl stdout", err)
	}
	deadline := time.Now().Add(lastFrameWait)
	for len(frame) > 0 {
		n, err := unix.Write(stdout, frame)
		switch {
		case err == nil:
			frame = frame[n:]
		case retry.Interrupted(err):
		case errors.Is(err, unix.EAGAIN):
			left := time.Until(deadline)
			if left <= 0 {
				return errors.New("stdout not writable within 1 s")
			}
			waitFD(stdout, unix.POLLOUT, int(left/time.Millisecond)+1)
		default:
			return os.NewSyscallError("write stdout", err)
		}
	}
	d.log.written()
	d.out.Reset()
	return nil
}

var errAcceptTimeout = errors.New("the VM did not connect to the side channel in time")

// serve sets the daemon up, announces it and runs the loop until it ends.
func (d *daemon) serve() error {
	if err := d.setUp(); err != nil {
		return err
	}
	d.out.Ready(driver.Version, os.Getpid(), d.ln.Path())
	if err := d.flush(); err != nil {
		return err
	}
	// The protocol is up: what set-up logged goes in the next frame, at
	// once, and so does every line from now on.
	d.log.up()
	if err := d.flush(); err != nil {
		return err
	}
	return d.loop(time.Now().Add(d.cfg.acceptTimeout))
}

// setUp drops privileges, opens the pollset, the driver and the side
// channel's listener, and watches stdin, the listener and the VM. What it
// made is closed by run whatever it returns.
func (d *daemon) setUp() error {
	kept, err := d.lowerPrivileges()
	if err != nil {
		return err
	}
	if d.cfg.recheck > 0 {
		d.vmf = newVMFiles(d.cfg.vmPID, kept.ptrace, d.log)
	}
	if err := presizeFDTable(); err != nil {
		d.log.Warningf("presize fd table: %v", err)
	}
	if err := d.openDriver(); err != nil {
		return err
	}
	if d.ln, err = protocol.ListenTemp(); err != nil {
		return err
	}
	if d.own, err = newPlumbing(); err != nil {
		return err
	}
	return d.watchChannels()
}

// lowerPrivileges gives up every capability open and the re-check do not
// need (caps_*.go) and logs what it kept (debug: routine when the VM
// runs as root, as in many containers).
func (d *daemon) lowerPrivileges() (privileges, error) {
	kept, warn, err := dropPrivileges()
	if err != nil {
		return kept, err
	}
	if warn != "" {
		d.log.Warningf("%s", warn)
	}
	if kept.bindService {
		d.log.Debugf("keeping CAP_NET_BIND_SERVICE (permitted, not effective) for open")
	}
	if kept.ptrace {
		d.log.Debugf("keeping CAP_SYS_PTRACE (permitted, not effective) for the re-check of armed fds")
	}
	if kept.netAdmin {
		d.log.Debugf("keeping CAP_NET_ADMIN (permitted, not effective) for the open of a TUN or TAP interface")
	}
	return kept, nil
}

// openDriver opens the pollset -poller names and the driver on it.
func (d *daemon) openDriver() error {
	ps, files, name, note, err := openPoller(d.cfg.poller)
	if err != nil {
		return err
	}
	// Which poller: debug, routine; why not io_uring when -poller auto
	// fell back: info, it costs speed.
	if note == "" {
		d.log.Debugf("using %s", name)
	} else {
		d.log.Infof("%s", note)
	}
	d.ps = ps
	d.drv = driver.New(d.ps, files, &d.out, d.log)
	d.drv.SetPollerName(name)
	d.drv.PassFDs(osSockets{}, d)
	d.drv.HandleIO(iohandle.OS{})
	return nil
}

// watchChannels puts stdin (made non-blocking), the listener and a pidfd
// of the VM, where the kernel gives one, in the pollset.
func (d *daemon) watchChannels() error {
	if err := unix.SetNonblock(stdin, true); err != nil {
		return os.NewSyscallError("fcntl stdin", err)
	}
	if err := d.ps.Watch(stdin); err != nil {
		return err
	}
	if err := d.ps.Watch(d.ln.FD()); err != nil {
		return err
	}
	var note string
	var err error
	if d.vmGone, note, err = watchVM(d.cfg.vmPID); err != nil {
		return err
	}
	if note != "" {
		d.log.Infof("%s", note)
	}
	if d.vmGone >= 0 {
		return d.ps.Watch(d.vmGone)
	}
	return nil
}

// loop is the event loop: one wait, the requests and events it brought,
// one frame, the release of what the frame delivered; until the VM goes,
// or it has not connected the side channel by deadline.
func (d *daemon) loop(deadline time.Time) error {
	for {
		msec := -1
		if d.conn == nil {
			left := time.Until(deadline)
			if left <= 0 {
				return errAcceptTimeout
			}
			msec = int(left/time.Millisecond) + 1
		}
		if d.handq.polling() {
			msec = handoverRetry
		}
		msec = d.recheckWait(msec)
		n, err := d.wait(msec)
		if err != nil {
			return err
		}
		d.vetReady(d.events[:n])
		for _, ev := range d.events[:n] {
			if err := d.dispatch(ev); err != nil {
				return err
			}
		}
		d.recheckIfDue()
		d.sendHandovers()
		if err := d.flush(); err != nil {
			return err
		}
		// The frame is out: now the release of the interests it
		// delivered (epoll: DEL and close syscalls, while the VM works;
		// io_uring: closes queued for the next wait).
		d.drv.Reap()
		// What the release logged (a close that failed) must not wait
		// for the next wake-up, which may be long in coming.
		if d.log.pending() {
			if err := d.flush(); err != nil {
				return err
			}
		}
	}
}

// wait waits for events. With a spin time set, it first polls without
// blocking for that long, so that a burst finds the loop running instead
// of asleep (a wake-up costs tens of µs on a virtual machine).
func (d *daemon) wait(msec int) (int, error) {
	if d.cfg.spin > 0 && msec != 0 {
		until := time.Now().Add(d.cfg.spin)
		for time.Now().Before(until) {
			if n, err := d.ps.Wait(d.events, 0); n > 0 || err != nil {
				return n, err
			}
			// Let a thread of the VM have this CPU if it is waiting for
			// one: right after a frame, the VM's threads need both.
			yieldCPU()
		}
	}
	return d.ps.Wait(d.events, msec)
}

func (d *daemon) dispatch(ev pollset.Event) error {
	fd := int(ev.FD)
	switch {
	case fd == stdin:
		return d.readStdin()
	case fd == d.vmGone:
		return errVMGone
	case d.conn != nil && fd == d.conn.FD():
		return d.readSide()
	case d.ln != nil && fd == d.ln.FD():
		d.accept()
		return nil
	case d.handq.isWatch(fd):
		d.handq.writable() // sent at the end of this turn
		return nil
	default:
		d.drv.Ready(ev)
		return nil
	}
}

// accept takes the VM's connection and then stops listening for good:
// no second peer can ever connect.
func (d *daemon) accept() {
	c, err := d.ln.Accept(d.cfg.vmPID)
	var peer *protocol.PeerError
	switch {
	case errors.Is(err, unix.EAGAIN):
		return
	case errors.As(err, &peer):
		d.refusedPeer.Warningf(d.log, "refused side channel peer: %v", err)
		return
	case err != nil:
		d.log.Warningf("accept: %v", err)
		return
	}
	if err := d.ps.Watch(c.FD()); err != nil {
		d.log.Warningf("watch side channel: %v", err)
		c.Close()
		return
	}
	if err := d.ps.Del(d.ln.FD()); err != nil {
		d.log.Warningf("del listener: %v", err)
	}
	if err := d.ln.Close(); err != nil {
		d.log.Warningf("close listener: %v", err)
	}
	d.ln, d.conn = nil, c
}

// readSide handles the requests waiting on the side channel.
func (d *daemon) readSide() error {
	for i := 0; i < maxRecvPerWake; i++ {
		n, nfds, err := d.conn.Recv(d.buf, d.fds[:])
		switch {
		case err == nil:
			d.handle(d.buf[:n], d.fds[:nfds])
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, io.EOF):
			return errSideClosed
		case errors.Is(err, protocol.ErrMsgTruncated):
			d.drv.Drop("oversized side channel message")
		case errors.Is(err, protocol.ErrTooManyFDs),
			errors.Is(err, protocol.ErrUnexpectedControl):
			d.drv.Broken(&d.req, d.buf[:n], err, fdsExhausted)
		default:
			d.log.Warningf("side channel: %v", err)
			return nil
		}
	}
	return nil
}

// handle decodes and answers one request.
func (d *daemon) handle(msg []byte, fds []int) {
	if err := protocol.ParseRequest(msg, &d.req); err != nil {
		d.drv.Reject(&d.req, "einval", fds)
		return
	}
	d.handleParsed(fds)
}

// handleParsed answers the request in d.req. An fdset or poll of
// inertd's own plumbing is refused (kernel.go).
func (d *daemon) handleParsed(fds []int) {
	if (d.req.Op == protocol.OpFdset || d.req.Op == protocol.OpPoll) && len(fds) == 1 && d.own.isOwn(fds[0]) {
		d.refusedOwn.Warningf(d.log, "refused to arm fd %d: it is inertd's own stdin, stdout or side channel", d.req.FD)
		d.drv.Reject(&d.req, "einval", fds)
		return
	}
	if d.cfg.verbose { // -v; and spares the hot path the arguments' boxing
		d.log.Debugf("request %v fd %d mode %v with %d fds", d.req.Op, d.req.FD, d.req.Mode, len(fds))
	}
	if d.req.Op == protocol.OpAck && len(fds) == 0 {
		d.ack(uint64(d.req.Acked))
		return
	}
	d.drv.Handle(&d.req, fds)
}

// readStdin handles frames on stdin. EOF means the VM closed the port.
// A frame that is not a request (the VM sends only {ack, N}), or one
// larger than MaxFrame, means the stream is broken: errStdinBroken.
func (d *daemon) readStdin() error {
	for {
		_, err := d.in.Fill(fdReader(stdin))
		for {
			frame, ok, ferr := d.in.Next()
			if ferr != nil {
				return fmt.Errorf("%w: %v", errStdinBroken, ferr)
			}
			if !ok {
				break
			}
			if perr := protocol.ParseRequest(frame, &d.req); perr != nil {
				return fmt.Errorf("%w: a %d-byte frame that is not a request: %v", errStdinBroken, len(frame), perr)
			}
			d.handleParsed(nil)
		}
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, io.EOF):
			return errStdinClosed
		default:
			return os.NewSyscallError("read stdin", err)
		}
	}
}

// fdReader reads a raw non-blocking fd: EAGAIN is returned as is and a
// zero-byte read is io.EOF.
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	var n int
	err := retry.Retry(func() (err error) {
		n, err = unix.Read(int(r), p)
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// flush writes the entries of this turn as one frame in one write.
func (d *daemon) flush() error {
	d.log.addTo(&d.out)
	if d.out.Len() == 0 {
		return nil
	}
	frame := d.out.Bytes()
	for len(frame) > 0 {
		// stdout is non-blocking only if someone made it so: then wait.
		var n int
		err := retry.BlockingFD(stdout, unix.POLLOUT, func() (err error) {
			n, err = unix.Write(stdout, frame)
			return err
		})
		var perr *os.SyscallError
		switch {
		case err == nil:
			frame = frame[n:]
		case errors.Is(err, unix.EPIPE):
			return errStdoutGone
		case errors.As(err, &perr):
			return fmt.Errorf("stdout: %w", err) // the wait for POLLOUT failed
		default:
			return os.NewSyscallError("write stdout", err)
		}
	}
	d.out.Reset()
	d.log.written()
	d.drv.FrameWritten()
	d.written++
	if d.conn != nil && !d.paused && d.written-d.acked >= window {
		// Stop reading requests until the VM catches up.
		if err := d.ps.Del(d.conn.FD()); err != nil {
			return err
		}
		d.paused = true
	}
	return nil
}

// ack records how many frames the VM has handled and resumes reading
// requests once the window has room again.
func (d *daemon) ack(n uint64) {
	if n <= d.acked || n > d.written {
		return // stale, or a count the VM cannot have reached
	}
	d.acked = n
	if d.paused && d.written-d.acked < window {
		if err := d.ps.Watch(d.conn.FD()); err != nil {
			d.log.Warningf("resume side channel: %v", err)
			return
		}
		d.paused = false
	}
}

// vmLeaving reports whether the VM is going away: it has closed inertd's
// stdin (the frames still unread on it, acks, do not matter any more),
// or it has exited. The VM closes the ends of a port's pipes one after
// the other, so stdin is given a moment (leaveGrace) to reach EOF.
func (d *daemon) vmLeaving() bool {
	deadline := time.Now().Add(leaveGrace)
	for {
		if stdinDrainedToEOF(d.buf) || (d.vmGone >= 0 && readable(d.vmGone, 0)) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		readable(stdin, int(left/time.Millisecond)+1)
	}
}

// leaveGrace is how long an inertd whose stdout or side channel the VM
// closed waits for its stdin to be closed too before it calls it a fault.
const leaveGrace = 200 * time.Millisecond

// stdinDrainedToEOF reads what is on stdin, and reports whether it ended
// in EOF.
func stdinDrainedToEOF(buf []byte) bool {
	for {
		_, err := fdReader(stdin).Read(buf)
		switch {
		case errors.Is(err, io.EOF):
			return true
		case err != nil:
			return false
		}
	}
}

// readable waits up to msec milliseconds for fd to be readable (a
// pidfd: its process has exited; a pipe: data or EOF).
func readable(fd, msec int) bool { return waitFD(fd, unix.POLLIN, msec) }

// waitFD waits up to msec milliseconds for fd to be ready for events.
func waitFD(fd int, events int16, msec int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := unix.Poll(pfd, msec)
	return err == nil && n == 1
}

// recheckWait bounds msec by the time left to the next re-check of the
// armed fds, and schedules one when something is armed. With nothing
// armed there is no re-check and so no wake-up.
func (d *daemon) recheckWait(msec int) int {
	if d.vmf == nil || !d.vmf.usable() || d.drv.Armed() == 0 {
		d.nextCheck = time.Time{}
		return msec
	}
	now := time.Now()
	if d.nextCheck.IsZero() {
		d.nextCheck = now.Add(d.cfg.recheck)
	}
	left := max(0, int((d.nextCheck.Sub(now)+time.Millisecond-1)/time.Millisecond))
	if msec < 0 || left < msec {
		return left
	}
	return msec
}

// vetReady drops, before their events are reported, the interests among
// evs whose fd the VM has closed since it armed them: their old file may
// be ready, but the VM's number names it no more.
func (d *daemon) vetReady(evs []pollset.Event) {
	if d.vmf == nil || !d.vmf.usable() || !d.drv.HasInterest(evs) {
		return
	}
	d.vmf.pass(func() { d.drv.RecheckReady(d.vmf, evs) })
}

// recheckIfDue runs the re-check when it is due: every interest whose fd
// the VM has closed (or whose number now names another file) is dropped
// and its caller told (driver.Recheck).
func (d *daemon) recheckIfDue() {
	if d.nextCheck.IsZero() || time.Now().Before(d.nextCheck) {
		return
	}
	d.vmf.pass(func() { d.drv.Recheck(d.vmf) })
	d.nextCheck = time.Now().Add(d.cfg.recheck)
}
