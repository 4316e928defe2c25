package protocol

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden files are term_to_binary/2 results written by
// testdata/gen_golden.escript (see its header for the layout).

var (
	flavours  = []string{"local", "sname"}
	encodings = []string{"default", "mv2"}
)

func readGolden(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata", "golden"}, parts...)...) + ".etf")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// components are the pids and references the golden requests and entries
// are built from, as raw terms (version byte stripped), by name.
type components map[string][]byte

func loadComponents(t testing.TB, flavour, enc string) components {
	c := components{"": nil}
	for _, name := range []string{"pid", "pid2", "pid_serial", "pid_remote",
		"ref", "ref_alias", "ref_remote", "gen", "gen_big"} {
		c[name] = readGolden(t, flavour, enc, name)[1:]
	}
	c["gen_max"] = AppendInt(nil, math.MaxInt64) // the largest generation
	return c
}

func loadLegacy(t testing.TB) components {
	c := components{"": nil}
	for _, name := range []string{"pid_ext", "new_reference_ext", "reference_ext"} {
		c[name] = readGolden(t, "legacy", name)[1:]
	}
	return c
}

// goldenFiles lists every golden file, relative to testdata/golden.
func goldenFiles(t testing.TB) []string {
	var names []string
	err := filepath.WalkDir(filepath.Join("testdata", "golden"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".etf") {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 300 {
		t.Fatalf("only %d golden files: run testdata/gen_golden.escript", len(names))
	}
	return names
}

// reqWant is what ParseRequest must make of one golden request; pid, ref,
// dead and newOwner name components.
type reqWant struct {
	name                     string
	op                       Op
	pid, ref, dead, newOwner string
	fd                       int64
	fdValid                  bool
	mode                     Mode
	modeOK                   bool
	spec                     *OpenSpec // open: the valid spec, nil for einval
	partial                  bool      // open: a spec without every key
	termios                  *Termios  // termios: the valid settings, nil for einval
	io                       IOSpec    // io_open, io_credit
	data                     *string   // io_send: the Data binary
	err                      error
}

func (w reqWant) request(c components) Request {
	r := Request{Op: w.op, Pid: c[w.pid], Ref: c[w.ref], FD: w.fd, FDValid: w.fdValid,
		Mode: w.mode, ModeOK: w.modeOK, Dead: c[w.dead], NewOwner: c[w.newOwner]}
	if w.spec != nil {
		r.Spec, r.SpecOK = *w.spec, true
	}
	if w.termios != nil {
		r.Termios, r.TermiosOK = *w.termios, true
	}
	r.IO = w.io
	if w.data != nil {
		r.Data = []byte(*w.data)
	}
	return r
}

func str(s string) *string { return &s }

var (
	loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	linkLocal = netip.MustParseAddr("fe80::ffff")
)

var goldenRequests = []reqWant{
	{name: "hello", op: OpHello, pid: "pid"},
	{name: "fdset_read", op: OpFdset, pid: "pid", ref: "ref", fd: 7, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "fdset_write", op: OpFdset, pid: "pid", ref: "ref", fd: 0, fdValid: true, mode: ModeWrite, modeOK: true},
	{name: "fdset_read_write", op: OpFdset, pid: "pid", ref: "ref", fd: 0x7fffffff, fdValid: true, mode: ModeRW, modeOK: true},
	{name: "fdset_dead", op: OpFdset, pid: "pid", ref: "ref", fd: 255, fdValid: true, mode: ModeRead, modeOK: true, dead: "pid2"},
	{name: "fdset_gen", op: OpFdset, pid: "pid", ref: "gen", fd: 256, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "fdset_gen_big", op: OpFdset, pid: "pid", ref: "gen_big", fd: 257, fdValid: true, mode: ModeWrite, modeOK: true},
	{name: "fdset_gen_dead", op: OpFdset, pid: "pid", ref: "gen", fd: 258, fdValid: true, mode: ModeRW, modeOK: true, dead: "pid2"},
	{name: "fdset_gen_2p63m1", op: OpFdset, pid: "pid", ref: "gen_max", fd: 259, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "fdset_serial", op: OpFdset, pid: "pid_serial", ref: "ref", fd: 3, fdValid: true, mode: ModeWrite, modeOK: true},
	{name: "fdset_remote", op: OpFdset, pid: "pid_remote", ref: "ref_remote", fd: 4, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "fdset_alias", op: OpFdset, pid: "pid", ref: "ref_alias", fd: 5, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "fdset_fd_negative", op: OpFdset, pid: "pid", ref: "ref", fd: -1, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "fdset_fd_2p31", op: OpFdset, pid: "pid", ref: "ref", fd: 1 << 31, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "fdset_fd_minint64", op: OpFdset, pid: "pid", ref: "ref", fd: math.MinInt64, fdValid: true, mode: ModeWrite, modeOK: true},
	{name: "fdset_fd_maxint64", op: OpFdset, pid: "pid", ref: "ref", fd: math.MaxInt64, fdValid: true, mode: ModeWrite, modeOK: true},
	{name: "fdset_fd_2p63", op: OpFdset, pid: "pid", ref: "ref", mode: ModeRead, modeOK: true},
	{name: "fdset_fd_2p64", op: OpFdset, pid: "pid", ref: "ref", mode: ModeRead, modeOK: true},
	{name: "fdset_fd_huge", op: OpFdset, pid: "pid", ref: "ref", mode: ModeRead, modeOK: true},
	{name: "fdset_fd_atom", op: OpFdset, pid: "pid", ref: "ref", mode: ModeRead, modeOK: true},
	{name: "fdset_fd_float", op: OpFdset, pid: "pid", ref: "ref", mode: ModeRead, modeOK: true},
	{name: "fdset_mode_bad", op: OpFdset, pid: "pid", ref: "ref", fd: 7, fdValid: true},
	{name: "fdset_mode_none", op: OpFdset, pid: "pid", ref: "ref", fd: 7, fdValid: true},
	{name: "fdset_mode_list", op: OpFdset, pid: "pid", ref: "ref", fd: 7, fdValid: true},
	{name: "fdset_mode_string", op: OpFdset, pid: "pid", ref: "ref", fd: 7, fdValid: true},
	{name: "poll", op: OpPoll, pid: "pid", ref: "ref", fd: 9, fdValid: true, mode: ModeRW, modeOK: true},
	{name: "poll_dead", op: OpPoll, pid: "pid", ref: "ref", fd: 9, fdValid: true, mode: ModeWrite, modeOK: true, dead: "pid2"},
	{name: "fdclr", op: OpFdclr, pid: "pid", ref: "ref", fd: 12, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "cancel", op: OpCancel, ref: "ref", fd: 9, fdValid: true},
	{name: "down", op: OpDown, pid: "pid2"},
	{name: "controlling_process", op: OpControllingProcess, pid: "pid", ref: "ref", newOwner: "pid2"},
	{name: "info", op: OpInfo, pid: "pid", ref: "ref"},
	{name: "dup", op: OpDup, pid: "pid", ref: "ref", fd: 7, fdValid: true},
	{name: "io_open_stream", op: OpIOOpen, pid: "pid", ref: "ref", fd: 7, fdValid: true,
		io: IOSpec{Type: IOStream, ReadSize: 65536, SendQueue: 262144}},
	{name: "io_open_datagram", op: OpIOOpen, pid: "pid", ref: "ref", fd: 8, fdValid: true,
		io: IOSpec{Type: IODatagram, ReadSize: 1500, SendQueue: 1048576}},
	{name: "io_open_bad_type", op: OpIOOpen, pid: "pid", ref: "ref", fd: 7, fdValid: true,
		io: IOSpec{Type: IOInvalid, ReadSize: 65536, SendQueue: 262144}},
	{name: "io_credit", op: OpIOCredit, pid: "pid", ref: "ref", io: IOSpec{Credit: 131072}},
	{name: "io_send", op: OpIOSend, pid: "pid", ref: "ref", data: str("hello")},
	{name: "io_send_empty", op: OpIOSend, pid: "pid", ref: "ref", data: str("")},
	{name: "io_close", op: OpIOClose, pid: "pid", ref: "ref"},
	{name: "dup_fd_negative", op: OpDup, pid: "pid", ref: "ref", fd: -1, fdValid: true},
	{name: "dup_fd_atom", op: OpDup, pid: "pid", ref: "ref"},
	{name: "open_tcp", op: OpOpen, pid: "pid", ref: "ref", spec: &OpenSpec{Proto: ProtoTCP,
		Family: FamilyInet, Addr: loopback4, ReuseAddr: true, Backlog: 16}},
	{name: "open_udp6", op: OpOpen, pid: "pid", ref: "ref", spec: &OpenSpec{Proto: ProtoUDP,
		Family: FamilyInet6, Addr: netip.IPv6Loopback(), Port: 5353, ReusePort: true}},
	{name: "open_tcp6_any", op: OpOpen, pid: "pid", ref: "ref", spec: &OpenSpec{Proto: ProtoTCP,
		Family: FamilyInet6, Addr: linkLocal, Port: 65535}},
	{name: "open_defaults", op: OpOpen, pid: "pid", ref: "ref", partial: true, spec: &OpenSpec{
		Proto: ProtoTCP, Family: FamilyInet, Backlog: DefaultBacklog}},
	{name: "open_loopback6", op: OpOpen, pid: "pid", ref: "ref", partial: true, spec: &OpenSpec{
		Proto: ProtoTCP, Family: FamilyInet6, Addr: netip.IPv6Loopback(), Backlog: DefaultBacklog}},
	{name: "open_any_udp", op: OpOpen, pid: "pid", ref: "ref", partial: true, spec: &OpenSpec{
		Proto: ProtoUDP, Family: FamilyInet, Port: 9}},
	// Specs the driver answers with einval: SpecOK false.
	{name: "open_spec_not_map", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_unknown_key", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_key_not_atom", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_bad_type", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_bad_family", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_family_mismatch", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_addr_elem", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_addr_arity", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_addr_string", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_port_range", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_port_negative", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_udp_backlog", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_reuse_bad", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_tun", op: OpOpen, pid: "pid", ref: "ref", spec: &OpenSpec{Proto: ProtoTun,
		Name: [IfNameMax]byte{'t', 'u', 'n', '0'}, NameLen: 4}},
	{name: "open_tap_any_name", op: OpOpen, pid: "pid", ref: "ref", spec: &OpenSpec{Proto: ProtoTap, PI: true}},
	{name: "open_pty", op: OpOpen, pid: "pid", ref: "ref", spec: &OpenSpec{Proto: ProtoPty, Termios: Termios{
		Set:   TermSpeed | TermRaw | TermDataBits | TermParity | TermStopBits | TermFlow,
		Speed: 115200, Raw: true, DataBits: 8, Parity: ParityNone, StopBits: 2, Flow: FlowHardware}}},
	{name: "open_pty_no_termios", op: OpOpen, pid: "pid", ref: "ref", spec: &OpenSpec{Proto: ProtoPty}},
	{name: "open_spec_tun_with_port", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "open_spec_pty_bad_parity", op: OpOpen, pid: "pid", ref: "ref"},
	{name: "termios", op: OpTermios, pid: "pid", ref: "ref", fd: 7, fdValid: true, termios: &Termios{
		Set: TermSpeed | TermFlow, Speed: 9600, Flow: FlowSoftware}},
	{name: "termios_empty", op: OpTermios, pid: "pid", ref: "ref", fd: 8, fdValid: true, termios: &Termios{}},
	{name: "termios_bad_speed", op: OpTermios, pid: "pid", ref: "ref", fd: 7, fdValid: true},
	{name: "termios_not_map", op: OpTermios, pid: "pid", ref: "ref", fd: 7, fdValid: true},
	// Decode errors: Op, Pid and Ref are still set when they were readable.
	{name: "bad_fdset_arity4", op: OpFdset, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_fdset_arity7", op: OpFdset, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_fdclr_dead", op: OpFdclr, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_fdset_pid", op: OpFdset, err: ErrRequest},
	{name: "bad_fdset_ref", op: OpFdset, pid: "pid", err: ErrRequest},
	{name: "bad_fdset_ref_restore", op: OpFdset, pid: "pid", err: ErrRequest},
	{name: "bad_fdset_gen_zero", op: OpFdset, pid: "pid", err: ErrRequest},
	{name: "bad_fdset_gen_negative", op: OpFdset, pid: "pid", err: ErrRequest},
	{name: "bad_fdset_gen_2p63", op: OpFdset, pid: "pid", err: ErrRequest},
	{name: "bad_poll_ref_integer", op: OpPoll, pid: "pid", err: ErrRequest},
	{name: "bad_fdclr_ref_integer", op: OpFdclr, pid: "pid", err: ErrRequest},
	{name: "bad_cancel_ref_integer", op: OpCancel, err: ErrRequest},
	{name: "bad_fdset_dead", op: OpFdset, pid: "pid", ref: "ref", fd: 7, fdValid: true, mode: ModeRead, modeOK: true, err: ErrRequest},
	{name: "bad_info_arity", op: OpInfo, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_hello_arity", op: OpHello, pid: "pid", err: ErrRequest},
	{name: "bad_dup_arity5", op: OpDup, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_io_open_arity6", op: OpIOOpen, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_io_send_list", op: OpIOSend, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_io_credit_atom", op: OpIOCredit, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_open_arity3", op: OpOpen, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_termios_arity4", op: OpTermios, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_cp_newowner", op: OpControllingProcess, pid: "pid", ref: "ref", err: ErrRequest},
	{name: "bad_unknown_op", err: ErrRequest},
	{name: "bad_op_binary", err: ErrRequest},
	{name: "bad_not_tuple", err: ErrRequest},
	{name: "bad_empty_tuple", err: ErrRequest},
}

// Requests in the formats OTP still reads but no longer writes.
var legacyRequests = []reqWant{
	{name: "req_fdset_pid_ext", op: OpFdset, pid: "pid_ext", ref: "new_reference_ext", fd: 7, fdValid: true, mode: ModeRead, modeOK: true},
	{name: "req_poll_reference_ext", op: OpPoll, pid: "pid_ext", ref: "reference_ext", fd: 1000, fdValid: true, mode: ModeWrite, modeOK: true, dead: "pid_ext"},
	{name: "req_cp_pid_ext", op: OpControllingProcess, pid: "pid_ext", ref: "new_reference_ext", newOwner: "pid_ext"},
}

// representable reports whether AppendRequest can write the request OTP
// wrote: it is valid, and an FD or mode it has is one (else AppendRequest
// writes the atom undefined there).
func (w reqWant) representable() bool {
	hasFD := w.op == OpFdset || w.op == OpPoll || w.op == OpFdclr || w.op == OpCancel || w.op == OpDup || w.op == OpTermios
	hasMode := w.op == OpFdset || w.op == OpPoll || w.op == OpFdclr
	hasSpec := w.op == OpOpen
	return w.err == nil && (!hasFD || w.fdValid) && (!hasMode || w.modeOK) &&
		(!hasSpec || w.spec != nil && !w.partial) && (w.op != OpTermios || w.termios != nil) &&
		(w.op != OpIOOpen || w.fdValid && w.io.Type != IOInvalid)
}

func sameRequest(a, b *Request) bool {
	return a.Op == b.Op && bytes.Equal(a.Pid, b.Pid) && bytes.Equal(a.Ref, b.Ref) &&
		a.FD == b.FD && a.FDValid == b.FDValid && a.Mode == b.Mode && a.ModeOK == b.ModeOK &&
		bytes.Equal(a.Dead, b.Dead) && bytes.Equal(a.NewOwner, b.NewOwner) &&
		(a.Dead == nil) == (b.Dead == nil) && (a.NewOwner == nil) == (b.NewOwner == nil) &&
		(a.Pid == nil) == (b.Pid == nil) && (a.Ref == nil) == (b.Ref == nil) &&
		a.Spec == b.Spec && a.SpecOK == b.SpecOK && a.Termios == b.Termios && a.TermiosOK == b.TermiosOK &&
		a.IO == b.IO && bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil)
}

func checkParse(t *testing.T, b []byte, w reqWant, c components) {
	t.Helper()
	var got Request
	err := ParseRequest(b, &got)
	if !errors.Is(err, w.err) || (err == nil) != (w.err == nil) {
		t.Fatalf("ParseRequest error = %v, want %v", err, w.err)
	}
	if want := w.request(c); !sameRequest(&got, &want) {
		t.Fatalf("ParseRequest =\n %+v\nwant\n %+v", got, want)
	}
}

func TestParseRequestGoldenGivesFields(t *testing.T) {
	for _, fl := range flavours {
		for _, enc := range encodings {
			c := loadComponents(t, fl, enc)
			for _, w := range goldenRequests {
				t.Run(fl+"/"+enc+"/"+w.name, func(t *testing.T) {
					checkParse(t, readGolden(t, fl, enc, "req_"+w.name), w, c)
				})
			}
		}
	}
}

func TestParseRequestReadsLegacyPidAndRefFormats(t *testing.T) {
	c := loadLegacy(t)
	for _, w := range legacyRequests {
		t.Run(w.name, func(t *testing.T) {
			checkParse(t, readGolden(t, "legacy", w.name), w, c)
		})
	}
}

// An encoding of every valid golden request by AppendRequest is the very
// bytes OTP wrote with [{minor_version, 2}].
func TestAppendRequestMatchesOTPMinorVersion2(t *testing.T) {
	for _, fl := range flavours {
		c := loadComponents(t, fl, "mv2")
		for _, w := range goldenRequests {
			if !w.representable() {
				continue
			}
			t.Run(fl+"/"+w.name, func(t *testing.T) {
				r := w.request(c)
				want := readGolden(t, fl, "mv2", "req_"+w.name)
				if got := AppendRequest(nil, &r); !bytes.Equal(got, want) {
					t.Fatalf("AppendRequest\n got %v\nwant %v", got, want)
				}
			})
		}
	}
}

// entryCase builds one golden entry frame with Batch.
type entryCase struct {
	name  string
	build func(b *Batch, c components)
}

var okTerm = AppendAtom(nil, "ok")

var goldenEntries = []entryCase{
	{"ready", func(b *Batch, c components) { b.Ready(2, 12345, "/tmp/inertd-ab12/side.sock") }},
	{"hello", func(b *Batch, c components) { b.Hello(c["pid2"], 2) }},
	{"inert_read", func(b *Batch, c components) { b.Event(ModeRead, c["pid"], 7, c["gen"]) }},
	{"inert_write", func(b *Batch, c components) { b.Event(ModeWrite, c["pid"], 0x7fffffff, c["gen_big"]) }},
	{"inert_read_ref", func(b *Batch, c components) { b.Event(ModeRead, c["pid"], 7, c["ref"]) }},
	{"failed_eperm", func(b *Batch, c components) { b.Failed(c["pid"], c["gen"], 7, "eperm") }},
	{"failed_emfile", func(b *Batch, c components) { b.Failed(c["pid"], c["gen_big"], 0x7fffffff, "emfile") }},
	{"failed_busy", func(b *Batch, c components) { b.FailedBusy(c["pid"], c["gen"], 7, c["pid2"]) }},
	{"polled", func(b *Batch, c components) { b.Polled(c["pid"], c["ref"], 9, ModeWrite) }},
	{"cleared_none", func(b *Batch, c components) { b.Cleared(c["pid"], c["ref"], 12, ModeNone, nil) }},
	{"cleared_read", func(b *Batch, c components) { b.Cleared(c["pid"], c["ref"], 12, ModeRead, c["gen"]) }},
	{"cleared_write", func(b *Batch, c components) { b.Cleared(c["pid"], c["ref"], 12, ModeWrite, c["gen_big"]) }},
	{"cleared_read_write", func(b *Batch, c components) { b.Cleared(c["pid"], c["ref"], 12, ModeRW, c["gen"]) }},
	{"cleared_poll", func(b *Batch, c components) { b.Cleared(c["pid"], c["ref"], 12, ModeNone, c["ref"]) }},
	{"cancelled", func(b *Batch, c components) { b.Cancelled(c["ref"]) }},
	{"closed", func(b *Batch, c components) { b.Closed(c["pid"], c["gen"], 7) }},
	{"owner", func(b *Batch, c components) { b.Owner(c["pid"], c["ref"], c["pid2"]) }},
	{"error_ebadf", func(b *Batch, c components) { b.Error(c["pid"], c["ref"], "ebadf") }},
	{"error_ebadf_gen", func(b *Batch, c components) { b.Error(c["pid"], c["gen"], "ebadf") }},
	{"error_not_owner", func(b *Batch, c components) { b.Error(c["pid"], c["ref"], "not_owner") }},
	{"busy", func(b *Batch, c components) { b.Busy(c["pid"], c["ref"], c["pid2"]) }},
	{"reply_ok", func(b *Batch, c components) { b.Reply(c["pid"], c["ref"], okTerm) }},
	{"reply_info", func(b *Batch, c components) {
		buf := AppendTupleHeader(b.Append(), 4)
		buf = AppendAtom(buf, "reply")
		buf = AppendRaw(AppendRaw(buf, c["pid"]), c["ref"])
		b.Commit(appendInfoMap(buf, c))
	}},
	{"log_warning", func(b *Batch, c components) {
		b.Log(LevelWarning, 1764583200123456, "presize fd table: invalid argument")
	}},
	{"log_info_utf8", func(b *Batch, c components) { b.Log(LevelInfo, 0, "using epoll: \"caf\u00e9\"") }},
	{"multi", func(b *Batch, c components) {
		b.Event(ModeRead, c["pid"], 7, c["gen"])
		b.Event(ModeWrite, c["pid"], 7, c["gen"])
		b.Failed(c["pid2"], c["gen_big"], 8, "einval")
		b.Error(c["pid2"], c["ref"], "einval")
	}},
}

// appendInfoMap writes the info map of gen_golden.escript with the keys in
// the order OTP writes them (term order: atoms by name).
func appendInfoMap(buf []byte, c components) []byte {
	buf = AppendMapHeader(buf, 5)
	buf = AppendAtom(buf, "armed")
	buf = AppendListHeader(buf, 2)
	for _, a := range []struct {
		fd   int64
		mode Mode
		kind string
	}{{7, ModeRead, "fdset"}, {9, ModeRW, "poll"}} {
		buf = AppendInt(AppendTupleHeader(buf, 4), a.fd)
		buf = AppendAtom(buf, a.mode.String())
		buf = AppendAtom(AppendRaw(buf, c["pid"]), a.kind)
	}
	buf = AppendNil(buf)
	buf = AppendMapHeader(AppendAtom(buf, "counters"), 7)
	for _, kv := range []struct {
		k string
		v int64
	}{{"dropped", 0}, {"errors", 1}, {"events", 3}, {"fds_closed", 2},
		{"fds_received", 5}, {"frames", 4}, {"requests", 10}} {
		buf = AppendInt(AppendAtom(buf, kv.k), kv.v)
	}
	buf = AppendInt(AppendAtom(buf, "os_pid"), 4242)
	buf = AppendRaw(AppendAtom(buf, "owner"), c["pid2"])
	return AppendInt(AppendAtom(buf, "version"), 2)
}

func TestBatchMatchesOTPMinorVersion2(t *testing.T) {
	var b Batch
	for _, fl := range flavours {
		c := loadComponents(t, fl, "mv2")
		for _, e := range goldenEntries {
			t.Run(fl+"/"+e.name, func(t *testing.T) {
				b.Reset()
				e.build(&b, c)
				want := AppendFrame(nil, readGolden(t, fl, "mv2", "ent_"+e.name))
				if got := b.Bytes(); !bytes.Equal(got, want) {
					t.Fatalf("Batch.Bytes()\n got %v\nwant %v", got, want)
				}
			})
		}
	}
}

// The handover inertd sends on the side channel is the very bytes of
// term_to_binary({fd, Pid, Ref}, [{minor_version, 2}]).
func TestAppendHandoverMatchesOTPMinorVersion2(t *testing.T) {
	for _, fl := range flavours {
		c := loadComponents(t, fl, "mv2")
		want := readGolden(t, fl, "mv2", "msg_fd")
		if got := AppendHandover(nil, c["pid"], c["ref"]); !bytes.Equal(got, want) {
			t.Errorf("%s: AppendHandover\n got %v\nwant %v", fl, got, want)
		}
	}
}

func TestEncodersMatchOTPTerms(t *testing.T) {
	ints := map[string]int64{"0": 0, "1": 1, "255": 255, "256": 256, "m1": -1,
		"m128": -128, "m255": -255, "m256": -256, "2p31m1": 1<<31 - 1, "m2p31": -1 << 31,
		"2p31": 1 << 31, "m2p31m1": -1<<31 - 1, "2p32": 1 << 32, "2p40": 1 << 40,
		"2p63m1": math.MaxInt64, "m2p63": math.MinInt64}
	atoms := map[string]string{"empty": "", "ok": "ok", "read_write": "read_write",
		"len255": strings.Repeat("a", 255), "latin1": "f\u00e9e", "utf8": "\u03b1\u03b2",
		"utf8_long": strings.Repeat("\u00e4", 200)}
	bins := map[string][]byte{"empty": {}, "abc": []byte("abc"), "300": func() []byte {
		b := make([]byte, 300)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}()}
	tuple256 := AppendTupleHeader(nil, 256)
	for i := int64(1); i <= 256; i++ {
		tuple256 = AppendInt(tuple256, i)
	}
	cases := map[string][]byte{
		"nil":      AppendNil(AppendListHeader(nil, 0)),
		"tuple0":   AppendTupleHeader(nil, 0),
		"tuple256": tuple256,
		"list3":    AppendNil(AppendBinary(AppendAtom(AppendInt(AppendListHeader(nil, 3), 1), "two"), []byte("3"))),
		"map0":     AppendMapHeader(nil, 0),
	}
	for k, v := range ints {
		cases["int_"+k] = AppendInt(nil, v)
	}
	for k, v := range atoms {
		cases["atom_"+k] = AppendAtom(nil, v)
	}
	for k, v := range bins {
		cases["bin_"+k] = AppendBinary(nil, v)
	}
	for name, term := range cases {
		t.Run(name, func(t *testing.T) {
			want := readGolden(t, "terms", "mv2", name)
			if got := append(AppendVersion(nil), term...); !bytes.Equal(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

// OTP 25's default term_to_binary writes every atom that fits Latin-1 as
// ATOM_EXT (100), short or not, and the others in UTF-8 as
// SMALL_ATOM_UTF8_EXT (119) or ATOM_UTF8_EXT (118); the decoder returns
// the Latin-1 bytes as they are.
func TestDefaultEncodingWritesLatin1AtomsAsAtomExt(t *testing.T) {
	for name, want := range map[string]struct {
		tag  byte
		text string
	}{
		"atom_ok":     {tagAtom, "ok"},
		"atom_latin1": {tagAtom, "f\xe9e"},
		"atom_utf8":   {tagSmallAtomUTF8, "\u03b1\u03b2"},
		"atom_len255": {tagAtom, strings.Repeat("a", 255)},
	} {
		b := readGolden(t, "terms", "default", name)
		var d Decoder
		d.Reset(b[1:])
		text, err := d.Atom()
		if b[1] != want.tag || err != nil || string(text) != want.text || d.Len() != 0 {
			t.Errorf("%s: tag %d, Atom() = %q, %v; want tag %d, %q", name, b[1], text, err, want.tag, want.text)
		}
	}
}

// The golden set has what the brief asks for: pids from a distributed
// node with a real name, a pid with a serial, and the legacy formats.
func TestGoldenPidsCoverNodeNameAndSerial(t *testing.T) {
	sname := readGolden(t, "sname", "mv2", "pid")
	if !bytes.Contains(sname, []byte("inert_golden@")) {
		t.Errorf("sname pid %v does not name inert_golden@host", sname)
	}
	serial := readGolden(t, "local", "mv2", "pid_serial")
	if n := len(serial); serial[1] != tagNewPid || serial[n-5] != 2 {
		t.Errorf("pid_serial %v: want NEW_PID_EXT with serial 2", serial)
	}
	if b := readGolden(t, "legacy", "pid_ext"); b[1] != tagPid {
		t.Errorf("legacy pid_ext tag %d", b[1])
	}
}
