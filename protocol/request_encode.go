package protocol

// AppendRequest appends r as the VM would send it: version byte, then the
// request tuple. The VM side writes requests in Erlang; this is for Go
// tests and tools. An FD with FDValid false is written as the atom
// undefined, and so is a mode with ModeOK false, so that ParseRequest
// gives back the same Request. An Op outside the table appends nothing.
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
	dst = AppendAtom(dst, opNames[r.Op])
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
	case OpFdset, OpPoll, OpFdclr:
		dst = appendFD(dst, r)
		if r.ModeOK {
			dst = AppendAtom(dst, modeAtom(r.Mode))
		} else {
			dst = AppendAtom(dst, "undefined")
		}
		if n == 6 {
			dst = AppendRaw(dst, r.Dead)
		}
	}
	return dst
}

var opNames = [...]string{
	OpHello:              "hello",
	OpFdset:              "fdset",
	OpPoll:               "poll",
	OpFdclr:              "fdclr",
	OpCancel:             "cancel",
	OpDown:               "down",
	OpControllingProcess: "controlling_process",
	OpInfo:               "info",
	OpAck:                "ack",
}

func appendFD(dst []byte, r *Request) []byte {
	if !r.FDValid {
		return AppendAtom(dst, "undefined")
	}
	return AppendInt(dst, r.FD)
}
