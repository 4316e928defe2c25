package protocol

import (
	"bytes"
	"errors"
	"math"
	"os"
	"testing"
)

func decoderOn(b []byte) *Decoder {
	var d Decoder
	d.Reset(b)
	return &d
}

func TestIntDecodesEveryIntegerEncoding(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       []byte
		v        int64
		overflow bool
	}{
		{"small 0", []byte{97, 0}, 0, false},
		{"small 255", []byte{97, 255}, 255, false},
		{"integer -1", []byte{98, 255, 255, 255, 255}, -1, false},
		{"integer min", []byte{98, 128, 0, 0, 0}, math.MinInt32, false},
		{"small big 2^31", []byte{110, 4, 0, 0, 0, 0, 128}, 1 << 31, false},
		{"small big -2^31-1", []byte{110, 4, 1, 1, 0, 0, 128}, -1<<31 - 1, false},
		{"small big zero digits", []byte{110, 0, 0}, 0, false},
		{"small big negative zero", []byte{110, 0, 1}, 0, false},
		{"small big leading zeros", []byte{110, 10, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 5, false},
		{"small big sign 2 is negative (as OTP)", []byte{110, 1, 2, 5}, -5, false},
		{"small big max int64", []byte{110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127}, math.MaxInt64, false},
		{"small big 2^63 overflows", []byte{110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 128}, 0, true},
		{"small big -2^63", []byte{110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128}, math.MinInt64, false},
		{"small big -2^63-1 overflows", []byte{110, 8, 1, 1, 0, 0, 0, 0, 0, 0, 128}, 0, true},
		{"small big 9 digits overflow", []byte{110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 0, true},
		{"large big 7", []byte{111, 0, 0, 0, 1, 0, 7}, 7, false},
		{"large big 300 digits overflow", append([]byte{111, 0, 0, 1, 44, 0}, bytes.Repeat([]byte{1}, 300)...), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decoderOn(tc.in)
			v, overflow, err := d.Int()
			if err != nil || v != tc.v || overflow != tc.overflow || d.Len() != 0 {
				t.Fatalf("Int() = %d, %v, %v, %d left; want %d, %v", v, overflow, err, d.Len(), tc.v, tc.overflow)
			}
		})
	}
}

// Every read checks lengths against the bytes left and fails without
// moving the cursor; a huge length field costs nothing.
func TestReadersRejectBadInputWithoutMoving(t *testing.T) {
	readers := map[string]func(*Decoder) error{
		"Version":     func(d *Decoder) error { return d.Version() },
		"TupleHeader": func(d *Decoder) error { _, err := d.TupleHeader(); return err },
		"ListHeader":  func(d *Decoder) error { _, err := d.ListHeader(); return err },
		"MapHeader":   func(d *Decoder) error { _, err := d.MapHeader(); return err },
		"Nil":         func(d *Decoder) error { return d.Nil() },
		"Atom":        func(d *Decoder) error { _, err := d.Atom(); return err },
		"Int":         func(d *Decoder) error { _, _, err := d.Int(); return err },
		"Pid":         func(d *Decoder) error { _, err := d.Pid(); return err },
		"Ref":         func(d *Decoder) error { _, err := d.Ref(); return err },
		"Binary":      func(d *Decoder) error { _, err := d.Binary(); return err },
		"Skip":        func(d *Decoder) error { return d.Skip() },
		"Term":        func(d *Decoder) error { _, err := d.Term(); return err },
	}
	for _, tc := range []struct {
		name   string
		reader string
		in     []byte
		want   error
	}{
		{"empty", "Skip", nil, ErrTruncated},
		{"no version", "Version", []byte{104}, ErrVersion},
		{"tuple of 2^32-1", "TupleHeader", []byte{105, 255, 255, 255, 255, 97}, ErrTruncated},
		{"small tuple beyond input", "TupleHeader", []byte{104, 3, 97, 1}, ErrTruncated},
		{"list of 2^32-1", "ListHeader", []byte{108, 255, 255, 255, 255, 106}, ErrTruncated},
		{"list without room for its tail", "ListHeader", []byte{108, 0, 0, 0, 1, 106}, ErrTruncated},
		{"map of 2^32-1", "MapHeader", []byte{116, 255, 255, 255, 255}, ErrTruncated},
		{"map with half a pair", "MapHeader", []byte{116, 0, 0, 0, 1, 106}, ErrTruncated},
		{"tuple is not a list", "ListHeader", []byte{104, 0}, ErrTag},
		{"atom of 65535", "Atom", []byte{100, 255, 255, 'a'}, ErrTruncated},
		{"small atom of 255", "Atom", []byte{119, 255, 'a'}, ErrTruncated},
		{"integer is not an atom", "Atom", []byte{97, 1}, ErrTag},
		{"cut integer", "Int", []byte{98, 0, 0}, ErrTruncated},
		{"large big of 2^32-1", "Int", []byte{111, 255, 255, 255, 255, 0, 1}, ErrTruncated},
		{"small big of 255", "Int", []byte{110, 255, 0, 1}, ErrTruncated},
		{"atom is not an integer", "Int", []byte{119, 0}, ErrTag},
		{"binary of 2^32-1", "Binary", []byte{109, 255, 255, 255, 255, 0}, ErrTruncated},
		{"pid node not an atom", "Pid", []byte{88, 97, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
		{"pid cut after node", "Pid", []byte{88, 119, 1, 'a', 0, 0, 0}, ErrTruncated},
		{"ref of 6 words (OTP 25 allows 5)", "Ref", append([]byte{90, 0, 6, 119, 1, 'a'}, make([]byte, 28)...), ErrMalformed},
		{"ref of 65535 words", "Ref", []byte{90, 255, 255, 119, 1, 'a', 0, 0, 0, 0}, ErrMalformed},
		{"ref cut", "Ref", []byte{90, 0, 3, 119, 1, 'a', 0, 0, 0, 0, 1}, ErrTruncated},
		{"pid is not a ref", "Ref", []byte{88}, ErrTag},
		{"string of 65535", "Skip", []byte{107, 255, 255, 1}, ErrTruncated},
		{"bit binary of 2^32-1", "Skip", []byte{77, 255, 255, 255, 255, 3, 1}, ErrTruncated},
		{"fun with 2^32-1 free variables", "Skip", []byte{117, 255, 255, 255, 255, 88}, ErrTruncated},
		{"new fun of 2^32-1 bytes", "Skip", []byte{112, 255, 255, 255, 255, 1}, ErrTruncated},
		{"new fun of size < 4", "Skip", []byte{112, 0, 0, 0, 3, 1}, ErrMalformed},
		{"export with its atoms missing", "Skip", []byte{113, 119, 1, 'm'}, ErrTruncated},
		{"atom cache reference", "Skip", []byte{82, 0}, ErrTag},
		{"compressed term", "Skip", []byte{80, 0, 0, 0, 1, 120}, ErrTag},
		{"local ext (OTP 26)", "Skip", []byte{121, 0}, ErrTag},
		{"tag 0", "Skip", []byte{0}, ErrTag},
		{"nested lists cut", "Skip", []byte{108, 0, 0, 0, 1, 108, 0, 0, 0, 1, 108, 0, 0, 0, 1}, ErrTruncated},
		{"ergo's out-of-memory input", "Skip", []byte("Z00lllll00"), ErrMalformed},
		{"ergo's 5-byte large tuple", "Skip", []byte{105, 0x7f, 0xff, 0xff, 0xff}, ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decoderOn(tc.in)
			err := readers[tc.reader](d)
			var de *DecodeError
			if !errors.Is(err, tc.want) || !errors.As(err, &de) {
				t.Fatalf("%s = %v, want %v", tc.reader, err, tc.want)
			}
			if de.Off < 0 || de.Off > len(tc.in) || d.Offset() != 0 {
				t.Fatalf("error offset %d, cursor %d", de.Off, d.Offset())
			}
		})
	}
}

func TestSkipStepsOverDeepNestingWithoutRecursion(t *testing.T) {
	const depth = 1 << 20
	b := bytes.Repeat([]byte{104, 1}, depth) // {{{...}}}
	b = append(b, 106)
	d := decoderOn(b)
	if err := d.Skip(); err != nil || d.Len() != 0 {
		t.Fatalf("Skip() = %v, %d left", err, d.Len())
	}
	if err := decoderOn(b[:len(b)-1]).Skip(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Skip() of the cut term = %v", err)
	}
}

// Skip steps over every golden term exactly, and ETF is prefix-free: any
// strict prefix of a term is ErrTruncated.
func TestSkipConsumesExactlyEachGoldenTerm(t *testing.T) {
	for _, name := range goldenFiles(t) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		term := b[1:]
		d := decoderOn(term)
		if raw, err := d.Term(); err != nil || d.Len() != 0 || !bytes.Equal(raw, term) {
			t.Fatalf("%s: Term() = %v, %d left", name, err, d.Len())
		}
		for n := range len(term) {
			if err := decoderOn(term[:n]).Skip(); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: Skip() of the first %d bytes = %v, want ErrTruncated", name, n, err)
			}
		}
	}
}

func TestTypedReadersReadGoldenTerms(t *testing.T) {
	for _, enc := range encodings {
		c := loadComponents(t, "sname", enc)
		for _, name := range []string{"pid", "pid2", "pid_serial", "pid_remote"} {
			if raw, err := decoderOn(c[name]).Pid(); err != nil || !bytes.Equal(raw, c[name]) {
				t.Errorf("%s/%s: Pid() = %v, %v", enc, name, raw, err)
			}
		}
		for _, name := range []string{"ref", "ref_alias", "ref_remote"} {
			if raw, err := decoderOn(c[name]).Ref(); err != nil || !bytes.Equal(raw, c[name]) {
				t.Errorf("%s/%s: Ref() = %v, %v", enc, name, raw, err)
			}
		}
		bin := readGolden(t, "terms", enc, "bin_abc")[1:]
		if got, err := decoderOn(bin).Binary(); err != nil || string(got) != "abc" {
			t.Errorf("Binary() = %q, %v", got, err)
		}
		d := decoderOn(readGolden(t, "terms", enc, "list3")[1:])
		n, err := d.ListHeader()
		v, _, _ := d.Int()
		a, _ := d.Atom()
		s, _ := d.Binary()
		if err != nil || n != 3 || v != 1 || string(a) != "two" || string(s) != "3" || d.Nil() != nil || d.Len() != 0 {
			t.Errorf("list3: %d elements, %d %q %q, %v", n, v, a, s, err)
		}
		if n, err := decoderOn(readGolden(t, "terms", enc, "nil")[1:]).ListHeader(); n != 0 || err != nil {
			t.Errorf("ListHeader([]) = %d, %v", n, err)
		}
		if n, err := decoderOn(readGolden(t, "terms", enc, "tuple256")[1:]).TupleHeader(); n != 256 || err != nil {
			t.Errorf("TupleHeader() = %d, %v", n, err)
		}
		if n, err := decoderOn(readGolden(t, "terms", enc, "map0")[1:]).MapHeader(); n != 0 || err != nil {
			t.Errorf("MapHeader() = %d, %v", n, err)
		}
		for name, want := range map[string]int64{"int_m2p63": math.MinInt64, "int_2p63m1": math.MaxInt64,
			"int_m2p31m1": -1<<31 - 1, "int_256": 256} {
			if v, overflow, err := decoderOn(readGolden(t, "terms", enc, name)[1:]).Int(); v != want || overflow || err != nil {
				t.Errorf("%s: Int() = %d, %v, %v", name, v, overflow, err)
			}
		}
	}
}

func TestDecodeErrorNamesReasonAndOffset(t *testing.T) {
	err := ParseRequest([]byte{131, 104, 2, 119, 5, 'h', 'e', 'l', 'l', 'o', 97}, new(Request))
	if got := err.Error(); got != "etf: not a request at offset 10" {
		t.Fatalf("Error() = %q", got)
	}
}

// [] has two encodings; ListHeader consumes either whole.
func TestListHeaderReadsBothEmptyLists(t *testing.T) {
	for _, in := range [][]byte{{106}, {108, 0, 0, 0, 0, 106}} {
		d := decoderOn(in)
		if n, err := d.ListHeader(); n != 0 || err != nil || d.Len() != 0 {
			t.Errorf("ListHeader(%v) = %d, %v, %d left", in, n, err, d.Len())
		}
	}
	if _, err := decoderOn([]byte{108, 0, 0, 0, 0, 97, 1}).ListHeader(); !errors.Is(err, ErrMalformed) {
		t.Errorf("ListHeader([ | 1]) = %v", err)
	}
}
