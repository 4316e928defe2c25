//go:build linux

package pollset

import (
	"errors"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/inert-go/inert/internal/retry"
)

var _ Poller = (*Uring)(nil)

// Uring is the Linux Poller on io_uring: each interest is a one-shot
// IORING_OP_POLL_ADD. What it saves against Epoll is syscalls:
//
//   - Add, Mod and Del only queue requests; they reach the kernel with the
//     next Wait, in the same io_uring_enter that waits.
//   - A fired one-shot poll is gone from the kernel: Del after an event
//     costs nothing, where epoll needs EPOLL_CTL_DEL.
//   - CloseFD queues the close of a duplicate in the same way.
//   - Events that are already in the completion ring are read without
//     entering the kernel at all.
//
// A pending poll holds its own reference to the file, as an epoll
// registration does not: once the poll has fired or been removed, closing
// the fd is enough for the file to go.
//
// Semantics differ from Epoll in what the kernel refuses: epoll_ctl fails
// with EPERM for regular files and EBADF for a closed fd, at once; a poll
// of a regular file is reported ready (as poll(2) does), and an error of
// the poll itself is reported as Read|Write by the next Wait.
//
// Uring is not safe for concurrent use: one goroutine calls every method.
// It needs Linux 5.17 or later (IOSQE_CQE_SKIP_SUCCESS); NewUring reports
// an error that errors.Is(err, errors.ErrUnsupported) matches when the
// kernel has no usable io_uring (too old, or disabled by sysctl or
// seccomp), so that the caller can fall back to Epoll.
type Uring struct {
	fd   int
	ring []byte // SQ and CQ rings (one mapping, IORING_FEAT_SINGLE_MMAP)
	sqem []byte // the SQE array

	sqHead, sqTail *uint32
	sqMask         uint32
	sqEntries      uint32
	sqes           []sqe
	tail           uint32 // our copy of the SQ tail, published by enter
	queued         uint32 // SQEs not yet submitted

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe

	seq     uint32  // generation of the last poll, part of its user_data
	ents    []entry // by fd number
	rewatch []int   // watched fds reported by the last Wait, polled again by the next
	arg     getEventsArg
	ts      unix.Timespec
}

// entry is the state of one fd number.
type entry struct {
	ud      uint64 // user_data of the fd's current poll; 0: not added
	pending bool   // the poll is in the kernel (or queued), not yet reported
	watch   bool   // Watch: re-armed after each report
}

// io_uring ABI (include/uapi/linux/io_uring.h).
const (
	opPollAdd    = 6
	opPollRemove = 7
	opClose      = 19

	sqeCQESkipSuccess = 1 << 6

	setupCQSize     = 1 << 3
	setupSubmitAll  = 1 << 7
	setupCoopTasks  = 1 << 8
	featSingleMmap  = 1 << 0
	featNoDrop      = 1 << 1
	featExtArg      = 1 << 8
	featCQESkip     = 1 << 11
	enterGetEvents  = 1 << 0
	enterExtArg     = 1 << 3
	offSQRing       = 0
	offSQEs         = 0x10000000
	sqEntriesWanted = 256
	cqEntriesWanted = 1024

	// internal marks the user_data of requests whose completions are not
	// events (POLL_REMOVE, CLOSE): they post one only if they fail.
	internal = 1 << 63
)

type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	fileIndex   int32
	addr3       uint64
	_           uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

type sqRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqRingOffsets
	cqOff                                                                  cqRingOffsets
}

type getEventsArg struct {
	sigmask     uint64
	sigmaskSize uint32
	minWaitUsec uint32
	ts          uint64
}

// unsupported is NewUring's error when the kernel has no usable io_uring.
type unsupported string

func (e unsupported) Error() string        { return "pollset: io_uring unusable: " + string(e) }
func (e unsupported) Is(target error) bool { return target == errors.ErrUnsupported }

// ptr32 points into a ring mapping.
func ptr32(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// userData names one poll: its generation and its fd.
func userData(seq uint32, fd int) uint64 { return uint64(seq)<<32 | uint64(uint32(fd)) }

func fdOf(ud uint64) int { return int(int32(uint32(ud))) }

func (u *Uring) sqFull() bool { return u.tail-atomic.LoadUint32(u.sqHead) >= u.sqEntries }

// known reports whether fd was added or watched and not deleted since.
func (u *Uring) known(fd int) bool { return fd >= 0 && fd < len(u.ents) && u.ents[fd].ud != 0 }

// slot makes room for fd in ents.
func (u *Uring) slot(fd int) *entry {
	if fd >= len(u.ents) {
		u.ents = append(u.ents, make([]entry, fd+1-len(u.ents))...)
	}
	return &u.ents[fd]
}

// NewUring sets up a ring of 256 submission and 1,024 completion entries:
// 36 KiB of ring memory, which the kernel counts against the user's
// RLIMIT_MEMLOCK (inertd has no CAP_IPC_LOCK), so that many daemons of
// one user fit in the usual 8 MiB. A full submission queue is submitted
// by the call that needs room (one more io_uring_enter in a burst of
// requests); completions beyond the ring wait in the kernel
// (IORING_FEAT_NODROP) until Wait has made room, one batch of up to
// 1,024 events at a time, which is what the daemon reads per wait anyway.
func NewUring() (*Uring, error) {
	p := uringParams{flags: setupCQSize | setupSubmitAll | setupCoopTasks, cqEntries: cqEntriesWanted}
	fd, err := setup(sqEntriesWanted, &p)
	if err == unix.EINVAL {
		// Older than 5.19 (no COOP_TASKRUN): plain flags.
		p = uringParams{flags: setupCQSize, cqEntries: cqEntriesWanted}
		fd, err = setup(sqEntriesWanted, &p)
	}
	switch err {
	case nil:
	case unix.ENOSYS, unix.EPERM, unix.EACCES, unix.EINVAL:
		return nil, unsupported("io_uring_setup: " + err.Error())
	default:
		return nil, os.NewSyscallError("io_uring_setup", err)
	}
	const need = featSingleMmap | featNoDrop | featExtArg | featCQESkip
	if p.features&need != need {
		unix.Close(fd)
		return nil, unsupported("kernel older than 5.17")
	}
	u := &Uring{fd: fd}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	if u.ring, err = unix.Mmap(fd, offSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("mmap", err)
	}
	if u.sqem, err = unix.Mmap(fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		unix.Munmap(u.ring)
		unix.Close(fd)
		return nil, os.NewSyscallError("mmap", err)
	}
	u.sqHead, u.sqTail = ptr32(u.ring, p.sqOff.head), ptr32(u.ring, p.sqOff.tail)
	u.sqMask, u.sqEntries = *ptr32(u.ring, p.sqOff.ringMask), p.sqEntries
	u.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&u.sqem[0])), p.sqEntries)
	u.tail = atomic.LoadUint32(u.sqTail)
	// The SQ index array maps ring slots to SQEs: identity, set once.
	array := unsafe.Slice(ptr32(u.ring, p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	u.cqHead, u.cqTail = ptr32(u.ring, p.cqOff.head), ptr32(u.ring, p.cqOff.tail)
	u.cqMask = *ptr32(u.ring, p.cqOff.ringMask)
	u.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&u.ring[p.cqOff.cqes])), p.cqEntries)
	return u, nil
}

func setup(entries uint32, p *uringParams) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil // close-on-exec: io_uring_setup always sets it
}

// Add queues a one-shot poll of fd for ev. EEXIST if fd was added and not
// deleted; EINVAL for a bad ev or a negative fd.
func (u *Uring) Add(fd int, ev Events) error {
	if !ev.valid() || fd < 0 {
		return os.NewSyscallError("io_uring poll_add", unix.EINVAL)
	}
	if u.known(fd) {
		return os.NewSyscallError("io_uring poll_add", unix.EEXIST)
	}
	return u.poll(fd, ev, false)
}

// Mod replaces fd's interest with a one-shot poll for ev; ENOENT if fd was
// not added.
func (u *Uring) Mod(fd int, ev Events) error {
	if !ev.valid() {
		return os.NewSyscallError("io_uring poll_add", unix.EINVAL)
	}
	if !u.known(fd) {
		return os.NewSyscallError("io_uring poll_add", unix.ENOENT)
	}
	e := &u.ents[fd]
	if e.pending {
		if err := u.remove(e.ud); err != nil {
			return err
		}
	}
	return u.poll(fd, ev, e.watch)
}

// Del forgets fd and cancels its poll if it has not fired; ENOENT if fd
// was not added. A completion of the old poll that is already on its way
// is dropped by Wait.
func (u *Uring) Del(fd int) error {
	if !u.known(fd) {
		return os.NewSyscallError("io_uring poll_remove", unix.ENOENT)
	}
	e := &u.ents[fd]
	var err error
	if e.pending {
		err = u.remove(e.ud)
	}
	*e = entry{}
	return err
}

// Watch registers fd for level-triggered read readiness: after Wait has
// reported it, it is polled again with the next Wait, which reports it
// again if it is still readable.
func (u *Uring) Watch(fd int) error {
	if fd < 0 {
		return os.NewSyscallError("io_uring poll_add", unix.EINVAL)
	}
	if u.known(fd) {
		return os.NewSyscallError("io_uring poll_add", unix.EEXIST)
	}
	return u.poll(fd, Read, true)
}

// CloseFD queues the close of fd, after every request queued before it.
// fd must not be in the poller (Del it first). A failure is not reported.
func (u *Uring) CloseFD(fd int) error {
	s, err := u.get()
	if err != nil {
		return err
	}
	s.opcode, s.flags, s.fd, s.userData = opClose, sqeCQESkipSuccess, int32(fd), internal|uint64(uint32(fd))
	return nil
}

func (u *Uring) poll(fd int, ev Events, watch bool) error {
	s, err := u.get()
	if err != nil {
		return err
	}
	if u.seq++; u.seq == 0 {
		u.seq = 1 // user_data 0 means "not added"
	}
	e := u.slot(fd)
	*e = entry{ud: userData(u.seq, fd), pending: true, watch: watch}
	s.opcode, s.fd, s.opFlags, s.userData = opPollAdd, int32(fd), pollMask(ev), e.ud
	return nil
}

func (u *Uring) remove(ud uint64) error {
	s, err := u.get()
	if err != nil {
		return err
	}
	s.opcode, s.flags, s.addr, s.userData = opPollRemove, sqeCQESkipSuccess, ud, internal
	return nil
}

// get returns the next free SQE, zeroed and counted as queued. A full
// queue is submitted first.
func (u *Uring) get() (*sqe, error) {
	if u.sqFull() {
		if err := u.Submit(); err != nil {
			return nil, err
		}
		if u.sqFull() {
			return nil, os.NewSyscallError("io_uring_enter", unix.EBUSY)
		}
	}
	s := &u.sqes[u.tail&u.sqMask]
	*s = sqe{}
	u.tail++
	u.queued++
	return s, nil
}

// Submit hands what is queued to the kernel now, without waiting.
func (u *Uring) Submit() error {
	if u.queued == 0 {
		return nil
	}
	return u.enter(0, 0, nil)
}

// enter submits what is queued and, with flags, waits. EINTR and ETIME
// (a wait that was interrupted or timed out) are not errors.
func (u *Uring) enter(minComplete, flags uint32, ts *unix.Timespec) error {
	atomic.StoreUint32(u.sqTail, u.tail)
	var arg unsafe.Pointer
	var argSize uintptr
	if ts != nil {
		u.arg = getEventsArg{ts: uint64(uintptr(unsafe.Pointer(ts)))}
		arg, argSize = unsafe.Pointer(&u.arg), unsafe.Sizeof(u.arg)
		flags |= enterExtArg
	}
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), uintptr(u.queued), uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
	if errno == 0 && uint32(n) <= u.queued {
		u.queued -= uint32(n)
	}
	if retry.Interrupted(errno) {
		return nil // the caller waits again
	}
	switch errno {
	case 0, unix.ETIME:
		return nil
	case unix.EBUSY, unix.EAGAIN:
		// Completions the kernel could not post yet: reaping makes room.
		return nil
	}
	return os.NewSyscallError("io_uring_enter", errno)
}

// Wait reports ready fds: first what is already in the completion ring,
// without a syscall; it enters the kernel to submit what is queued, and to
// wait only when nothing is there yet.
func (u *Uring) Wait(buf []Event, msec int) (int, error) {
	if len(buf) == 0 {
		return 0, os.NewSyscallError("io_uring_enter", unix.EINVAL)
	}
	// The caller has handled what the last Wait reported: poll the
	// watched fds again now, so that one still readable is reported again.
	for _, fd := range u.rewatch {
		if u.known(fd) && u.ents[fd].watch && !u.ents[fd].pending {
			if err := u.poll(fd, Read, true); err != nil {
				return 0, err
			}
		}
	}
	u.rewatch = u.rewatch[:0]
	n := u.reap(buf)
	switch {
	case n > 0 && u.queued == 0:
		return n, nil
	case n > 0 || msec == 0:
		if err := u.enter(0, enterGetEvents, nil); err != nil {
			return n, err
		}
	case msec < 0:
		if err := u.enter(1, enterGetEvents, nil); err != nil {
			return 0, err
		}
	default:
		u.ts = unix.NsecToTimespec(int64(msec) * 1e6)
		if err := u.enter(1, enterGetEvents, &u.ts); err != nil {
			return 0, err
		}
	}
	return n + u.reap(buf[n:]), nil
}

// reap turns completions into Events, dropping those of polls that were
// deleted or replaced since, and notes the watched fds it reports for the
// next Wait to poll again.
func (u *Uring) reap(buf []Event) int {
	head := atomic.LoadUint32(u.cqHead)
	tail := atomic.LoadUint32(u.cqTail)
	n := 0
	for ; head != tail && n < len(buf); head++ {
		c := &u.cqes[head&u.cqMask]
		ud, res := c.userData, c.res
		if ud&internal != 0 {
			continue // a failed POLL_REMOVE (the poll had fired) or CLOSE
		}
		fd := fdOf(ud)
		if !u.known(fd) || u.ents[fd].ud != ud {
			continue // deleted or re-armed since
		}
		e := &u.ents[fd]
		e.pending = false
		ev := Read | Write // the poll failed: let the caller find out how
		if res >= 0 {
			ev = events(uint32(res))
		}
		buf[n] = Event{FD: int32(fd), Events: ev}
		n++
		if e.watch {
			u.rewatch = append(u.rewatch, fd)
		}
	}
	atomic.StoreUint32(u.cqHead, head)
	return n
}

// pollMask is what a poll asks for: the same bits as an epoll interest.
func pollMask(ev Events) uint32 {
	return swapIfBigEndian(interestBits(ev))
}

// swapIfBigEndian: the kernel reads poll32_events with its 16-bit halves
// swapped on big-endian machines.
func swapIfBigEndian(m uint32) uint32 {
	var probe uint16 = 1
	if *(*byte)(unsafe.Pointer(&probe)) == 0 {
		return m<<16 | m>>16
	}
	return m
}

// Close tears the ring down; the kernel cancels every pending poll.
// Queued requests that were never submitted are dropped. A second Close
// fails with EBADF.
func (u *Uring) Close() error {
	if u.fd < 0 {
		return os.NewSyscallError("close", unix.EBADF)
	}
	unix.Munmap(u.sqem)
	unix.Munmap(u.ring)
	u.sqes, u.cqes, u.ring, u.sqem = nil, nil, nil, nil
	fd := u.fd
	u.fd = -1
	if err := unix.Close(fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
