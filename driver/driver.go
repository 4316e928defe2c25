// Package driver is the state machine of inertd, the successor of the
// original inert_drv: which process armed which fd for which directions,
// ownership (ebusy), one-shot delivery, the controlling process, and the
// cleanup when a caller dies.
//
// The driver does no I/O of its own. It is handed decoded requests and the
// fds that came with them, and readiness events; it talks to the kernel only
// through the Poller and Files it is given, and writes its answers as
// entries into a protocol.Batch. That keeps it unit-testable with fakes.
//
// Every fd the driver receives is either kept (as the duplicate behind an
// armed interest) or closed before Handle returns. A kept duplicate is
// removed from the poller and closed when its interest is cleared,
// cancelled, or its caller dies, and, when its interest is delivered, by
// the next Reap: the daemon calls Reap right after it has written the
// frame carrying the event, so the VM gets to work while inertd does the
// syscalls.
//
// It owns the interest table and the counters, and the answer policy of
// every request, the broken ones included (Broken), and it makes the errno
// atoms the VM sees (errnoName, the only place). It must not read or write
// a channel to the VM, decode bytes, or make a syscall other than through
// Poller, Files, Sockets and VMFiles.
package driver

import (
	"errors"
	"math"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/iohandle"
	"github.com/inert-go/inert/pollset"
	"github.com/inert-go/inert/protocol"
)

// Version is the protocol version announced in the ready and hello entries.
const Version = 2

// Poller is the part of pollset.Poller the driver arms user fds with.
type Poller interface {
	Add(fd int, ev pollset.Events) error
	Mod(fd int, ev pollset.Events) error
	Del(fd int) error
}

// FileID identifies an open file independently of the fd number.
type FileID struct{ Dev, Ino uint64 }

// Files is the fd housekeeping the driver needs.
type Files interface {
	// Identity returns what file fd refers to (fstat's st_dev, st_ino).
	Identity(fd int) (FileID, error)
	// Close closes fd.
	Close(fd int) error
}

// Flusher is implemented by Files whose Close only queues the close (the
// io_uring poller): Flush carries out what is queued.
type Flusher interface {
	Flush() error
}

// Out receives the driver's answers, one method per entry of PROTOCOL.md.
// *protocol.Batch implements it.
type Out interface {
	Hello(owner []byte, version int)
	Event(dir protocol.Mode, pid []byte, fd int64, ref []byte)
	Failed(pid, ref []byte, fd int64, reason string)
	FailedBusy(pid, ref []byte, fd int64, owner []byte)
	Polled(pid, ref []byte, fd int64, dir protocol.Mode)
	Cleared(pid, ref []byte, fd int64, left protocol.Mode, iref []byte)
	Cancelled(ref []byte)
	Closed(pid, ref []byte, fd int64)
	Owner(pid, ref, newOwner []byte)
	Error(pid, ref []byte, reason string)
	Busy(pid, ref, owner []byte)
	Reply(pid, ref, term []byte)
	iohandle.Out // io_data, io_sent, io_closed
}

// Logger receives the driver's diagnostics: each is a warning, something
// that went wrong and that the driver carried on from (in inertd, a log
// entry for the VM's logger).
type Logger interface {
	Warningf(format string, args ...any)
}

// Counters are the daemon counters reported by the info request.
type Counters struct {
	Requests    uint64 // requests handled
	Events      uint64 // event entries emitted (inert_read, inert_write, polled)
	Errors      uint64 // error and failed entries emitted
	FDsReceived uint64 // fds received with requests
	FDsClosed   uint64 // fds inertd closed (a delivered interest's at Reap)
	Dropped     uint64 // requests that could not be answered (undecodable)
	Frames      uint64 // frames written to the VM
	FDsOpened   uint64 // fds made by open requests (sockets, devices: two for a pty)
	FDsSent     uint64 // fds handed to the VM (dup, open)
	VMClosed    uint64 // interests dropped because the VM closed their fd (Recheck)
}

// caller is one Erlang process that holds interests.
type caller struct {
	pid []byte // raw ETF pid, owned copy
	n   int    // interests held
}

// interest is one armed fd.
type interest struct {
	vmfd  int64         // the fd number in the VM: the key the VM uses
	fd    int           // inertd's duplicate, registered in the poller
	mode  protocol.Mode // directions still armed
	poll  bool          // a poll: the first event ends it, answered with ref
	ref   []byte        // Ref of the request that armed it last (raw ETF), reused across lives
	owner *caller
}

// Driver is the state of one inertd. It is not safe for concurrent use: the
// daemon runs it from its single event loop.
type Driver struct {
	ps    Poller
	files Files
	log   Logger
	out   Out

	owner   []byte              // controlling process (raw ETF pid)
	byVM    map[int64]*interest // VM fd number -> interest
	byFD    map[int]*interest   // inertd's duplicate -> interest
	callers map[string]*caller  // raw pid -> caller with n > 0
	free    []*interest         // recycled interests
	reaping []*interest         // delivered, out of the maps: Del and Close at Reap
	cnt     Counters

	sockets Sockets         // open; nil until PassFDs
	courier Courier         // dup, open; nil until PassFDs
	io      *iohandle.Table // I/O handles; nil until HandleIO
	poller  string          // the kernel interface's name, for info
	dropLog RateLimit
}

// SetPollerName names the kernel interface in info answers ("epoll",
// "io_uring", "kqueue").
func (d *Driver) SetPollerName(name string) { d.poller = name }

// New returns a driver that arms fds in ps, manages them with files and
// writes its entries to out.
func New(ps Poller, files Files, out Out, log Logger) *Driver {
	return &Driver{
		poller:  "unknown",
		ps:      ps,
		files:   files,
		log:     log,
		out:     out,
		byVM:    make(map[int64]*interest),
		byFD:    make(map[int]*interest),
		callers: make(map[string]*caller),
	}
}

// Counters returns a copy of the counters.
func (d *Driver) Counters() Counters { return d.cnt }

// FrameWritten counts one frame written to the VM.
func (d *Driver) FrameWritten() { d.cnt.Frames++ }

// Armed is the number of armed interests (one per fd).
func (d *Driver) Armed() int { return len(d.byVM) }

// Reaping is the number of delivered interests whose duplicates wait for
// Reap.
func (d *Driver) Reaping() int { return len(d.reaping) }

// Reap removes from the poller and closes the duplicates of the interests
// delivered since the last Reap, in that order (see release). The daemon
// calls it right after it has written the frame of the loop turn, before
// it waits again: the interests left the driver's state when their events
// were produced, only the syscalls wait for the frame.
func (d *Driver) Reap() {
	for i, it := range d.reaping {
		d.disarm(it)
		d.free = append(d.free, it)
		d.reaping[i] = nil
	}
	d.reaping = d.reaping[:0]
}

// handleWithFDs answers the requests that come with fds (each owns the
// fds from then on) and reports whether req was one of them.
func (d *Driver) handleWithFDs(req *protocol.Request, fds []int) bool {
	switch req.Op {
	case protocol.OpFdset, protocol.OpPoll:
		d.arm(req, fds)
	case protocol.OpFdclr:
		d.fdclr(req, fds)
	case protocol.OpDup:
		d.dup(req, fds)
	case protocol.OpTermios:
		d.termios(req, fds)
	case protocol.OpIOOpen:
		d.ioOpen(req, fds)
	default:
		return false
	}
	return true
}

// Handle answers one request. fds are the descriptors that arrived with it;
// the driver owns them from now on.
func (d *Driver) Handle(req *protocol.Request, fds []int) {
	d.cnt.Requests++
	d.cnt.FDsReceived += uint64(len(fds))
	if d.handleWithFDs(req, fds) {
		return
	}
	// The remaining requests take no fds: close any that came along.
	if len(fds) > 0 {
		d.closeAll(fds)
		d.fail(req, "einval")
		return
	}
	switch req.Op {
	case protocol.OpHello:
		d.owner = append(d.owner[:0], req.Pid...)
		d.out.Hello(d.owner, Version)
	case protocol.OpCancel:
		if it := d.byVM[req.FD]; it != nil && it.poll && string(it.ref) == string(req.Ref) {
			d.release(it)
		}
		d.out.Cancelled(req.Ref)
	case protocol.OpDown:
		d.down(req.Pid)
	case protocol.OpControllingProcess:
		if string(req.Pid) != string(d.owner) {
			d.fail(req, "not_owner")
			return
		}
		d.owner = append(d.owner[:0], req.NewOwner...)
		d.out.Owner(req.Pid, req.Ref, req.NewOwner)
	case protocol.OpInfo:
		d.info(req)
	case protocol.OpOpen:
		d.open(req)
	case protocol.OpIOCredit, protocol.OpIOSend, protocol.OpIOClose:
		d.ioRequest(req)
	default:
		d.Drop("unknown request")
	}
}

// Reject answers a request that cannot be carried out (undecodable, or its
// fds did not arrive whole) with reason, when it can be addressed, and
// closes fds.
func (d *Driver) Reject(req *protocol.Request, reason string, fds []int) {
	d.cnt.Requests++
	d.cnt.FDsReceived += uint64(len(fds))
	d.closeAll(fds)
	d.fail(req, reason)
}

// Broken answers a request whose fds did not arrive whole: the side
// channel's Recv returned cause (protocol.ErrTooManyFDs: more fds than
// the buffer takes, or control data the kernel cut short;
// protocol.ErrUnexpectedControl) and has closed every fd the message
// brought. msg is the message's payload; req is scratch space for its
// decoding. atFDLimit reports whether inertd is at its fd limit (the usual
// reason the kernel cuts a one-fd message short); it is asked only for
// ErrTooManyFDs. The answers (PROTOCOL.md, Requests):
//
//   - a message that does not decode far enough to name Pid is dropped;
//   - an fdclr at the fd limit is carried out without its fd: it frees
//     descriptors, so it is never refused;
//   - anything else is answered with emfile at the fd limit and einval
//     otherwise (failed for an fdset whose FD is in range, error else).
func (d *Driver) Broken(req *protocol.Request, msg []byte, cause error, atFDLimit func() bool) {
	reason := "einval"
	if errors.Is(cause, protocol.ErrTooManyFDs) && atFDLimit() {
		reason = "emfile"
	}
	perr := protocol.ParseRequest(msg, req)
	switch {
	case perr != nil && req.Pid == nil:
		d.Drop(cause.Error())
	case perr == nil && reason == "emfile" && req.Op == protocol.OpFdclr:
		d.Handle(req, nil)
	default:
		d.Reject(req, reason, nil)
	}
}

// Drop counts a request that cannot be answered at all, and logs it (at
// most one line a second: a flood must not fill the log).
func (d *Driver) Drop(why string) {
	d.cnt.Dropped++
	d.dropLog.Warningf(d.log, "dropped request: %s", why)
}

// fail answers req when it can be addressed: {failed, Pid, Ref, FD,
// Reason} for an fdset whose FD is in range, {error, Pid, Ref, Reason}
// otherwise.
func (d *Driver) fail(req *protocol.Request, reason string) {
	if req.Pid == nil || req.Ref == nil {
		d.Drop(reason)
		return
	}
	d.cnt.Errors++
	if req.Op == protocol.OpFdset && fdInRange(req) {
		d.out.Failed(req.Pid, req.Ref, req.FD, reason)
		return
	}
	d.out.Error(req.Pid, req.Ref, reason)
}

// busy answers req, which owner's interest on req.FD stands in the way
// of: {failed, Pid, Ref, FD, {ebusy, Owner}} for an fdset, {error, Pid,
// Ref, {ebusy, Owner}} for a poll.
func (d *Driver) busy(req *protocol.Request, owner []byte) {
	d.cnt.Errors++
	if req.Op == protocol.OpFdset {
		d.out.FailedBusy(req.Pid, req.Ref, req.FD, owner)
		return
	}
	d.out.Busy(req.Pid, req.Ref, owner)
}

// fdInRange reports whether req.FD was read and is a possible fd number.
func fdInRange(req *protocol.Request) bool {
	return req.FDValid && req.FD >= 0 && req.FD <= math.MaxInt32
}

// checkFD validates the fd part of an fdset, poll or fdclr request and
// returns the single duplicate that came with it, closing every fd on
// failure. ok is false when the request was answered with an error.
func (d *Driver) checkFD(req *protocol.Request, fds []int) (fd int, ok bool) {
	reason := badFDOrMode(req)
	if reason == "" && len(fds) != 1 {
		// The VM sends exactly one: anything else is a broken client.
		reason = "einval"
	}
	if reason != "" {
		d.closeAll(fds)
		d.fail(req, reason)
		return -1, false
	}
	return fds[0], true
}

// badFDOrMode is the error atom for an fd number or mode out of range, or
// "" when both are good.
func badFDOrMode(req *protocol.Request) string {
	switch {
	case !fdInRange(req):
		return "ebadf"
	case !req.ModeOK || req.Mode == protocol.ModeNone:
		return "einval"
	}
	return ""
}

// arm handles fdset and poll. Success is silent: an fdset is answered by
// its events, a poll by its polled entry.
func (d *Driver) arm(req *protocol.Request, fds []int) {
	fd, ok := d.checkFD(req, fds)
	if !ok {
		return
	}
	isPoll := req.Op == protocol.OpPoll
	if it := d.byVM[req.FD]; it != nil {
		switch {
		case string(it.owner.pid) != string(req.Pid):
			if req.Dead == nil || string(it.owner.pid) != string(req.Dead) {
				d.closeFD(fd)
				d.busy(req, it.owner.pid)
				return
			}
			// The VM saw the owner die before inertd heard of it.
			d.release(it)
		case d.sameFile(it.fd, fd):
			// Re-arm of the same file by its owner: keep the duplicate
			// and its registration, change only what differs.
			d.closeFD(fd)
			if it.mode != req.Mode {
				if err := d.ps.Mod(it.fd, events(req.Mode)); err != nil {
					d.release(it)
					d.fail(req, errnoName(err))
					return
				}
				it.mode = req.Mode
			}
			it.poll = isPoll
			it.ref = append(it.ref[:0], req.Ref...)
			return
		default:
			// The VM closed the fd and its number now names another
			// file: the old registration is stale.
			d.release(it)
		}
	}
	if err := d.ps.Add(fd, events(req.Mode)); err != nil {
		d.closeFD(fd)
		if errors.Is(err, unix.EPERM) {
			// epoll refuses a file it cannot wait on (a regular file, a
			// directory, /dev/null): it is ready now and always, as
			// poll(2) and io_uring report it. Nothing stays armed.
			d.report(req.Op == protocol.OpPoll, req.Pid, req.Ref, req.FD, req.Mode)
			return
		}
		d.fail(req, errnoName(err))
		return
	}
	it := d.newInterest()
	it.vmfd, it.fd, it.mode, it.poll = req.FD, fd, req.Mode, isPoll
	it.ref = append(it.ref[:0], req.Ref...)
	it.owner = d.hold(req.Pid)
	d.byVM[it.vmfd] = it
	d.byFD[it.fd] = it
}

// report writes the entries of the directions that fired: one polled
// entry for a poll, else an event per direction.
func (d *Driver) report(poll bool, pid, ref []byte, vmfd int64, fired protocol.Mode) {
	d.cnt.Events++
	if poll {
		dir := protocol.ModeRead
		if fired&protocol.ModeRead == 0 {
			dir = protocol.ModeWrite
		}
		d.out.Polled(pid, ref, vmfd, dir)
		return
	}
	if fired&protocol.ModeRead != 0 {
		d.out.Event(protocol.ModeRead, pid, vmfd, ref)
	}
	if fired&protocol.ModeWrite != 0 {
		if fired == protocol.ModeRW {
			d.cnt.Events++
		}
		d.out.Event(protocol.ModeWrite, pid, vmfd, ref)
	}
}

// fdclr removes directions from an interest, whoever armed it. The fd
// that comes with it only proves the fd is open in the VM; an fdclr whose
// fd inertd could not receive (it is at its fd limit) is carried out all
// the same, since it is how a VM frees inertd's descriptors.
func (d *Driver) fdclr(req *protocol.Request, fds []int) {
	if len(fds) > 0 {
		fd, ok := d.checkFD(req, fds)
		if !ok {
			return
		}
		d.closeFD(fd)
	} else if reason := badFDOrMode(req); reason != "" {
		d.fail(req, reason)
		return
	}
	it := d.byVM[req.FD]
	if it == nil {
		d.out.Cleared(req.Pid, req.Ref, req.FD, protocol.ModeNone, nil)
		return
	}
	// The Batch copies iref before anything can reuse a released
	// interest's buffer.
	iref := it.ref
	left := it.mode &^ req.Mode
	switch {
	case left == it.mode:
	case left == protocol.ModeNone || it.poll:
		// A poll is one wait: clearing any direction of it ends it.
		left = protocol.ModeNone
		d.release(it)
	default:
		if err := d.ps.Mod(it.fd, events(left)); err != nil {
			d.log.Warningf("fdclr: re-arm fd %d: %v", it.vmfd, err)
			left = protocol.ModeNone
			d.release(it)
		} else {
			it.mode = left
		}
	}
	d.out.Cleared(req.Pid, req.Ref, req.FD, left, iref)
}

// Ready handles one readiness report from the poller. An interest it
// ends (a poll, or an fdset whose last direction fired) leaves the
// driver's state at once; its duplicate is removed and closed by Reap.
func (d *Driver) Ready(ev pollset.Event) {
	it := d.byFD[int(ev.FD)]
	if it == nil {
		if d.io != nil {
			d.io.Ready(ev)
		}
		return // a handle's, or released earlier in this batch
	}
	fired := it.mode & modeOf(ev.Events)
	if fired == protocol.ModeNone {
		// Nothing we asked for (kqueue reports filters separately):
		// re-arm what is still wanted.
		if err := d.ps.Mod(it.fd, events(it.mode)); err != nil {
			d.log.Warningf("re-arm fd %d: %v", it.vmfd, err)
			d.release(it)
		}
		return
	}
	d.report(it.poll, it.owner.pid, it.ref, it.vmfd, fired)
	if it.poll {
		d.retire(it)
		return
	}
	it.mode &^= fired
	if it.mode == protocol.ModeNone {
		d.retire(it)
		return
	}
	if err := d.ps.Mod(it.fd, events(it.mode)); err != nil {
		d.log.Warningf("re-arm fd %d: %v", it.vmfd, err)
		d.release(it)
	}
}

// down clears every interest of a dead caller.
func (d *Driver) down(pid []byte) {
	if d.io != nil {
		d.io.Down(pid)
	}
	c := d.callers[string(pid)]
	if c == nil {
		return
	}
	for _, it := range d.byVM {
		if it.owner == c {
			d.release(it)
		}
	}
}

// CloseAll releases every interest, and reaps the delivered ones: the
// daemon is exiting.
func (d *Driver) CloseAll() {
	if d.io != nil {
		d.io.CloseAll()
	}
	d.Reap()
	for _, it := range d.byVM {
		d.release(it)
	}
}

// release disarms an interest and closes inertd's duplicate, in that order:
// epoll keys registrations by open file description, so closing first would
// leave a registration behind while the VM still holds the file.
func (d *Driver) release(it *interest) {
	d.disarm(it)
	d.forget(it)
	d.free = append(d.free, it)
}

// retire is release for a delivered interest: it leaves the driver's state
// now, and its duplicate waits for Reap to be disarmed and closed. Until
// then the interest is not recycled.
func (d *Driver) retire(it *interest) {
	d.forget(it)
	d.reaping = append(d.reaping, it)
}

// disarm removes inertd's duplicate from the poller, then closes it.
func (d *Driver) disarm(it *interest) {
	if err := d.ps.Del(it.fd); err != nil {
		d.log.Warningf("del fd %d (vm fd %d): %v", it.fd, it.vmfd, err)
	}
	d.closeFD(it.fd)
}

// forget takes it out of the maps and its owner's count.
func (d *Driver) forget(it *interest) {
	delete(d.byVM, it.vmfd)
	delete(d.byFD, it.fd)
	if it.owner.n--; it.owner.n == 0 {
		delete(d.callers, string(it.owner.pid))
	}
	it.owner = nil
}

func (d *Driver) newInterest() *interest {
	if n := len(d.free); n > 0 {
		it := d.free[n-1]
		d.free = d.free[:n-1]
		return it
	}
	return &interest{}
}

// hold counts one more interest for pid.
func (d *Driver) hold(pid []byte) *caller {
	c := d.callers[string(pid)]
	if c == nil {
		c = &caller{pid: append([]byte(nil), pid...)}
		d.callers[string(c.pid)] = c
	}
	c.n++
	return c
}

// sameFile reports whether two of inertd's fds refer to the same file.
func (d *Driver) sameFile(a, b int) bool {
	ia, err := d.files.Identity(a)
	if err != nil {
		return false
	}
	ib, err := d.files.Identity(b)
	return err == nil && ia == ib
}

func (d *Driver) closeFD(fd int) {
	d.cnt.FDsClosed++
	if err := d.files.Close(fd); err != nil {
		d.log.Warningf("close fd %d: %v", fd, err)
	}
}

func (d *Driver) closeAll(fds []int) {
	for _, fd := range fds {
		d.closeFD(fd)
	}
}

func events(m protocol.Mode) pollset.Events {
	var ev pollset.Events
	if m&protocol.ModeRead != 0 {
		ev |= pollset.Read
	}
	if m&protocol.ModeWrite != 0 {
		ev |= pollset.Write
	}
	return ev
}

func modeOf(ev pollset.Events) protocol.Mode {
	var m protocol.Mode
	if ev&pollset.Read != 0 {
		m |= protocol.ModeRead
	}
	if ev&pollset.Write != 0 {
		m |= protocol.ModeWrite
	}
	return m
}

// errnoName turns an error from a syscall into the lowercase POSIX name the
// Erlang side uses as an atom ("eperm", "emfile"); "eio" when it is not an
// errno at all.
func errnoName(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "eio"
	}
	if name := unix.ErrnoName(errno); name != "" {
		return strings.ToLower(name)
	}
	return "eio"
}
