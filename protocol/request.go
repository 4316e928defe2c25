package protocol

import "net/netip"

// Mode is a set of directions: ModeRead|ModeWrite is read_write.
type Mode uint8

const (
	ModeNone  Mode = 0
	ModeRead  Mode = 1
	ModeWrite Mode = 2
	ModeRW         = ModeRead | ModeWrite
)

// String is the atom PROTOCOL.md names m by: none, read, write or
// read_write. Bits other than ModeRW are ignored. It is the one place a
// mode becomes an atom: requests, entries and info all use it.
func (m Mode) String() string {
	switch m & ModeRW {
	case ModeRead:
		return "read"
	case ModeWrite:
		return "write"
	case ModeRW:
		return "read_write"
	}
	return "none"
}

// Request is one decoded request (see ParseRequest). Pid, Ref, Dead and
// NewOwner hold the raw ETF encoding of the term (tag byte included) and
// alias the buffer that was decoded: copy them before the buffer is reused.
type Request struct {
	Op       Op
	Pid      []byte // caller (hello: Owner; down: the dead pid)
	Ref      []byte // reference; for fdset also a positive integer
	FD       int64  // VM fd number; validated by the driver
	FDValid  bool   // FD was an integer that fits an int64 (else FD is 0: ebadf)
	Mode     Mode
	ModeOK   bool   // the mode term was read|write|read_write (else einval)
	Dead     []byte // takeover form of fdset/poll: the dead owner, else nil
	NewOwner []byte // controlling_process
	Acked    int64  // ack: frames the VM has handled so far
	Spec     OpenSpec
	SpecOK   bool // open: the Spec term was a valid spec map (else einval)
}

// Proto is the kind of socket an open request makes.
type Proto uint8

const (
	ProtoTCP Proto = iota + 1 // SOCK_STREAM, listening
	ProtoUDP                  // SOCK_DGRAM
)

// Family is the address family of an open request.
type Family uint8

const (
	FamilyInet  Family = iota + 1 // AF_INET
	FamilyInet6                   // AF_INET6
)

// DefaultBacklog is the listen backlog of a tcp open without one.
const DefaultBacklog = 128

// OpenSpec is the Spec of an open request (PROTOCOL.md): the socket inertd
// makes, binds and, for tcp, listens on before handing it to the VM.
type OpenSpec struct {
	Proto     Proto
	Family    Family
	Addr      netip.Addr // the bind address, of Family; the zero Addr is any
	Port      uint16
	ReuseAddr bool
	ReusePort bool
	Backlog   int32 // tcp only
}
