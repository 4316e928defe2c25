package protocol

// ParseRequest decodes one request of PROTOCOL.md into r: b is a whole
// term_to_binary result (version byte 131, then the tuple, nothing after
// it). It resets r first and never allocates unless it fails.
//
// Two faults are not errors, because the driver answers them: an FD that
// is not an integer or does not fit in an int64 leaves FDValid false and
// FD 0 (ebadf), and a mode other than the atoms read, write and
// read_write leaves ModeOK false and Mode ModeNone (einval). The range of
// FD is the driver's to check. Likewise an open request whose Spec is not
// a valid spec map leaves SpecOK false and Spec zero (einval).
//
// Anything else is a *DecodeError: bytes that are not a term (ErrVersion,
// ErrTruncated, ErrTag, ErrMalformed, ErrTrailing) or a term that is not
// one of the request rows (ErrRequest: not a tuple whose first element is
// a known request atom, wrong arity, a Pid, Dead or NewOwner that is not a
// pid, a Ref that is not a reference, or for fdset neither a reference
// nor an integer 1..2^63-1, the VM's generation of the interest). Even
// then, r.Op, r.Pid and r.Ref hold what was read before the fault, so the
// driver can answer {error, Pid, Ref, einval} when both are set; when the
// operation atom is unknown nothing is read.
func ParseRequest(b []byte, r *Request) error {
	*r = Request{}
	d := Decoder{buf: b}
	if err := d.Version(); err != nil {
		return err
	}
	tuple := d.off
	n, err := d.TupleHeader()
	if err != nil {
		return asRequestError(err)
	}
	if n == 0 {
		return fail(tuple, ErrRequest)
	}
	opOff := d.off
	name, err := d.Atom()
	if err != nil {
		return asRequestError(err)
	}
	r.Op = opNamed(name)
	if r.Op == OpInvalid {
		return fail(opOff, ErrRequest)
	}

	// Pid and Ref first, whatever the arity, so that an einval answer can
	// be addressed.
	switch r.Op {
	case OpAck:
	case OpCancel:
		if n >= 2 {
			if r.Ref, err = d.Ref(); err != nil {
				return asRequestError(err)
			}
		}
	default:
		if n >= 2 {
			if r.Pid, err = d.Pid(); err != nil {
				return asRequestError(err)
			}
		}
		if n >= 3 && r.Op != OpHello && r.Op != OpDown {
			if r.Ref, err = d.ref(r.Op); err != nil {
				return asRequestError(err)
			}
		}
	}
	if lo, hi := arity(r.Op); n < lo || n > hi {
		return fail(tuple, ErrRequest)
	}

	switch r.Op {
	case OpFdset, OpPoll, OpFdclr:
		if err = d.fd(r); err != nil {
			return err
		}
		if err = d.mode(r); err != nil {
			return err
		}
		if n == 6 {
			if r.Dead, err = d.Pid(); err != nil {
				return asRequestError(err)
			}
		}
	case OpCancel, OpDup:
		if err = d.fd(r); err != nil {
			return err
		}
	case OpOpen:
		if err = d.spec(r); err != nil {
			return err
		}
	case OpTermios:
		if err = d.fd(r); err != nil {
			return err
		}
		if r.TermiosOK, err = d.termios(&r.Termios); err != nil {
			return err
		}
		if !r.TermiosOK {
			r.Termios = Termios{}
		}
	case OpIOOpen:
		if err = d.fd(r); err != nil {
			return err
		}
		if err = d.ioType(r); err != nil {
			return err
		}
		if r.IO.ReadSize, err = d.int64(); err != nil {
			return err
		}
		if r.IO.SendQueue, err = d.int64(); err != nil {
			return err
		}
	case OpIOCredit:
		if r.IO.Credit, err = d.int64(); err != nil {
			return err
		}
	case OpIOSend:
		if r.Data, err = d.Binary(); err != nil {
			return asRequestError(err)
		}
	case OpControllingProcess:
		if r.NewOwner, err = d.Pid(); err != nil {
			return asRequestError(err)
		}
	case OpAck:
		at := d.off
		v, overflow, err := d.Int()
		if err != nil {
			return asRequestError(err)
		}
		if overflow || v < 0 {
			return fail(at, ErrRequest)
		}
		r.Acked = v
	}
	if d.off != len(b) {
		return fail(d.off, ErrTrailing)
	}
	return nil
}

// asRequestError turns "a term of the wrong type" into ErrRequest: the
// bytes are a valid term, just not the request's shape.
func asRequestError(err error) error {
	if e, ok := err.(*DecodeError); ok && e.Err == ErrTag {
		e.Err = ErrRequest
	}
	return err
}

// ref consumes the Ref of a request of op: a reference, or for fdset
// also a positive integer that fits an int64 (the generation the VM gives
// the interest), and returns its bytes.
func (d *Decoder) ref(op Op) ([]byte, error) {
	tag, err := d.Tag()
	if err != nil || op != OpFdset {
		return d.Ref()
	}
	switch tag {
	case tagSmallInteger, tagInteger, tagSmallBig, tagLargeBig:
	default:
		return d.Ref()
	}
	start := d.off
	v, overflow, err := d.Int()
	if err != nil {
		return nil, err
	}
	if overflow || v < 1 {
		d.off = start
		return nil, fail(start, ErrTag)
	}
	return d.buf[start:d.off:d.off], nil
}

// fd consumes the FD element into r.FD and r.FDValid.
func (d *Decoder) fd(r *Request) error {
	tag, err := d.Tag()
	if err != nil {
		return err
	}
	switch tag {
	case tagSmallInteger, tagInteger, tagSmallBig, tagLargeBig:
		v, overflow, err := d.Int()
		if err != nil {
			return err
		}
		if !overflow {
			r.FD, r.FDValid = v, true
		}
		return nil
	}
	return d.Skip()
}

// mode consumes the Mode element into r.Mode and r.ModeOK.
func (d *Decoder) mode(r *Request) error {
	tag, err := d.Tag()
	if err != nil {
		return err
	}
	if !isAtomTag(tag) {
		return d.Skip()
	}
	name, err := d.Atom()
	if err != nil {
		return err
	}
	switch string(name) {
	case "read":
		r.Mode, r.ModeOK = ModeRead, true
	case "write":
		r.Mode, r.ModeOK = ModeWrite, true
	case "read_write":
		r.Mode, r.ModeOK = ModeRW, true
	}
	return nil
}

func isAtomTag(tag byte) bool {
	switch tag {
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		return true
	}
	return false
}

// ioType consumes io_open's Type into r.IO.Type: IOInvalid for any term
// but the atoms stream and datagram.
func (d *Decoder) ioType(r *Request) error {
	tag, err := d.Tag()
	if err != nil {
		return err
	}
	if !isAtomTag(tag) {
		return d.Skip()
	}
	name, err := d.Atom()
	if err != nil {
		return err
	}
	switch string(name) {
	case "stream":
		r.IO.Type = IOStream
	case "datagram":
		r.IO.Type = IODatagram
	}
	return nil
}

// int64 consumes an integer that fits an int64; anything else is
// ErrRequest.
func (d *Decoder) int64() (int64, error) {
	at := d.off
	v, overflow, err := d.Int()
	if err != nil {
		return 0, asRequestError(err)
	}
	if overflow {
		return 0, fail(at, ErrRequest)
	}
	return v, nil
}
