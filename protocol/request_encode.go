package protocol

// AppendRequest appends r as the VM would send it: version byte, then the
// request tuple. The VM side writes requests in Erlang; this is for Go
// tests and tools. An FD with FDValid false is written as the atom
// undefined, and so are a mode with ModeOK false and a Spec with SpecOK
// false, so that ParseRequest gives back the same Request. A Spec is
// written with every key, as inert_fd:open/1 sends it. An Op outside the
// table appends nothing.
func AppendRequest(dst []byte, r *Request) []byte {
	lo, hi := arity(r.Op)
	if lo > hi {
		return dst
	}
	n := lo
	if r.Dead != nil && hi > lo {
		n = hi
	}
	dst = AppendTupleHeader(AppendVersion(dst), n)
	dst = AppendAtom(dst, ops[r.Op].name)
	switch r.Op {
	case OpHello, OpDown:
		return AppendRaw(dst, r.Pid)
	case OpCancel:
		return appendFD(AppendRaw(dst, r.Ref), r)
	case OpAck:
		return AppendInt(dst, r.Acked)
	}
	dst = AppendRaw(AppendRaw(dst, r.Pid), r.Ref)
	switch r.Op {
	case OpControllingProcess:
		dst = AppendRaw(dst, r.NewOwner)
	case OpIOOpen:
		dst = AppendAtom(appendFD(dst, r), r.IO.Type.String())
		dst = AppendInt(AppendInt(dst, r.IO.ReadSize), r.IO.SendQueue)
	case OpIOCredit:
		dst = AppendInt(dst, r.IO.Credit)
	case OpIOSend:
		dst = AppendBinary(dst, r.Data)
	case OpDup:
		dst = appendFD(dst, r)
	case OpTermios:
		dst = appendFD(dst, r)
		if r.TermiosOK {
			dst = appendTermios(dst, &r.Termios)
		} else {
			dst = AppendAtom(dst, "undefined")
		}
	case OpOpen:
		if r.SpecOK {
			dst = appendSpec(dst, &r.Spec)
		} else {
			dst = AppendAtom(dst, "undefined")
		}
	case OpFdset, OpPoll, OpFdclr:
		dst = appendFD(dst, r)
		if r.ModeOK {
			dst = AppendAtom(dst, r.Mode.String())
		} else {
			dst = AppendAtom(dst, "undefined")
		}
		if n == 6 {
			dst = AppendRaw(dst, r.Dead)
		}
	}
	return dst
}

// appendSpec writes s as a map with every key, in the order OTP writes a
// small map with atom keys (term order: by name).
func appendSpec(dst []byte, s *OpenSpec) []byte {
	switch {
	case s.Proto.IsTun():
		dst = AppendAtom(AppendMapHeader(dst, 3), "name")
		dst = AppendBinary(dst, s.Name[:s.NameLen])
		dst = AppendAtom(AppendAtom(dst, "pi"), boolAtom(s.PI))
		return AppendAtom(AppendAtom(dst, "type"), s.Proto.String())
	case s.Proto == ProtoPty:
		dst = appendTermios(AppendAtom(AppendMapHeader(dst, 2), "termios"), &s.Termios)
		return AppendAtom(AppendAtom(dst, "type"), "pty")
	}
	n := 6
	if s.Proto == ProtoTCP {
		n++
	}
	dst = AppendAtom(AppendMapHeader(dst, n), "addr")
	switch {
	case !s.Addr.IsValid():
		dst = AppendAtom(dst, "any")
	case s.Addr.Is4():
		dst = AppendTupleHeader(dst, 4)
		for _, b := range s.Addr.As4() {
			dst = AppendInt(dst, int64(b))
		}
	default:
		b := s.Addr.As16()
		dst = AppendTupleHeader(dst, 8)
		for i := 0; i < 16; i += 2 {
			dst = AppendInt(dst, int64(b[i])<<8|int64(b[i+1]))
		}
	}
	if s.Proto == ProtoTCP {
		dst = AppendInt(AppendAtom(dst, "backlog"), int64(s.Backlog))
	}
	family := "inet"
	if s.Family == FamilyInet6 {
		family = "inet6"
	}
	dst = AppendAtom(AppendAtom(dst, "family"), family)
	dst = AppendInt(AppendAtom(dst, "port"), int64(s.Port))
	dst = AppendAtom(AppendAtom(dst, "reuseaddr"), boolAtom(s.ReuseAddr))
	dst = AppendAtom(AppendAtom(dst, "reuseport"), boolAtom(s.ReusePort))
	return AppendAtom(AppendAtom(dst, "type"), s.Proto.String())
}

// appendTermios writes the settings of t that are set, as a map in term
// order (data_bits, flow, parity, raw, speed, stop_bits).
func appendTermios(dst []byte, t *Termios) []byte {
	n := 0
	for f := TermSpeed; f <= TermFlow; f <<= 1 {
		if t.Has(f) {
			n++
		}
	}
	dst = AppendMapHeader(dst, n)
	if t.Has(TermDataBits) {
		dst = AppendInt(AppendAtom(dst, "data_bits"), int64(t.DataBits))
	}
	if t.Has(TermFlow) {
		dst = AppendAtom(AppendAtom(dst, "flow"), [...]string{FlowNone: "none", FlowHardware: "hardware", FlowSoftware: "software"}[t.Flow])
	}
	if t.Has(TermParity) {
		dst = AppendAtom(AppendAtom(dst, "parity"), [...]string{ParityNone: "none", ParityEven: "even", ParityOdd: "odd"}[t.Parity])
	}
	if t.Has(TermRaw) {
		dst = AppendAtom(AppendAtom(dst, "raw"), boolAtom(t.Raw))
	}
	if t.Has(TermSpeed) {
		dst = AppendInt(AppendAtom(dst, "speed"), int64(t.Speed))
	}
	if t.Has(TermStopBits) {
		dst = AppendInt(AppendAtom(dst, "stop_bits"), int64(t.StopBits))
	}
	return dst
}

func boolAtom(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// AppendHandover appends the side channel message that hands an fd to the
// VM (PROTOCOL.md, "Handing fds to the VM"): the version byte, then
// {fd, Pid, Ref}. The fd itself goes in the message's SCM_RIGHTS.
func AppendHandover(dst, pid, ref []byte) []byte {
	dst = AppendAtom(AppendTupleHeader(AppendVersion(dst), 3), "fd")
	return AppendRaw(AppendRaw(dst, pid), ref)
}

// AppendHandoverInfo appends the side channel message that hands the fds
// of a device open to the VM (PROTOCOL.md, "Handing fds to the VM"):
// {fd, Pid, Ref, Info}, Info a map of what h says (name; path and peer).
// An empty h is AppendHandover's {fd, Pid, Ref}.
func AppendHandoverInfo(dst, pid, ref []byte, h *HandInfo) []byte {
	if h.Empty() {
		return AppendHandover(dst, pid, ref)
	}
	dst = AppendAtom(AppendTupleHeader(AppendVersion(dst), 4), "fd")
	dst = AppendRaw(AppendRaw(dst, pid), ref)
	n := 0
	for _, on := range []bool{h.Name != "", h.Path != "", h.Peer} {
		if on {
			n++
		}
	}
	dst = AppendMapHeader(dst, n)
	if h.Name != "" {
		dst = appendBinaryString(AppendAtom(dst, "name"), h.Name)
	}
	if h.Path != "" {
		dst = appendBinaryString(AppendAtom(dst, "path"), h.Path)
	}
	if h.Peer {
		dst = AppendAtom(AppendAtom(dst, "peer"), "true")
	}
	return dst
}

func appendFD(dst []byte, r *Request) []byte {
	if !r.FDValid {
		return AppendAtom(dst, "undefined")
	}
	return AppendInt(dst, r.FD)
}
