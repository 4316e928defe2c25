package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Tags of the external term format (OTP erts/doc/src/erl_ext_dist.xml).
const (
	tagVersion        = 131
	tagNewFloat       = 70
	tagBitBinary      = 77
	tagNewPid         = 88
	tagNewPort        = 89
	tagNewerReference = 90
	tagSmallInteger   = 97
	tagInteger        = 98
	tagFloat          = 99
	tagAtom           = 100
	tagReference      = 101
	tagPort           = 102
	tagPid            = 103
	tagSmallTuple     = 104
	tagLargeTuple     = 105
	tagNil            = 106
	tagString         = 107
	tagList           = 108
	tagBinary         = 109
	tagSmallBig       = 110
	tagLargeBig       = 111
	tagNewFun         = 112
	tagExport         = 113
	tagNewReference   = 114
	tagSmallAtom      = 115
	tagMap            = 116
	tagFun            = 117
	tagAtomUTF8       = 118
	tagSmallAtomUTF8  = 119
	tagV4Port         = 120
)

// maxRefWords is the most ID words OTP 25 accepts in a reference.
const maxRefWords = 5

// Reasons a term cannot be decoded. A *DecodeError wraps one of them.
var (
	ErrTruncated = errors.New("truncated term")
	ErrVersion   = errors.New("no version byte 131")
	ErrTag       = errors.New("unexpected tag")
	ErrMalformed = errors.New("malformed term")
	ErrTrailing  = errors.New("trailing bytes after the term")
	ErrRequest   = errors.New("not a request")
)

// DecodeError says why and where decoding stopped.
type DecodeError struct {
	Off int   // offset in the decoded buffer
	Err error // ErrTruncated, ErrVersion, ErrTag, ErrMalformed, ErrTrailing or ErrRequest
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("etf: %v at offset %d", e.Err, e.Off)
}

func (e *DecodeError) Unwrap() error { return e.Err }

func fail(off int, err error) *DecodeError { return &DecodeError{Off: off, Err: err} }

// Decoder is a cursor over ETF bytes. It never allocates on success and
// never reads past the buffer: every length field is checked against the
// bytes that remain before it is used. The slices it returns alias the
// buffer. A method that fails leaves the cursor where it was. The zero
// Decoder is an empty buffer; Reset points it at one.
type Decoder struct {
	buf []byte
	off int
}

// Reset makes d decode b from its first byte.
func (d *Decoder) Reset(b []byte) { d.buf, d.off = b, 0 }

// Offset returns the cursor position in the buffer.
func (d *Decoder) Offset() int { return d.off }

// Len returns the number of bytes left after the cursor.
func (d *Decoder) Len() int { return len(d.buf) - d.off }

// Version consumes the version byte 131 that starts a term_to_binary
// result. A compressed term (131, 80, ...) passes here and fails on the
// next read with ErrTag.
func (d *Decoder) Version() error {
	if d.off >= len(d.buf) {
		return fail(d.off, ErrTruncated)
	}
	if d.buf[d.off] != tagVersion {
		return fail(d.off, ErrVersion)
	}
	d.off++
	return nil
}

// Tag returns the tag byte of the next term without consuming it.
func (d *Decoder) Tag() (byte, error) {
	if d.off >= len(d.buf) {
		return 0, fail(d.off, ErrTruncated)
	}
	return d.buf[d.off], nil
}

// TupleHeader consumes a SMALL_TUPLE_EXT or LARGE_TUPLE_EXT header and
// returns the arity; the elements follow.
func (d *Decoder) TupleHeader() (int, error) {
	end, n, err := d.header(tagSmallTuple, tagLargeTuple, 1)
	if err != nil {
		return 0, err
	}
	d.off = end
	return n, nil
}

// ListHeader consumes a LIST_EXT header and returns the number of
// elements n; after them comes the list's tail (NIL_EXT for a proper
// list). For [] it returns 0 with nothing to follow: it consumes NIL_EXT,
// or a LIST_EXT of no elements together with its NIL_EXT tail (OTP does
// not write that form, but reads it). STRING_EXT is not accepted: step
// over it with Skip.
func (d *Decoder) ListHeader() (int, error) {
	if d.off < len(d.buf) && d.buf[d.off] == tagNil {
		d.off++
		return 0, nil
	}
	end, n, err := d.header(0, tagList, 1)
	if err != nil {
		return 0, err
	}
	if n+1 > len(d.buf)-end { // the elements and the tail
		return 0, fail(d.off, ErrTruncated)
	}
	if n == 0 {
		if d.buf[end] != tagNil {
			return 0, fail(end, ErrMalformed) // [ | Tail] is not a list
		}
		end++
	}
	d.off = end
	return n, nil
}

// Nil consumes NIL_EXT, the empty list.
func (d *Decoder) Nil() error {
	if d.off >= len(d.buf) {
		return fail(d.off, ErrTruncated)
	}
	if d.buf[d.off] != tagNil {
		return fail(d.off, ErrTag)
	}
	d.off++
	return nil
}

// MapHeader consumes a MAP_EXT header and returns the number of pairs;
// key and value terms alternate after it.
func (d *Decoder) MapHeader() (int, error) {
	end, n, err := d.header(0, tagMap, 2)
	if err != nil {
		return 0, err
	}
	d.off = end
	return n, nil
}

// header reads a container header with a 1-byte (small) or 4-byte (large)
// count, and checks that count*per terms of at least one byte each fit in
// the rest of the buffer. A small tag of 0 means there is no small form.
func (d *Decoder) header(small, large byte, per uint64) (end, n int, err error) {
	b, off := d.buf, d.off
	if off >= len(b) {
		return 0, 0, fail(off, ErrTruncated)
	}
	var count uint64
	switch tag := b[off]; {
	case tag == small && small != 0:
		if off+2 > len(b) {
			return 0, 0, fail(off, ErrTruncated)
		}
		count, end = uint64(b[off+1]), off+2
	case tag == large:
		if off+5 > len(b) {
			return 0, 0, fail(off, ErrTruncated)
		}
		count, end = uint64(binary.BigEndian.Uint32(b[off+1:])), off+5
	default:
		return 0, 0, fail(off, ErrTag)
	}
	if count*per > uint64(len(b)-end) {
		return 0, 0, fail(off, ErrTruncated)
	}
	return end, int(count), nil
}

// Atom consumes an atom (ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT or
// SMALL_ATOM_UTF8_EXT) and returns its name: Latin-1 bytes for the first
// two, UTF-8 for the others. The two agree on ASCII names, which are all
// the protocol uses.
func (d *Decoder) Atom() ([]byte, error) {
	name, end, err := atomAt(d.buf, d.off)
	if err != nil {
		return nil, err
	}
	d.off = end
	return name, nil
}

func atomAt(b []byte, off int) (name []byte, end int, err error) {
	if off >= len(b) {
		return nil, 0, fail(off, ErrTruncated)
	}
	var n int
	switch b[off] {
	case tagSmallAtom, tagSmallAtomUTF8:
		if off+2 > len(b) {
			return nil, 0, fail(off, ErrTruncated)
		}
		n, end = int(b[off+1]), off+2
	case tagAtom, tagAtomUTF8:
		if off+3 > len(b) {
			return nil, 0, fail(off, ErrTruncated)
		}
		n, end = int(binary.BigEndian.Uint16(b[off+1:])), off+3
	default:
		return nil, 0, fail(off, ErrTag)
	}
	if n > len(b)-end {
		return nil, 0, fail(off, ErrTruncated)
	}
	return b[end : end+n : end+n], end + n, nil
}

// Int consumes an integer (SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT
// or LARGE_BIG_EXT). A value outside int64 is consumed and reported with
// overflow true and v 0; it is not an error. As in OTP, a non-zero sign
// byte means negative and leading zero digits are allowed.
func (d *Decoder) Int() (v int64, overflow bool, err error) {
	b, off := d.buf, d.off
	if off >= len(b) {
		return 0, false, fail(off, ErrTruncated)
	}
	var n, digits int
	switch b[off] {
	case tagSmallInteger:
		if off+2 > len(b) {
			return 0, false, fail(off, ErrTruncated)
		}
		d.off = off + 2
		return int64(b[off+1]), false, nil
	case tagInteger:
		if off+5 > len(b) {
			return 0, false, fail(off, ErrTruncated)
		}
		d.off = off + 5
		return int64(int32(binary.BigEndian.Uint32(b[off+1:]))), false, nil
	case tagSmallBig:
		if off+3 > len(b) {
			return 0, false, fail(off, ErrTruncated)
		}
		n, digits = int(b[off+1]), off+3
	case tagLargeBig:
		if off+6 > len(b) {
			return 0, false, fail(off, ErrTruncated)
		}
		n64 := uint64(binary.BigEndian.Uint32(b[off+1:]))
		if n64 > uint64(len(b)-off-6) {
			return 0, false, fail(off, ErrTruncated)
		}
		n, digits = int(n64), off+6
	default:
		return 0, false, fail(off, ErrTag)
	}
	if n > len(b)-digits {
		return 0, false, fail(off, ErrTruncated)
	}
	negative := b[digits-1] != 0
	d.off = digits + n
	// Little-endian digits; ignore leading (high) zeros.
	top := n
	for top > 0 && b[digits+top-1] == 0 {
		top--
	}
	if top > 8 {
		return 0, true, nil
	}
	var mag uint64
	for i := top - 1; i >= 0; i-- {
		mag = mag<<8 | uint64(b[digits+i])
	}
	switch {
	case !negative && mag <= 1<<63-1:
		return int64(mag), false, nil
	case negative && mag <= 1<<63:
		return -int64(mag), false, nil // 1<<63 wraps to MinInt64, as wanted
	}
	return 0, true, nil
}

// Pid consumes a pid (NEW_PID_EXT or PID_EXT) and returns the whole term,
// tag included.
func (d *Decoder) Pid() ([]byte, error) {
	return d.raw(pidAt)
}

// Ref consumes a reference (NEWER_REFERENCE_EXT, NEW_REFERENCE_EXT or
// REFERENCE_EXT) and returns the whole term, tag included.
func (d *Decoder) Ref() ([]byte, error) {
	return d.raw(refAt)
}

// Term consumes any term, as Skip does, and returns its bytes.
func (d *Decoder) Term() ([]byte, error) {
	return d.raw(skipAt)
}

func (d *Decoder) raw(at func([]byte, int) (int, error)) ([]byte, error) {
	end, err := at(d.buf, d.off)
	if err != nil {
		return nil, err
	}
	t := d.buf[d.off:end:end]
	d.off = end
	return t, nil
}

// Binary consumes a BINARY_EXT and returns its bytes.
func (d *Decoder) Binary() ([]byte, error) {
	b, off := d.buf, d.off
	if off >= len(b) {
		return nil, fail(off, ErrTruncated)
	}
	if b[off] != tagBinary {
		return nil, fail(off, ErrTag)
	}
	end, err := sized(b, off, 0, 4, 1, 0)
	if err != nil {
		return nil, err
	}
	d.off = end
	return b[off+5 : end : end], nil
}

// Skip consumes the next term whatever its type. It does not recurse: it
// counts the terms still owed by the containers it has entered, and that
// count never exceeds the bytes left, so stack and time are bounded by
// the input's length whatever its nesting. Atom cache references and
// compressed terms, which term_to_binary does not write, are ErrTag.
func (d *Decoder) Skip() error {
	end, err := skipAt(d.buf, d.off)
	if err != nil {
		return err
	}
	d.off = end
	return nil
}

// sized returns the end of a term at off whose tag is followed by fixed
// bytes, then a big-endian length of lenSize bytes (1, 2 or 4), then
// length*unit+extra more bytes (extra: fields between the length and the
// data). Without a length field (lenSize 0) the term is fixed+extra bytes.
func sized(b []byte, off, fixed, lenSize int, unit, extra uint64) (int, error) {
	p := off + 1 + fixed
	if lenSize > len(b)-p {
		return 0, fail(off, ErrTruncated)
	}
	var n uint64
	switch lenSize {
	case 1:
		n = uint64(b[p])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[p:]))
	case 4:
		n = uint64(binary.BigEndian.Uint32(b[p:]))
	}
	p += lenSize
	need := n*unit + extra
	if need > uint64(len(b)-p) {
		return 0, fail(off, ErrTruncated)
	}
	return p + int(need), nil
}

// pidAt returns the end of the pid at off.
func pidAt(b []byte, off int) (int, error) {
	if off >= len(b) {
		return 0, fail(off, ErrTruncated)
	}
	switch b[off] {
	case tagNewPid:
		return nodeThen(b, off, 12) // ID, Serial, Creation: 4 bytes each
	case tagPid:
		return nodeThen(b, off, 9) // ID, Serial: 4 bytes; Creation: 1 byte
	}
	return 0, fail(off, ErrTag)
}

// refAt returns the end of the reference at off.
func refAt(b []byte, off int) (int, error) {
	if off >= len(b) {
		return 0, fail(off, ErrTruncated)
	}
	switch b[off] {
	case tagReference:
		return nodeThen(b, off, 5) // ID: 4 bytes, Creation: 1 byte
	case tagNewerReference, tagNewReference:
		if off+3 > len(b) {
			return 0, fail(off, ErrTruncated)
		}
		words := int(binary.BigEndian.Uint16(b[off+1:]))
		if words > maxRefWords {
			return 0, fail(off, ErrMalformed)
		}
		creation := 4
		if b[off] == tagNewReference {
			creation = 1
		}
		// Len, Node, Creation, ID words: nodeThen(off+2) reads the node at off+3.
		end, err := nodeThen(b, off+2, creation+4*words)
		if e, ok := err.(*DecodeError); ok {
			return 0, fail(off, e.Err)
		}
		return end, err
	}
	return 0, fail(off, ErrTag)
}

// nodeThen returns the end of a pid, port or reference at off whose node
// atom starts at off+1 and is followed by n bytes.
func nodeThen(b []byte, off, n int) (int, error) {
	_, end, err := atomAt(b, off+1)
	if e, ok := err.(*DecodeError); ok {
		if e.Err == ErrTag {
			return 0, fail(off, ErrMalformed) // the node is not an atom
		}
		return 0, fail(off, e.Err)
	}
	if n > len(b)-end {
		return 0, fail(off, ErrTruncated)
	}
	return end + n, nil
}

// skipAt returns the end of the term at off. See Skip.
func skipAt(b []byte, off int) (int, error) {
	owed := 1 // terms still to step over
	for owed > 0 {
		owed--
		if off >= len(b) {
			return 0, fail(off, ErrTruncated)
		}
		var (
			end      int
			err      error
			children uint64 // terms that follow this one's header
		)
		switch b[off] {
		case tagSmallInteger:
			end, err = sized(b, off, 1, 0, 0, 0)
		case tagInteger:
			end, err = sized(b, off, 4, 0, 0, 0)
		case tagNewFloat:
			end, err = sized(b, off, 8, 0, 0, 0)
		case tagFloat:
			end, err = sized(b, off, 31, 0, 0, 0)
		case tagNil:
			end = off + 1
		case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
			_, end, err = atomAt(b, off)
		case tagNewPid, tagPid:
			end, err = pidAt(b, off)
		case tagNewerReference, tagNewReference, tagReference:
			end, err = refAt(b, off)
		case tagNewPort:
			end, err = nodeThen(b, off, 8)
		case tagPort:
			end, err = nodeThen(b, off, 5)
		case tagV4Port:
			end, err = nodeThen(b, off, 12)
		case tagString:
			end, err = sized(b, off, 0, 2, 1, 0)
		case tagBinary:
			end, err = sized(b, off, 0, 4, 1, 0)
		case tagBitBinary:
			end, err = sized(b, off, 0, 4, 1, 1) // Bits byte after Len
		case tagSmallBig:
			end, err = sized(b, off, 0, 1, 1, 1) // Sign byte after n
		case tagLargeBig:
			end, err = sized(b, off, 0, 4, 1, 1)
		case tagNewFun:
			// Size counts its own 4 bytes and everything after them.
			if off+5 > len(b) {
				return 0, fail(off, ErrTruncated)
			}
			size := uint64(binary.BigEndian.Uint32(b[off+1:]))
			if size < 4 {
				return 0, fail(off, ErrMalformed)
			}
			if size > uint64(len(b)-off-1) {
				return 0, fail(off, ErrTruncated)
			}
			end = off + 1 + int(size)
		case tagSmallTuple:
			end, err = sized(b, off, 1, 0, 0, 0)
			if err == nil {
				children = uint64(b[off+1])
			}
		case tagLargeTuple, tagList, tagMap, tagFun:
			end, err = sized(b, off, 4, 0, 0, 0)
			if err != nil {
				break
			}
			n := uint64(binary.BigEndian.Uint32(b[off+1:]))
			switch b[off] {
			case tagLargeTuple:
				children = n
			case tagList:
				children = n + 1 // and the tail
			case tagMap:
				children = 2 * n
			case tagFun:
				children = 4 + n // Pid, Module, Index, Uniq, free variables
			}
		case tagExport:
			end, children = off+1, 3 // Module, Function, Arity
		default:
			return 0, fail(off, ErrTag)
		}
		if err != nil {
			return 0, err
		}
		// Every owed term needs at least one byte.
		if left := len(b) - end - owed; left < 0 || children > uint64(left) {
			return 0, fail(off, ErrTruncated)
		}
		owed += int(children)
		off = end
	}
	return off, nil
}
