package protocol

// ergo's etf is an independent codec used here as an oracle only: it must
// never see untrusted bytes outside tests (it allocates from length fields
// it has not checked: RELIABILITY.md, fuzzing).

import (
	"bytes"
	"math/big"
	"reflect"
	"testing"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"
)

var (
	ergoDecodeOptions = etf.DecodeOptions{FlagBigPidRef: true}
	ergoEncodeOptions = etf.EncodeOptions{FlagBigPidRef: true, FlagBigCreation: true}
)

// ergoDecode decodes one whole term_to_binary result.
func ergoDecode(t testing.TB, b []byte) etf.Term {
	t.Helper()
	if len(b) == 0 || b[0] != tagVersion {
		t.Fatalf("no version byte: %v", b)
	}
	term, rest, err := etf.Decode(b[1:], nil, ergoDecodeOptions)
	if err != nil || len(rest) != 0 {
		t.Fatalf("ergo Decode(%v) = %v, rest %v, %v", b, term, rest, err)
	}
	return normalize(term)
}

// ergoEncode encodes term as term_to_binary would, version byte first.
func ergoEncode(t testing.TB, term etf.Term) []byte {
	t.Helper()
	buf := lib.TakeBuffer()
	defer lib.ReleaseBuffer(buf)
	if err := etf.Encode(term, buf, ergoEncodeOptions); err != nil {
		t.Fatalf("ergo Encode(%v): %v", term, err)
	}
	return append([]byte{tagVersion}, buf.B...)
}

// normalize makes every integer an int64: ergo decodes small ones as int.
func normalize(term etf.Term) etf.Term {
	switch v := term.(type) {
	case int:
		return int64(v)
	case etf.Tuple:
		for i := range v {
			v[i] = normalize(v[i])
		}
	case etf.List:
		for i := range v {
			v[i] = normalize(v[i])
		}
	case etf.Map:
		m := etf.Map{}
		for k, x := range v {
			m[normalize(k)] = normalize(x)
		}
		return m
	}
	return term
}

// ergoComponents are the golden pids and references as ergo terms.
func ergoComponents(t testing.TB, c components) map[string]etf.Term {
	e := map[string]etf.Term{}
	for name, raw := range c {
		if raw != nil {
			e[name] = ergoDecode(t, append([]byte{tagVersion}, raw...))
		}
	}
	return e
}

type A = etf.Atom
type T = etf.Tuple

// expectedEntries gives, for each golden entry, the term Batch must write.
func expectedEntries(e map[string]etf.Term) map[string]etf.List {
	pid, pid2, ref, gen, genBig := e["pid"], e["pid2"], e["ref"], e["gen"], e["gen_big"]
	return map[string]etf.List{
		"ready":              {T{A("ready"), int64(2), int64(12345), []byte("/tmp/inertd-ab12/side.sock")}},
		"hello":              {T{A("hello"), pid2, int64(2)}},
		"inert_read":         {T{A("inert_read"), pid, int64(7), gen}},
		"inert_write":        {T{A("inert_write"), pid, int64(0x7fffffff), genBig}},
		"inert_read_ref":     {T{A("inert_read"), pid, int64(7), ref}},
		"failed_eperm":       {T{A("failed"), pid, gen, int64(7), A("eperm")}},
		"failed_emfile":      {T{A("failed"), pid, genBig, int64(0x7fffffff), A("emfile")}},
		"failed_busy":        {T{A("failed"), pid, gen, int64(7), T{A("ebusy"), pid2}}},
		"polled":             {T{A("polled"), pid, ref, int64(9), A("write")}},
		"cleared_none":       {T{A("cleared"), pid, ref, int64(12), A("none"), A("none")}},
		"cleared_read":       {T{A("cleared"), pid, ref, int64(12), A("read"), gen}},
		"cleared_write":      {T{A("cleared"), pid, ref, int64(12), A("write"), genBig}},
		"cleared_read_write": {T{A("cleared"), pid, ref, int64(12), A("read_write"), gen}},
		"cleared_poll":       {T{A("cleared"), pid, ref, int64(12), A("none"), ref}},
		"cancelled":          {T{A("cancelled"), ref}},
		"closed":             {T{A("closed"), pid, gen, int64(7)}},
		"owner":              {T{A("owner"), pid, ref, pid2}},
		"error_ebadf":        {T{A("error"), pid, ref, A("ebadf")}},
		"error_ebadf_gen":    {T{A("error"), pid, gen, A("ebadf")}},
		"error_not_owner":    {T{A("error"), pid, ref, A("not_owner")}},
		"busy":               {T{A("error"), pid, ref, T{A("ebusy"), pid2}}},
		"reply_ok":           {T{A("reply"), pid, ref, A("ok")}},
		"reply_info": {T{A("reply"), pid, ref, etf.Map{
			A("version"): int64(2), A("os_pid"): int64(4242), A("owner"): pid2,
			A("armed"): etf.List{T{int64(7), A("read"), pid, A("fdset")}, T{int64(9), A("read_write"), pid, A("poll")}},
			A("counters"): etf.Map{A("requests"): int64(10), A("events"): int64(3), A("frames"): int64(4),
				A("errors"): int64(1), A("fds_received"): int64(5), A("fds_closed"): int64(2), A("dropped"): int64(0)},
		}}},
		"log_warning":   {T{A("log"), A("warning"), int64(1764583200123456), []byte("presize fd table: invalid argument")}},
		"log_info_utf8": {T{A("log"), A("info"), int64(0), []byte("using epoll: \"caf\u00e9\"")}},
		"multi": {
			T{A("inert_read"), pid, int64(7), gen},
			T{A("inert_write"), pid, int64(7), gen},
			T{A("failed"), pid2, genBig, int64(8), A("einval")},
			T{A("error"), pid2, ref, A("einval")},
		},
	}
}

// Every frame Batch writes decodes with ergo to the entry's term, and to
// the same term as OTP's own encodings of it (default and minor version 2).
func TestErgoDecodesBatchFramesToTheEntryTerms(t *testing.T) {
	var b Batch
	for _, fl := range flavours {
		c := loadComponents(t, fl, "mv2")
		want := expectedEntries(ergoComponents(t, c))
		for _, e := range goldenEntries {
			t.Run(fl+"/"+e.name, func(t *testing.T) {
				b.Reset()
				e.build(&b, c)
				frame := b.Bytes()
				if n := int(frame[0])<<24 | int(frame[1])<<16 | int(frame[2])<<8 | int(frame[3]); n != len(frame)-4 {
					t.Fatalf("length prefix %d, frame %d bytes", n, len(frame))
				}
				got := ergoDecode(t, frame[4:])
				if w, ok := want[e.name]; !ok || !reflect.DeepEqual(got, w) {
					t.Fatalf("ergo decodes the frame to\n %#v\nwant\n %#v", got, w)
				}
				for _, enc := range encodings {
					if otp := ergoDecode(t, readGolden(t, fl, enc, "ent_"+e.name)); !reflect.DeepEqual(got, otp) {
						t.Fatalf("ergo decodes OTP's %s encoding to\n %#v\nours to\n %#v", enc, otp, got)
					}
				}
			})
		}
	}
}

// Requests ergo encodes parse with ParseRequest to the right fields, and
// the raw pids and references decode with ergo to the terms encoded.
func TestParseRequestReadsErgoEncodings(t *testing.T) {
	for _, fl := range flavours {
		e := ergoComponents(t, loadComponents(t, fl, "mv2"))
		pid, pid2, ref := e["pid"], e["pid2"], e["ref"]
		huge := new(big.Int).Lsh(big.NewInt(1), 64)
		cases := []struct {
			name                     string
			term                     etf.Tuple
			want                     Request // Pid, Ref, Dead, NewOwner: see the terms below
			pid, ref, dead, newOwner etf.Term
		}{
			{"hello", T{A("hello"), pid}, Request{Op: OpHello}, pid, nil, nil, nil},
			{"fdset", T{A("fdset"), pid, ref, 7, A("read")},
				Request{Op: OpFdset, FD: 7, FDValid: true, Mode: ModeRead, ModeOK: true}, pid, ref, nil, nil},
			{"fdset_dead", T{A("fdset"), pid, ref, int64(1 << 31), A("read_write"), pid2},
				Request{Op: OpFdset, FD: 1 << 31, FDValid: true, Mode: ModeRW, ModeOK: true}, pid, ref, pid2, nil},
			{"fdset_gen", T{A("fdset"), pid, 42, 300, A("write")},
				Request{Op: OpFdset, FD: 300, FDValid: true, Mode: ModeWrite, ModeOK: true}, pid, int64(42), nil, nil},
			{"fdset_gen_big", T{A("fdset"), pid, int64(1 << 40), 300, A("read")},
				Request{Op: OpFdset, FD: 300, FDValid: true, Mode: ModeRead, ModeOK: true}, pid, int64(1 << 40), nil, nil},
			{"fdset_fd_bignum", T{A("fdset"), pid, ref, huge, A("read")},
				Request{Op: OpFdset, Mode: ModeRead, ModeOK: true}, pid, ref, nil, nil},
			{"fdset_fd_atom", T{A("fdset"), pid, ref, A("stdin"), A("read")},
				Request{Op: OpFdset, Mode: ModeRead, ModeOK: true}, pid, ref, nil, nil},
			{"fdset_mode_bad", T{A("fdset"), pid, ref, -1, A("rw")},
				Request{Op: OpFdset, FD: -1, FDValid: true}, pid, ref, nil, nil},
			{"poll", T{A("poll"), pid, ref, 9, A("write")},
				Request{Op: OpPoll, FD: 9, FDValid: true, Mode: ModeWrite, ModeOK: true}, pid, ref, nil, nil},
			{"poll_dead", T{A("poll"), pid, ref, 9, A("read"), pid2},
				Request{Op: OpPoll, FD: 9, FDValid: true, Mode: ModeRead, ModeOK: true}, pid, ref, pid2, nil},
			{"fdclr", T{A("fdclr"), pid, ref, 12, A("read_write")},
				Request{Op: OpFdclr, FD: 12, FDValid: true, Mode: ModeRW, ModeOK: true}, pid, ref, nil, nil},
			{"cancel", T{A("cancel"), ref, 9}, Request{Op: OpCancel, FD: 9, FDValid: true}, nil, ref, nil, nil},
			{"down", T{A("down"), pid2}, Request{Op: OpDown}, pid2, nil, nil, nil},
			{"controlling_process", T{A("controlling_process"), pid, ref, pid2},
				Request{Op: OpControllingProcess}, pid, ref, nil, pid2},
			{"info", T{A("info"), pid, ref}, Request{Op: OpInfo}, pid, ref, nil, nil},
		}
		for _, tc := range cases {
			t.Run(fl+"/"+tc.name, func(t *testing.T) {
				b := ergoEncode(t, tc.term)
				var r Request
				if err := ParseRequest(b, &r); err != nil {
					t.Fatalf("ParseRequest(%v): %v", b, err)
				}
				scalars := r
				scalars.Pid, scalars.Ref, scalars.Dead, scalars.NewOwner = nil, nil, nil, nil
				if !reflect.DeepEqual(scalars, tc.want) {
					t.Errorf("ParseRequest = %+v, want %+v", scalars, tc.want)
				}
				for _, f := range []struct {
					name string
					raw  []byte
					want etf.Term
				}{{"Pid", r.Pid, tc.pid}, {"Ref", r.Ref, tc.ref}, {"Dead", r.Dead, tc.dead}, {"NewOwner", r.NewOwner, tc.newOwner}} {
					if f.want == nil {
						if f.raw != nil {
							t.Errorf("%s = %v, want nil", f.name, f.raw)
						}
						continue
					}
					if f.raw == nil {
						t.Fatalf("%s is nil", f.name)
					}
					if got := ergoDecode(t, append([]byte{tagVersion}, f.raw...)); !reflect.DeepEqual(got, f.want) {
						t.Errorf("%s decodes to %#v, want %#v", f.name, got, f.want)
					}
				}
			})
		}
	}
}

// ergo writes pids, references and generations byte for byte as OTP does
// with minor version 2, so the echoed bytes are interchangeable.
func TestErgoEncodesGoldenPidsLikeOTP(t *testing.T) {
	for _, fl := range flavours {
		c := loadComponents(t, fl, "mv2")
		e := ergoComponents(t, c)
		for _, name := range []string{"pid", "pid2", "pid_serial", "pid_remote", "ref", "ref_alias", "ref_remote", "gen", "gen_big"} {
			if got := ergoEncode(t, e[name]); !bytes.Equal(got[1:], c[name]) {
				t.Errorf("%s/%s: ergo %v, OTP %v", fl, name, got[1:], c[name])
			}
		}
	}
}

func BenchmarkErgoDecodeFdset(b *testing.B) {
	frame := readGolden(b, "sname", "mv2", "req_fdset_read")[1:]
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := etf.Decode(frame, nil, ergoDecodeOptions); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkErgoEncodeEvent(b *testing.B) {
	pid := ergoDecode(b, readGolden(b, "sname", "mv2", "pid"))
	term := etf.Tuple{etf.Atom("inert_read"), pid, 7, 42}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf := lib.TakeBuffer()
		if err := etf.Encode(term, buf, ergoEncodeOptions); err != nil {
			b.Fatal(err)
		}
		lib.ReleaseBuffer(buf)
	}
}
