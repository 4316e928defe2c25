// Package pollset is the kernel readiness interface of inertd: io_uring
// (NewUring, Linux 5.17 or later) or epoll (New) on Linux, kqueue (New) on
// macOS and FreeBSD, behind one small API, the Poller interface. It owns
// the kernel object and its buffers; it knows nothing of requests, callers
// or the VM, never closes an fd it was given (Uring.CloseFD closes only
// when asked) and never blocks except in Wait.
//
// Interests are one-shot: after a Wait reports an event for an fd, the caller
// treats that fd as disarmed in every direction and either re-arms what it
// still wants with Mod or removes it with Del. epoll disarms the whole fd;
// kqueue disarms only the direction it reported, so a Read|Write interest
// may be reported as two Events, in one Wait or in two, and the caller keeps
// only the directions it armed. Control fds (stdin, the side channel) are
// registered with Watch instead and stay armed for reading.
//
// Errors are *os.SyscallError values naming the failing call ("epoll_ctl",
// "kevent", ...); errors.Is(err, unix.EBADF) and the like see the errno.
package pollset

// Events is a set of readiness directions.
type Events uint8

const (
	// Read: the fd is readable, at EOF, hung up or in error.
	Read Events = 1 << iota
	// Write: the fd is writable, hung up or in error.
	Write
)

// Event is one readiness report.
type Event struct {
	FD     int32
	Events Events
}

// Poller is what every implementation provides; the driver depends on it.
//
// Concurrency: a Poller is used by one goroutine, which calls every
// method (inertd's event loop). Epoll and Kqueue allow more (Add, Mod,
// Del and Watch from any goroutine while one Waits), Uring does not: code
// written against Poller must assume the one goroutine.
type Poller interface {
	// Add registers fd with a one-shot interest in ev, which is Read,
	// Write or both (anything else is EINVAL).
	Add(fd int, ev Events) error
	// Mod re-arms an fd that was added, with a one-shot interest in ev
	// that replaces the previous one.
	Mod(fd int, ev Events) error
	// Del removes fd. It must be called before the fd is closed: epoll
	// keys registrations by open file description, not by fd number.
	Del(fd int) error
	// Watch registers fd for persistent, level-triggered read readiness.
	Watch(fd int) error
	// Wait blocks up to msec milliseconds (-1: forever), fills buf (which
	// must not be empty) and returns how many Events it wrote. Events that
	// did not fit are returned by the next Wait. An interrupted wait
	// returns 0, nil.
	Wait(buf []Event, msec int) (int, error)
	// Close releases the kernel object.
	Close() error
}

// valid reports whether ev names at least one direction and nothing else.
func (ev Events) valid() bool {
	return ev != 0 && ev&^(Read|Write) == 0
}
