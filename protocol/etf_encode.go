package protocol

import "encoding/binary"

// The Append* encoders write one term, or a container header, at the end
// of dst and return the extended slice, like strconv.AppendInt. They write
// what OTP 25's term_to_binary(T, [{minor_version, 2}]) writes for the
// same term: UTF-8 atoms, the smallest integer encoding, SMALL_TUPLE_EXT
// below 256 elements. (OTP 25's default, minor version 1, writes Latin-1
// atoms as ATOM_EXT instead; the VM decodes both.) A container header is
// followed by exactly the elements it announces, written by the caller.

// AppendVersion appends the version byte 131 that starts every term.
func AppendVersion(dst []byte) []byte { return append(dst, tagVersion) }

// AppendTupleHeader appends the header of a tuple of arity elements:
// SMALL_TUPLE_EXT up to 255, LARGE_TUPLE_EXT above.
func AppendTupleHeader(dst []byte, arity int) []byte {
	if arity <= 0xff {
		return append(dst, tagSmallTuple, byte(arity))
	}
	return binary.BigEndian.AppendUint32(append(dst, tagLargeTuple), uint32(arity))
}

// AppendListHeader appends the header of a list of n elements (LIST_EXT);
// the elements and then the tail (AppendNil for a proper list) follow.
// For n == 0 it appends nothing, so that the same sequence writes [] as
// the single NIL_EXT byte, as OTP does.
func AppendListHeader(dst []byte, n int) []byte {
	if n == 0 {
		return dst
	}
	return binary.BigEndian.AppendUint32(append(dst, tagList), uint32(n))
}

// AppendNil appends [] (NIL_EXT), also the tail of a proper list.
func AppendNil(dst []byte) []byte { return append(dst, tagNil) }

// AppendMapHeader appends the header of a map of arity pairs (MAP_EXT);
// key and value terms alternate after it. OTP writes the keys of a map of
// up to 32 pairs in term order (atoms: by name); a map in another order
// decodes to the same map but is not byte-identical to OTP's.
func AppendMapHeader(dst []byte, arity int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, tagMap), uint32(arity))
}

// AppendAtom appends the atom name, given in UTF-8: SMALL_ATOM_UTF8_EXT up
// to 255 bytes, ATOM_UTF8_EXT above. The VM refuses atoms of more than
// 255 characters, and with them the whole frame: names are the caller's
// constants.
func AppendAtom(dst []byte, name string) []byte {
	if len(name) <= 0xff {
		dst = append(dst, tagSmallAtomUTF8, byte(len(name)))
	} else {
		dst = binary.BigEndian.AppendUint16(append(dst, tagAtomUTF8), uint16(len(name)))
	}
	return append(dst, name...)
}

// AppendInt appends v as OTP encodes it: SMALL_INTEGER_EXT for 0..255,
// INTEGER_EXT for the rest of the int32 range, SMALL_BIG_EXT (sign byte,
// then the fewest little-endian digits) beyond.
func AppendInt(dst []byte, v int64) []byte {
	switch {
	case 0 <= v && v <= 0xff:
		return append(dst, tagSmallInteger, byte(v))
	case int64(int32(v)) == v:
		return binary.BigEndian.AppendUint32(append(dst, tagInteger), uint32(v))
	}
	var sign byte
	mag := uint64(v)
	if v < 0 {
		sign, mag = 1, -mag // MinInt64 gives 1<<63, as wanted
	}
	n := 0
	for m := mag; m != 0; m >>= 8 {
		n++
	}
	dst = append(dst, tagSmallBig, byte(n), sign)
	for ; n > 0; n-- {
		dst = append(dst, byte(mag))
		mag >>= 8
	}
	return dst
}

// AppendBinary appends b as a binary (BINARY_EXT).
func AppendBinary(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(append(dst, tagBinary), uint32(len(b)))
	return append(dst, b...)
}

func appendBinaryString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(append(dst, tagBinary), uint32(len(s)))
	return append(dst, s...)
}

// AppendRaw appends a term that is already encoded, without its version
// byte: a pid, reference or other term as Decoder returned it.
func AppendRaw(dst, term []byte) []byte { return append(dst, term...) }
