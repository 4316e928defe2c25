//go:build linux

package pollset

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/retry"
)

var _ Poller = (*Epoll)(nil)

// Epoll is the Linux Poller, one epoll instance. Add, Mod, Del and Watch
// may be called from any goroutine; Wait from one at a time.
type Epoll struct {
	fd  int
	evs []unix.EpollEvent // Wait's kernel buffer, grown to len(buf) and reused
}

// New creates a close-on-exec epoll instance, an *Epoll.
func New() (Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	return &Epoll{fd: fd}, nil
}

// Add registers fd. Beyond EINVAL for a bad ev, epoll_ctl fails with EPERM
// for fds it cannot poll (regular files, directories), EBADF for a closed
// fd and EEXIST for an fd already added.
func (p *Epoll) Add(fd int, ev Events) error {
	return p.arm(unix.EPOLL_CTL_ADD, fd, ev)
}

// Mod re-arms fd; ENOENT if it was never added.
func (p *Epoll) Mod(fd int, ev Events) error {
	return p.arm(unix.EPOLL_CTL_MOD, fd, ev)
}

// arm sets a one-shot interest: the kernel disables the whole registration
// when it reports it, until the next EPOLL_CTL_MOD.
func (p *Epoll) arm(op, fd int, ev Events) error {
	if !ev.valid() {
		return os.NewSyscallError("epoll_ctl", unix.EINVAL)
	}
	e := unix.EpollEvent{Events: unix.EPOLLONESHOT | interestBits(ev), Fd: int32(fd)}
	return p.ctl(op, fd, &e)
}

// interestBits are the event bits an interest in ev asks for. epoll's
// EPOLLIN, EPOLLOUT, ... are poll(2)'s POLLIN, POLLOUT, ...: Uring's polls
// use the same bits.
func interestBits(ev Events) uint32 {
	var bits uint32
	if ev&Read != 0 {
		bits |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if ev&Write != 0 {
		bits |= unix.EPOLLOUT
	}
	return bits
}

// Del removes fd, armed or not; ENOENT if it was never added.
func (p *Epoll) Del(fd int) error {
	return p.ctl(unix.EPOLL_CTL_DEL, fd, nil)
}

// Watch registers fd level-triggered: it is reported by every Wait for
// as long as it is readable.
func (p *Epoll) Watch(fd int) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
}

func (p *Epoll) ctl(op, fd int, e *unix.EpollEvent) error {
	if err := unix.EpollCtl(p.fd, op, fd, e); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Wait reports ready fds. An fd the kernel flags with EPOLLERR or EPOLLHUP
// is reported as Read|Write: whatever the caller armed will now fail or
// see EOF instead of blocking.
func (p *Epoll) Wait(buf []Event, msec int) (int, error) {
	if cap(p.evs) < len(buf) {
		p.evs = make([]unix.EpollEvent, len(buf))
	}
	evs := p.evs[:len(buf)]
	n, err := unix.EpollWait(p.fd, evs, msec)
	if err != nil {
		if retry.Interrupted(err) {
			return 0, nil // the caller waits again
		}
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	for i, e := range evs[:n] {
		buf[i] = Event{FD: e.Fd, Events: events(e.Events)}
	}
	return n, nil
}

// events maps epoll's (and so poll's) event bits to directions.
func events(bits uint32) Events {
	var ev Events
	if bits&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
		ev |= Read
	}
	if bits&unix.EPOLLOUT != 0 {
		ev |= Write
	}
	if bits&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		ev |= Read | Write
	}
	return ev
}

// Close closes the epoll fd. A second Close fails with EBADF rather than
// closing whatever fd has since taken the number.
func (p *Epoll) Close() error {
	fd := p.fd
	p.fd = -1
	if err := unix.Close(fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
