package protocol

import (
	"bytes"
	"testing"
)

// The device specs of open (tun, tap, pty), written here term by term as
// term_to_binary writes a map with atom keys (in key order); the Common
// Test suite sends the same from OTP.

type atom string

// kv is one key and value of a spec or termios map.
type kv struct {
	k string
	v any // atom, string (a binary), int, []kv (a map), or a raw term ([]byte)
}

func appendTerm(dst []byte, v any) []byte {
	switch v := v.(type) {
	case atom:
		return AppendAtom(dst, string(v))
	case string:
		return appendBinaryString(dst, v)
	case int:
		return AppendInt(dst, int64(v))
	case []kv:
		dst = AppendMapHeader(dst, len(v))
		for _, e := range v {
			dst = appendTerm(AppendAtom(dst, e.k), e.v)
		}
		return dst
	case []byte:
		return append(dst, v...)
	}
	panic("appendTerm: unknown value")
}

// openWith is {open, Pid, Ref, Spec} for a spec term.
func openWith(tb testing.TB, spec any) []byte {
	tb.Helper()
	pid := readGolden(tb, "local", "mv2", "pid")[1:]
	ref := readGolden(tb, "local", "mv2", "ref")[1:]
	b := AppendAtom(AppendTupleHeader(AppendVersion(nil), 4), "open")
	return appendTerm(AppendRaw(AppendRaw(b, pid), ref), spec)
}

func ifName(s string) (n [IfNameMax]byte, l uint8) {
	return n, uint8(copy(n[:], s))
}

var deviceSpecs = []struct {
	name string
	spec []kv
	want *OpenSpec // nil: einval
}{
	{"tun with every key as inert_fd sends it", []kv{{"name", "tun7"}, {"pi", atom("false")}, {"type", atom("tun")}},
		func() *OpenSpec { n, l := ifName("tun7"); return &OpenSpec{Proto: ProtoTun, Name: n, NameLen: l} }()},
	{"tap with pi and a kernel pattern", []kv{{"name", "inert%d"}, {"pi", atom("true")}, {"type", atom("tap")}},
		func() *OpenSpec {
			n, l := ifName("inert%d")
			return &OpenSpec{Proto: ProtoTap, Name: n, NameLen: l, PI: true}
		}()},
	{"tun with the empty name lets the kernel pick", []kv{{"name", ""}, {"pi", atom("false")}, {"type", atom("tun")}},
		&OpenSpec{Proto: ProtoTun}},
	{"tun with the type alone", []kv{{"type", atom("tun")}}, &OpenSpec{Proto: ProtoTun}},
	{"tun with a name of 15 bytes", []kv{{"name", "abcdefghijklmno"}, {"type", atom("tun")}},
		func() *OpenSpec {
			n, l := ifName("abcdefghijklmno")
			return &OpenSpec{Proto: ProtoTun, Name: n, NameLen: l}
		}()},
	{"tun with a name of 16 bytes", []kv{{"name", "abcdefghijklmnop"}, {"type", atom("tun")}}, nil},
	{"tun with a slash in its name", []kv{{"name", "a/b"}, {"type", atom("tun")}}, nil},
	{"tun with a colon in its name", []kv{{"name", "a:b"}, {"type", atom("tun")}}, nil},
	{"tun with a space in its name", []kv{{"name", "a b"}, {"type", atom("tun")}}, nil},
	{"tun named dot", []kv{{"name", "."}, {"type", atom("tun")}}, nil},
	{"tun named dot dot", []kv{{"name", ".."}, {"type", atom("tun")}}, nil},
	{"tun with a non-ASCII name", []kv{{"name", "tün"}, {"type", atom("tun")}}, nil},
	{"tun with an atom for a name", []kv{{"name", atom("tun0")}, {"type", atom("tun")}}, nil},
	{"tun with pi not a boolean", []kv{{"pi", atom("no")}, {"type", atom("tun")}}, nil},
	{"tun with a port", []kv{{"port", 80}, {"type", atom("tun")}}, nil},
	{"tun with termios", []kv{{"termios", []kv{}}, {"type", atom("tun")}}, nil},
	{"tcp with a name", []kv{{"name", "tun0"}, {"type", atom("tcp")}}, nil},
	{"udp with pi", []kv{{"pi", atom("false")}, {"type", atom("udp")}}, nil},
	{"the default type with termios", []kv{{"termios", []kv{}}}, nil},
	{"pty with every termios key", []kv{{"termios", []kv{{"data_bits", 7}, {"flow", atom("hardware")},
		{"parity", atom("even")}, {"raw", atom("true")}, {"speed", 115200}, {"stop_bits", 2}}}, {"type", atom("pty")}},
		&OpenSpec{Proto: ProtoPty, Termios: Termios{Set: TermSpeed | TermRaw | TermDataBits | TermParity | TermStopBits | TermFlow,
			Speed: 115200, Raw: true, DataBits: 7, Parity: ParityEven, StopBits: 2, Flow: FlowHardware}}},
	{"pty with some termios keys", []kv{{"termios", []kv{{"flow", atom("software")}, {"parity", atom("odd")}, {"speed", 9600}}}, {"type", atom("pty")}},
		&OpenSpec{Proto: ProtoPty, Termios: Termios{Set: TermSpeed | TermParity | TermFlow, Speed: 9600, Parity: ParityOdd, Flow: FlowSoftware}}},
	{"pty with an empty termios", []kv{{"termios", []kv{}}, {"type", atom("pty")}}, &OpenSpec{Proto: ProtoPty}},
	{"pty with the type alone", []kv{{"type", atom("pty")}}, &OpenSpec{Proto: ProtoPty}},
	{"pty with raw false", []kv{{"termios", []kv{{"raw", atom("false")}}}, {"type", atom("pty")}},
		&OpenSpec{Proto: ProtoPty, Termios: Termios{Set: TermRaw}}},
	{"pty with speed 0", []kv{{"termios", []kv{{"speed", 0}}}, {"type", atom("pty")}}, nil},
	{"pty with a speed above 4000000", []kv{{"termios", []kv{{"speed", MaxSpeed + 1}}}, {"type", atom("pty")}}, nil},
	{"pty with 4 data bits", []kv{{"termios", []kv{{"data_bits", 4}}}, {"type", atom("pty")}}, nil},
	{"pty with 9 data bits", []kv{{"termios", []kv{{"data_bits", 9}}}, {"type", atom("pty")}}, nil},
	{"pty with mark parity", []kv{{"termios", []kv{{"parity", atom("mark")}}}, {"type", atom("pty")}}, nil},
	{"pty with 3 stop bits", []kv{{"termios", []kv{{"stop_bits", 3}}}, {"type", atom("pty")}}, nil},
	{"pty with flow xon", []kv{{"termios", []kv{{"flow", atom("xon")}}}, {"type", atom("pty")}}, nil},
	{"pty with raw not a boolean", []kv{{"termios", []kv{{"raw", 1}}}, {"type", atom("pty")}}, nil},
	{"pty with an unknown termios key", []kv{{"termios", []kv{{"echo", atom("true")}}}, {"type", atom("pty")}}, nil},
	{"pty with termios not a map", []kv{{"termios", []byte{tagNil}}, {"type", atom("pty")}}, nil},
	{"pty with a name", []kv{{"name", "x"}, {"type", atom("pty")}}, nil},
	{"pty with a backlog", []kv{{"backlog", 1}, {"type", atom("pty")}}, nil},
}

// A device spec decodes to the fields it gives, and any key of another
// type, unknown termios key or value out of range is einval (SpecOK
// false); every one round-trips through AppendRequest.
func TestDeviceSpecsDecodeOrAreEinval(t *testing.T) {
	for _, tc := range deviceSpecs {
		t.Run(tc.name, func(t *testing.T) {
			b := openWith(t, tc.spec)
			var r Request
			if err := ParseRequest(b, &r); err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			switch {
			case tc.want == nil && r.SpecOK:
				t.Fatalf("spec accepted as %+v, want einval", r.Spec)
			case tc.want != nil && !r.SpecOK:
				t.Fatalf("spec refused, want %+v", *tc.want)
			case tc.want != nil && r.Spec != *tc.want:
				t.Fatalf("spec = %+v, want %+v", r.Spec, *tc.want)
			}
			var again Request
			if err := ParseRequest(AppendRequest(nil, &r), &again); err != nil || !sameRequest(&r, &again) {
				t.Fatalf("re-encoded spec parses to %+v, %v; want %+v", again, err, r)
			}
		})
	}
}

// A spec with every key is written by AppendRequest byte for byte as it
// was given here (as OTP writes it, keys in term order).
func TestAppendRequestWritesDeviceSpecsInKeyOrder(t *testing.T) {
	for _, i := range []int{0, 1, 19, 20} {
		tc := deviceSpecs[i]
		b := openWith(t, tc.spec)
		var r Request
		if err := ParseRequest(b, &r); err != nil || !r.SpecOK {
			t.Fatalf("%s: %v, SpecOK %v", tc.name, err, r.SpecOK)
		}
		if got := AppendRequest(nil, &r); !bytes.Equal(got, b) {
			t.Errorf("%s: AppendRequest\n %v\nwant\n %v", tc.name, got, b)
		}
	}
}

// The handover of a device names what the kernel made: {fd, Pid, Ref,
// Info}; without info it is the handover of dup and socket opens.
func TestHandoverInfoIsAMapAfterPidAndRef(t *testing.T) {
	pid := readGolden(t, "local", "mv2", "pid")[1:]
	ref := readGolden(t, "local", "mv2", "ref")[1:]
	if got, want := AppendHandoverInfo(nil, pid, ref, &HandInfo{}), AppendHandover(nil, pid, ref); !bytes.Equal(got, want) {
		t.Fatalf("empty info: %v, want {fd, Pid, Ref} %v", got, want)
	}
	head := AppendRaw(AppendRaw(AppendAtom(AppendTupleHeader(AppendVersion(nil), 4), "fd"), pid), ref)
	for _, tc := range []struct {
		h    HandInfo
		want []kv
	}{
		{HandInfo{Name: "tun3"}, []kv{{"name", "tun3"}}},
		{HandInfo{Path: "/dev/pts/4", Peer: true}, []kv{{"path", "/dev/pts/4"}, {"peer", atom("true")}}},
	} {
		if got, want := AppendHandoverInfo(nil, pid, ref, &tc.h), appendTerm(bytes.Clone(head), tc.want); !bytes.Equal(got, want) {
			t.Errorf("%+v: %v, want %v", tc.h, got, want)
		}
	}
}

// FuzzOpenSpec: any bytes as the Spec of an open request never panic; a
// spec that decodes holds values in range and re-encodes to itself.
func FuzzOpenSpec(f *testing.F) {
	for _, tc := range deviceSpecs {
		f.Add(appendTerm(nil, tc.spec))
	}
	for _, name := range []string{"req_open_tcp", "req_open_udp6"} {
		b := readGolden(f, "local", "mv2", name)
		var d Decoder
		d.Reset(b[1:])
		d.TupleHeader()
		for range 3 {
			d.Skip()
		}
		f.Add(b[1+d.Offset():])
	}
	f.Fuzz(func(t *testing.T, spec []byte) {
		b := openWith(t, spec)
		var r Request
		if err := ParseRequest(b, &r); err != nil {
			checkDecodeError(t, err, len(b))
			return
		}
		if !r.SpecOK {
			return
		}
		s := r.Spec
		tm := s.Termios
		switch {
		case s.Proto < ProtoTCP || s.Proto > ProtoPty:
			t.Fatalf("proto %d", s.Proto)
		case int(s.NameLen) > IfNameMax || (s.NameLen > 0 || s.PI) && !s.Proto.IsTun():
			t.Fatalf("name or pi on %s: %+v", s.Proto, s)
		case tm.Set != 0 && s.Proto != ProtoPty:
			t.Fatalf("termios on %s: %+v", s.Proto, s)
		case tm.Has(TermSpeed) && (tm.Speed < 1 || tm.Speed > MaxSpeed),
			tm.Has(TermDataBits) && (tm.DataBits < 5 || tm.DataBits > 8),
			tm.Has(TermStopBits) && tm.StopBits != 1 && tm.StopBits != 2,
			tm.Has(TermParity) && (tm.Parity < ParityNone || tm.Parity > ParityOdd),
			tm.Has(TermFlow) && (tm.Flow < FlowNone || tm.Flow > FlowSoftware):
			t.Fatalf("termios out of range: %+v", tm)
		}
		var again Request
		if err := ParseRequest(AppendRequest(nil, &r), &again); err != nil || !sameRequest(&r, &again) {
			t.Fatalf("spec %+v re-encoded parses to %+v, %v", r.Spec, again.Spec, err)
		}
	})
}
