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
	proto := "tcp"
	if s.Proto == ProtoUDP {
		proto = "udp"
	}
	return AppendAtom(AppendAtom(dst, "type"), proto)
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

func appendFD(dst []byte, r *Request) []byte {
	if !r.FDValid {
		return AppendAtom(dst, "undefined")
	}
	return AppendInt(dst, r.FD)
}
