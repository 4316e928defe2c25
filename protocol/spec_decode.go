package protocol

import "net/netip"

// spec consumes the Spec element of an open request into r.Spec and
// r.SpecOK (PROTOCOL.md, "Terms used below"). A term of the wrong shape
// only leaves SpecOK false, for the driver to answer einval; bytes that
// are not a term are an error. It does not allocate.
func (d *Decoder) spec(r *Request) error {
	tag, err := d.Tag()
	if err != nil {
		return err
	}
	if tag != tagMap {
		return d.Skip()
	}
	n, err := d.MapHeader()
	if err != nil {
		return err
	}
	s := OpenSpec{Proto: ProtoTCP, Family: FamilyInet, Backlog: -1}
	var addr specAddr
	var keys specKeys
	ok := true
	for range n {
		key, isAtom, err := d.atomOrSkip()
		if err != nil {
			return err
		}
		good := false
		if isAtom {
			keys |= keyNamed(key)
			good, err = d.specValue(key, &s, &addr)
		} else {
			err = d.Skip()
		}
		if err != nil {
			return err
		}
		ok = ok && good
	}
	if ok && s.resolve(&addr, keys) {
		r.Spec, r.SpecOK = s, true
	}
	return nil
}

// specKeys is the set of keys a spec has, to check that they fit its type
// (which comes last: map keys come in term order).
type specKeys uint8

const (
	socketKeys specKeys = 1 << iota // addr, backlog, family, port, reuseaddr, reuseport
	tunKeys                         // name, pi
	ptyKeys                         // termios
)

func keyNamed(key []byte) specKeys {
	switch string(key) {
	case "addr", "backlog", "family", "port", "reuseaddr", "reuseport":
		return socketKeys
	case "name", "pi":
		return tunKeys
	case "termios":
		return ptyKeys
	}
	return 0
}

// specAddr is the addr value of a spec as read, resolved once the family
// is known (map keys come in term order: addr before family).
type specAddr struct {
	loopback bool
	ip       netip.Addr // a tuple; the zero Addr for any or no addr
}

// specValue consumes the value of key into s. good is false for an
// unknown key or a value out of range.
func (d *Decoder) specValue(key []byte, s *OpenSpec, addr *specAddr) (good bool, err error) {
	switch string(key) {
	case "type", "family", "reuseaddr", "reuseport":
		v, isAtom, err := d.atomOrSkip()
		if err != nil || !isAtom {
			return false, err
		}
		return s.setAtom(key, v), nil
	case "port", "backlog":
		v, isInt, err := d.intOrSkip()
		if err != nil || !isInt || v < 0 || v > 65535 {
			return false, err
		}
		if string(key) == "port" {
			s.Port = uint16(v)
		} else {
			s.Backlog = int32(v)
		}
		return true, nil
	case "addr":
		return d.addr(addr)
	case "name":
		return d.ifName(s)
	case "pi":
		v, isAtom, err := d.atomOrSkip()
		if err != nil || !isAtom {
			return false, err
		}
		on, good := boolNamed(v)
		s.PI = on
		return good, nil
	case "termios":
		return d.termios(&s.Termios)
	}
	return false, d.Skip()
}

// boolNamed reads the atoms true and false; good is false for others.
func boolNamed(v []byte) (on, good bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// ifName consumes a name value: a binary of at most IfNameMax bytes, the
// empty binary for the kernel's choice. The bytes are what the kernel
// takes in an interface name: printable ASCII but for space, '/' and
// ':', and not "." or "..". A "%d" in it is the kernel's to fill in.
func (d *Decoder) ifName(s *OpenSpec) (good bool, err error) {
	tag, err := d.Tag()
	if err != nil {
		return false, err
	}
	if tag != tagBinary {
		return false, d.Skip()
	}
	b, err := d.Binary()
	if err != nil {
		return false, err
	}
	if len(b) > IfNameMax || string(b) == "." || string(b) == ".." {
		return false, nil
	}
	for _, c := range b {
		if c <= ' ' || c > '~' || c == '/' || c == ':' {
			return false, nil
		}
	}
	s.NameLen = uint8(copy(s.Name[:], b))
	return true, nil
}

// MaxSpeed is the highest speed a termios key takes, in bits per second.
const MaxSpeed = 4000000

// termios consumes a termios value: a map of the settings to apply, each
// key optional (PROTOCOL.md). good is false for a key it does not know
// or a value out of range; every key and value is consumed either way.
func (d *Decoder) termios(t *Termios) (good bool, err error) {
	tag, err := d.Tag()
	if err != nil {
		return false, err
	}
	if tag != tagMap {
		return false, d.Skip()
	}
	n, err := d.MapHeader()
	if err != nil {
		return false, err
	}
	good = true
	for range n {
		key, isAtom, err := d.atomOrSkip()
		if err != nil {
			return false, err
		}
		ok := false
		if isAtom {
			ok, err = d.termiosValue(key, t)
		} else {
			err = d.Skip()
		}
		if err != nil {
			return false, err
		}
		good = good && ok
	}
	return good, nil
}

// termiosValue consumes the value of one termios key into t.
func (d *Decoder) termiosValue(key []byte, t *Termios) (good bool, err error) {
	switch string(key) {
	case "speed", "data_bits", "stop_bits":
		v, isInt, err := d.intOrSkip()
		if err != nil || !isInt {
			return false, err
		}
		switch {
		case string(key) == "speed" && v >= 1 && v <= MaxSpeed:
			t.Set, t.Speed = t.Set|TermSpeed, uint32(v)
		case string(key) == "data_bits" && v >= 5 && v <= 8:
			t.Set, t.DataBits = t.Set|TermDataBits, uint8(v)
		case string(key) == "stop_bits" && (v == 1 || v == 2):
			t.Set, t.StopBits = t.Set|TermStopBits, uint8(v)
		default:
			return false, nil
		}
		return true, nil
	case "raw", "parity", "flow":
		v, isAtom, err := d.atomOrSkip()
		if err != nil || !isAtom {
			return false, err
		}
		return t.setAtom(key, v), nil
	}
	return false, d.Skip()
}

// setAtom sets the termios key whose value is an atom.
func (t *Termios) setAtom(key, v []byte) bool {
	switch string(key) {
	case "raw":
		on, good := boolNamed(v)
		t.Set, t.Raw = t.Set|TermRaw, on
		return good
	case "parity":
		var p Parity
		switch string(v) {
		case "none":
			p = ParityNone
		case "even":
			p = ParityEven
		case "odd":
			p = ParityOdd
		}
		t.Set, t.Parity = t.Set|TermParity, p
		return p != 0
	default: // flow
		var f Flow
		switch string(v) {
		case "none":
			f = FlowNone
		case "hardware":
			f = FlowHardware
		case "software":
			f = FlowSoftware
		}
		t.Set, t.Flow = t.Set|TermFlow, f
		return f != 0
	}
}

// setAtom sets the key whose value is an atom; false for a value it
// does not take.
func (s *OpenSpec) setAtom(key, v []byte) bool {
	switch string(key) {
	case "type":
		switch string(v) {
		case "tcp":
			s.Proto = ProtoTCP
		case "udp":
			s.Proto = ProtoUDP
		case "tun":
			s.Proto = ProtoTun
		case "tap":
			s.Proto = ProtoTap
		case "pty":
			s.Proto = ProtoPty
		default:
			return false
		}
	case "family":
		switch string(v) {
		case "inet":
			s.Family = FamilyInet
		case "inet6":
			s.Family = FamilyInet6
		default:
			return false
		}
	default: // reuseaddr, reuseport
		on, good := boolNamed(v)
		if !good {
			return false
		}
		if string(key) == "reuseaddr" {
			s.ReuseAddr = on
		} else {
			s.ReusePort = on
		}
	}
	return true
}

// addr consumes an addr value: a tuple of 4 bytes or 8 16-bit words, or
// the atoms any and loopback.
func (d *Decoder) addr(a *specAddr) (good bool, err error) {
	tag, err := d.Tag()
	if err != nil {
		return false, err
	}
	if isAtomTag(tag) {
		v, _, err := d.atomOrSkip()
		switch string(v) {
		case "any":
			*a = specAddr{}
		case "loopback":
			*a = specAddr{loopback: true}
		default:
			return false, err
		}
		return err == nil, err
	}
	if tag != tagSmallTuple {
		return false, d.Skip()
	}
	n, err := d.TupleHeader()
	if err != nil {
		return false, err
	}
	limit := int64(255)
	if n == 8 {
		limit = 65535
	}
	good = n == 4 || n == 8
	var b [16]byte
	for i := range n {
		v, isInt, err := d.intOrSkip()
		if err != nil {
			return false, err
		}
		if !isInt || v < 0 || v > limit || !good {
			good = false
			continue
		}
		if n == 4 {
			b[i] = byte(v)
		} else {
			b[2*i], b[2*i+1] = byte(v>>8), byte(v)
		}
	}
	switch {
	case !good:
	case n == 4:
		*a = specAddr{ip: netip.AddrFrom4([4]byte(b[:4]))}
	default:
		*a = specAddr{ip: netip.AddrFrom16(b)}
	}
	return good, nil
}

// resolve applies the defaults that depend on other keys and checks that
// the keys agree with each other and with the type; it reports whether
// the spec is valid. A device's socket fields are zero.
func (s *OpenSpec) resolve(a *specAddr, keys specKeys) bool {
	switch {
	case s.Proto.IsTun():
		s.Family, s.Backlog = 0, 0
		return keys&^tunKeys == 0
	case s.Proto == ProtoPty:
		s.Family, s.Backlog = 0, 0
		return keys&^ptyKeys == 0
	case keys&^socketKeys != 0:
		return false
	}
	switch {
	case a.loopback && s.Family == FamilyInet:
		s.Addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case a.loopback:
		s.Addr = netip.IPv6Loopback()
	case a.ip.IsValid() && a.ip.Is4() != (s.Family == FamilyInet):
		return false // an address of the other family
	default:
		s.Addr = a.ip
	}
	switch {
	case s.Proto == ProtoUDP && s.Backlog >= 0:
		return false // a backlog is for listening sockets
	case s.Proto == ProtoUDP:
		s.Backlog = 0
	case s.Backlog < 0:
		s.Backlog = DefaultBacklog
	}
	return true
}

// atomOrSkip consumes the next term: an atom's name, or isAtom false
// after skipping any other term.
func (d *Decoder) atomOrSkip() (name []byte, isAtom bool, err error) {
	tag, err := d.Tag()
	if err != nil {
		return nil, false, err
	}
	if !isAtomTag(tag) {
		return nil, false, d.Skip()
	}
	name, err = d.Atom()
	return name, err == nil, err
}

// intOrSkip consumes the next term: an integer that fits an int64, or
// isInt false after skipping any other term.
func (d *Decoder) intOrSkip() (v int64, isInt bool, err error) {
	tag, err := d.Tag()
	if err != nil {
		return 0, false, err
	}
	switch tag {
	case tagSmallInteger, tagInteger, tagSmallBig, tagLargeBig:
		v, overflow, err := d.Int()
		return v, err == nil && !overflow, err
	}
	return 0, false, d.Skip()
}
