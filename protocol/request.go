package protocol

import (
	"net/netip"
	"strconv"
)

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
	// termios: the settings for FD; TermiosOK false (and Termios zero)
	// when the term was not a valid termios map (einval)
	Termios   Termios
	TermiosOK bool
	IO        IOSpec // io_open; io_credit: IO.Credit
	Data      []byte // io_send: the bytes of the Data binary (aliases the buffer)
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

// Proto is what an open request makes: a socket, a TUN or TAP interface,
// or a pty pair.
type Proto uint8

const (
	ProtoTCP Proto = iota + 1 // SOCK_STREAM, listening
	ProtoUDP                  // SOCK_DGRAM
	ProtoTun                  // a TUN interface (IP packets): /dev/net/tun, IFF_TUN
	ProtoTap                  // a TAP interface (Ethernet frames): IFF_TAP
	ProtoPty                  // a pty pair: /dev/ptmx and its peer
)

// IsSocket reports whether p makes a socket (tcp or udp).
func (p Proto) IsSocket() bool { return p == ProtoTCP || p == ProtoUDP }

// IsTun reports whether p makes a TUN or TAP interface.
func (p Proto) IsTun() bool { return p == ProtoTun || p == ProtoTap }

// String is the atom of the type key that names p.
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoTun:
		return "tun"
	case ProtoTap:
		return "tap"
	case ProtoPty:
		return "pty"
	}
	return "Proto(" + strconv.Itoa(int(p)) + ")"
}

// Family is the address family of an open request.
type Family uint8

const (
	FamilyInet  Family = iota + 1 // AF_INET
	FamilyInet6                   // AF_INET6
)

// DefaultBacklog is the listen backlog of a tcp open without one.
const DefaultBacklog = 128

// IfNameMax is the longest interface name a tun or tap open takes
// (IFNAMSIZ - 1).
const IfNameMax = 15

// OpenSpec is the Spec of an open request (PROTOCOL.md): the socket inertd
// makes, binds and, for tcp, listens on before handing it to the VM, or
// the device it opens (tun, tap, pty). The fields of the other kinds are
// zero. It is comparable, and decoding it allocates nothing.
type OpenSpec struct {
	Proto     Proto
	Family    Family
	Addr      netip.Addr // the bind address, of Family; the zero Addr is any
	Port      uint16
	ReuseAddr bool
	ReusePort bool
	Backlog   int32 // tcp only

	// tun and tap
	Name    [IfNameMax]byte // the interface name asked for, Name[:NameLen]
	NameLen uint8           // 0: the kernel picks (tunN, tapN)
	PI      bool            // keep the 4-byte packet information header (no IFF_NO_PI)

	// pty
	Termios Termios // the line settings of the peer side
}

// IfName is the interface name a tun or tap open asks for; "" lets the
// kernel pick one.
func (s *OpenSpec) IfName() string { return string(s.Name[:s.NameLen]) }

// Parity is the parity of a serial line.
type Parity uint8

const (
	ParityNone Parity = iota + 1
	ParityEven
	ParityOdd
)

// Flow is the flow control of a serial line.
type Flow uint8

const (
	FlowNone     Flow = iota + 1
	FlowHardware      // RTS/CTS (CRTSCTS)
	FlowSoftware      // XON/XOFF (IXON, IXOFF)
)

// TermiosField is one setting of Termios; Termios.Set says which apply.
type TermiosField uint8

const (
	TermSpeed TermiosField = 1 << iota
	TermRaw
	TermDataBits
	TermParity
	TermStopBits
	TermFlow
)

// Termios is the line settings of a pty open (the termios key) or of a
// termios request. Only the
// fields whose bit is in Set are applied; the others stay as the kernel
// made them. Raw, when true, applies first (cfmakeraw), the others after.
type Termios struct {
	Set      TermiosField
	Speed    uint32 // bits per second, one of the rates of termios(3)
	Raw      bool
	DataBits uint8 // 5..8 (CSIZE)
	Parity   Parity
	StopBits uint8 // 1 or 2 (CSTOPB)
	Flow     Flow
}

// Has reports whether f is among the settings to apply.
func (t *Termios) Has(f TermiosField) bool { return t.Set&f != 0 }

// HandInfo is what a handover says besides its first fd (PROTOCOL.md,
// "Handing fds to the VM"): nothing for dup and a socket open, the
// interface's name for tun and tap, the peer's path and fd for a pty.
type HandInfo struct {
	Name string // tun, tap: the interface the kernel made
	Path string // pty: the peer's path, /dev/pts/N
	Peer bool   // pty: a second fd, the peer side, follows the first
}

// Empty reports whether h says nothing: the handover is {fd, Pid, Ref}.
func (h *HandInfo) Empty() bool { return *h == HandInfo{} }
