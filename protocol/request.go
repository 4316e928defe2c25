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
	SpecOK   bool   // open: the Spec term was a valid spec map (else einval)
	IO       IOSpec // io_open; io_credit: IO.Credit
	Data     []byte // io_send: the bytes of the Data binary (aliases the buffer)
}

// IOType is the framing of an I/O handle (io_open's Type).
type IOType uint8

const (
	IOInvalid  IOType = iota // an atom other than stream and datagram: einval
	IOStream                 // stream: bytes, written as far as the fd takes them
	IODatagram               // datagram: one read, one message; one write per io_send
)

// String is the atom of t ("stream", "datagram"; "undefined" for IOInvalid).
func (t IOType) String() string {
	switch t {
	case IOStream:
		return "stream"
	case IODatagram:
		return "datagram"
	}
	return "undefined"
}

// IOSpec holds the integers of io_open and io_credit as the VM sent
// them; their ranges are the driver's to check.
type IOSpec struct {
	Type      IOType
	ReadSize  int64 // io_open: bytes of one read
	SendQueue int64 // io_open: bytes of io_send data inertd may queue
	Credit    int64 // io_credit: bytes more inertd may read
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
