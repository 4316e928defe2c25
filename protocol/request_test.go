package protocol

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenRequestFiles lists every golden request, default and mv2.
func goldenRequestFiles(t testing.TB) []string {
	var names []string
	for _, p := range goldenFiles(t) {
		if strings.HasPrefix(filepath.Base(p), "req_") {
			names = append(names, p)
		}
	}
	return names
}

func TestParseRequestRoundTripsEveryRow(t *testing.T) {
	for _, name := range goldenRequestFiles(t) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var r, again Request
		if ParseRequest(b, &r) != nil {
			continue
		}
		enc := AppendRequest(nil, &r)
		if err := ParseRequest(enc, &again); err != nil || !sameRequest(&r, &again) {
			t.Errorf("%s: ParseRequest(AppendRequest(%+v)) = %+v, %v", name, r, again, err)
		}
	}
}

func TestParseRequestRejectsEveryTruncation(t *testing.T) {
	for _, name := range goldenRequestFiles(t) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(b) {
			var r Request
			err := ParseRequest(b[:n], &r)
			var de *DecodeError
			if !errors.As(err, &de) || de.Off < 0 || de.Off > n {
				t.Fatalf("%s cut to %d bytes: %v", name, n, err)
			}
		}
	}
}

// Whatever the error, the Pid and Ref read before it stay in r, so that
// the driver can answer {error, Pid, Ref, einval}.
func TestParseRequestKeepsPidAndRefOnError(t *testing.T) {
	c := loadComponents(t, "sname", "mv2")
	pid, ref := c["pid"], c["ref"]
	head := func(op string, arity int) []byte {
		return AppendAtom(AppendTupleHeader(AppendVersion(nil), arity), op)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		pid  bool
		ref  bool
	}{
		{"trailing byte", append(AppendRaw(AppendRaw(head("info", 3), pid), ref), 0), ErrTrailing, true, true},
		{"fd cut", append(AppendRaw(AppendRaw(head("fdset", 5), pid), ref), 98, 0), ErrTruncated, true, true},
		{"mode missing", AppendInt(AppendRaw(AppendRaw(head("poll", 5), pid), ref), 3), ErrTruncated, true, true},
		{"fd of unknown tag", append(AppendRaw(AppendRaw(head("fdclr", 5), pid), ref), 0, 119, 0), ErrTag, true, true},
		{"ref is an atom", AppendAtom(AppendRaw(head("info", 3), pid), "restore"), ErrRequest, true, false},
		{"ref of a poll is an integer", AppendInt(AppendRaw(head("poll", 5), pid), 42), ErrRequest, true, false},
		{"generation of an fdset is zero", AppendInt(AppendRaw(head("fdset", 5), pid), 0), ErrRequest, true, false},
		{"generation cut", append(AppendRaw(head("fdset", 5), pid), 98, 0), ErrTruncated, true, false},
		{"pid is a ref", AppendRaw(AppendRaw(head("info", 3), ref), ref), ErrRequest, false, false},
		{"huge tuple", append(AppendVersion(nil), 105, 255, 255, 255, 255), ErrTruncated, false, false},
		{"no version", []byte{104, 0}, ErrVersion, false, false},
		{"empty", nil, ErrTruncated, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			err := ParseRequest(tc.in, &r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseRequest = %v, want %v", err, tc.want)
			}
			if (r.Pid != nil) != tc.pid || (r.Ref != nil) != tc.ref {
				t.Fatalf("Pid %v, Ref %v; want set: %v, %v", r.Pid, r.Ref, tc.pid, tc.ref)
			}
		})
	}
}

// ParseRequest resets r: nothing of an earlier request leaks into the next.
func TestParseRequestResetsRequest(t *testing.T) {
	c := loadComponents(t, "sname", "mv2")
	r := Request{Op: OpPoll, Pid: c["pid"], Ref: c["ref"], FD: 5, FDValid: true,
		Mode: ModeRW, ModeOK: true, Dead: c["pid2"], NewOwner: c["pid2"]}
	if err := ParseRequest(readGolden(t, "sname", "mv2", "req_down"), &r); err != nil {
		t.Fatal(err)
	}
	want := Request{Op: OpDown, Pid: c["pid2"]}
	if !sameRequest(&r, &want) {
		t.Fatalf("got %+v", r)
	}
}

func TestParseRequestDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"fdset_read", "fdset_dead", "fdset_gen", "fdset_gen_big", "fdset_fd_huge",
		"fdset_mode_list", "poll", "cancel", "controlling_process", "info", "dup",
		"open_tcp", "open_udp6", "open_tcp6_any", "open_loopback6", "open_spec_unknown_key",
		"open_spec_addr_arity", "open_spec_family_mismatch"} {
		b := readGolden(t, "sname", "mv2", "req_"+name)
		var r Request
		if n := testing.AllocsPerRun(100, func() {
			if err := ParseRequest(b, &r); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs per ParseRequest, want 0", name, n)
		}
	}
}

// A malformed request costs one small error value, never memory sized by
// a length field.
func TestParseRequestErrorCostsOneAllocation(t *testing.T) {
	for _, in := range [][]byte{
		{131, 105, 255, 255, 255, 255},
		{131, 104, 2, 119, 5, 'h', 'e', 'l', 'l', 'o', 108, 255, 255, 255, 255},
		{131, 104, 1, 100, 255, 255},
		append([]byte{131}, "Z00lllll00"...),
	} {
		var r Request
		if n := testing.AllocsPerRun(100, func() { _ = ParseRequest(in, &r) }); n > 1 {
			t.Errorf("%v: %v allocs, want at most 1", in, n)
		}
	}
}

func BenchmarkParseRequestFdset(b *testing.B) {
	frame := readGolden(b, "sname", "mv2", "req_fdset_read")
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for range b.N {
		if err := ParseRequest(frame, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// No single overwritten byte makes ParseRequest panic or report an error
// that is not a *DecodeError inside the input.
func TestParseRequestSurvivesEveryByteOverwrite(t *testing.T) {
	for _, name := range goldenRequestFiles(t) {
		orig, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, len(orig))
		for i := range b {
			for _, v := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff, orig[i] + 1, orig[i] - 1} {
				copy(b, orig)
				b[i] = v
				var r Request
				if err := ParseRequest(b, &r); err != nil {
					var de *DecodeError
					if !errors.As(err, &de) || de.Off < 0 || de.Off > len(b) {
						t.Fatalf("%s with byte %d = %d: %v", name, i, v, err)
					}
				}
			}
		}
	}
}
