//go:build darwin || freebsd || openbsd || dragonfly

package pollset

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/retry"
)

// NetBSD is left to the stub: golang.org/x/sys/unix has no EV_RECEIPT for
// it, and a kernel that ignores EV_RECEIPT would hand real events to
// change() below, which would drop them.

var _ Poller = (*Kqueue)(nil)

// Kqueue is the BSD and macOS Poller, one kqueue with an EVFILT_READ and an
// EVFILT_WRITE filter per fd. Add, Mod, Del and Watch may be called from
// any goroutine; Wait from one at a time.
type Kqueue struct {
	fd  int
	evs []unix.Kevent_t // Wait's kernel buffer, grown to len(buf) and reused
	ts  unix.Timespec   // Wait's timeout, kept here so it is not allocated
}

// noWait is the timeout of change-only kevent calls. With EV_RECEIPT they
// return as soon as the receipts are in; a zero timeout makes sure.
var noWait unix.Timespec

// New creates a close-on-exec kqueue, a *Kqueue.
func New() (Poller, error) {
	// Not every kqueue(2) can create the fd close-on-exec; holding
	// ForkLock keeps a concurrent os/exec from inheriting it meanwhile.
	syscall.ForkLock.RLock()
	fd, err := unix.Kqueue()
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	return &Kqueue{fd: fd}, nil
}

// Add arms fd. kqueue accepts regular files (always ready) and an fd that
// is already added, unlike epoll.
func (p *Kqueue) Add(fd int, ev Events) error {
	return p.arm(fd, ev)
}

// Mod arms fd, replacing the previous interest.
func (p *Kqueue) Mod(fd int, ev Events) error {
	return p.arm(fd, ev)
}

// arm sets both filters of fd in one kevent call: a one-shot filter for
// each direction in ev, none for the other. If a change fails the other
// may have been applied; Del clears both.
func (p *Kqueue) arm(fd int, ev Events) error {
	if !ev.valid() {
		return os.NewSyscallError("kevent", unix.EINVAL)
	}
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, oneShotOrDelete(ev&Read != 0))
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, oneShotOrDelete(ev&Write != 0))
	return p.change(ch[:])
}

func oneShotOrDelete(armed bool) int {
	if armed {
		return unix.EV_ADD | unix.EV_ONESHOT
	}
	return unix.EV_DELETE
}

// Del removes both filters of fd. It succeeds for an fd that is not
// armed, including one whose one-shot filters have all fired.
func (p *Kqueue) Del(fd int) error {
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, unix.EV_DELETE)
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, unix.EV_DELETE)
	return p.change(ch[:])
}

// Watch adds a persistent read filter; kqueue filters are level-triggered
// unless EV_CLEAR is set.
func (p *Kqueue) Watch(fd int) error {
	var ch [1]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, unix.EV_ADD)
	return p.change(ch[:])
}

// change applies up to two changes in one kevent call. EV_RECEIPT makes
// the kernel answer each change with its own EV_ERROR entry (data 0 on
// success) instead of stopping at the first failure, and return without
// collecting events.
func (p *Kqueue) change(changes []unix.Kevent_t) error {
	var receipts [2]unix.Kevent_t
	for i := range changes {
		changes[i].Flags |= unix.EV_RECEIPT
	}
	n, err := unix.Kevent(p.fd, changes, receipts[:len(changes)], &noWait)
	if err != nil {
		return os.NewSyscallError("kevent", err)
	}
	for _, r := range receipts[:n] {
		if r.Flags&unix.EV_ERROR == 0 || r.Data == 0 {
			continue
		}
		// ENOENT is an EV_DELETE of a filter that is not there: never
		// armed, or a one-shot that already fired. Nothing to remove.
		if errno := unix.Errno(r.Data); errno != unix.ENOENT {
			return os.NewSyscallError("kevent", errno)
		}
	}
	return nil
}

// Wait reports ready filters, one Event per filter: an fd armed for
// Read|Write may appear twice. EV_EOF and errors on a filter are reported
// in that filter's direction.
func (p *Kqueue) Wait(buf []Event, msec int) (int, error) {
	if len(buf) == 0 {
		// kevent would return at once with nothing; fail as epoll_wait does.
		return 0, os.NewSyscallError("kevent", unix.EINVAL)
	}
	if cap(p.evs) < len(buf) {
		p.evs = make([]unix.Kevent_t, len(buf))
	}
	var timeout *unix.Timespec // nil: forever
	if msec >= 0 {
		p.ts = unix.NsecToTimespec(int64(time.Duration(msec) * time.Millisecond))
		timeout = &p.ts
	}
	n, err := unix.Kevent(p.fd, nil, p.evs[:len(buf)], timeout)
	if err != nil {
		if retry.Interrupted(err) {
			return 0, nil // the caller waits again
		}
		return 0, os.NewSyscallError("kevent", err)
	}
	m := 0
	for _, k := range p.evs[:n] {
		var ev Events
		switch k.Filter {
		case unix.EVFILT_READ:
			ev = Read
		case unix.EVFILT_WRITE:
			ev = Write
		default:
			continue // not ours: only the two fd filters are ever added
		}
		buf[m] = Event{FD: int32(k.Ident), Events: ev}
		m++
	}
	return m, nil
}

// Close closes the kqueue, which drops every filter. A second Close fails
// with EBADF rather than closing whatever fd has since taken the number.
func (p *Kqueue) Close() error {
	fd := p.fd
	p.fd = -1
	if err := unix.Close(fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
