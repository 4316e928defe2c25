package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// requestForm is one row of PROTOCOL.md's requests table: the request
// atom and the names of the elements after it, e.g. fdset [Pid Ref FD Mode].
type requestForm struct {
	name   string
	fields []string
}

// requestForms reads the first column of PROTOCOL.md's requests table.
func requestForms(t *testing.T) []requestForm {
	t.Helper()
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	start := strings.Index(s, "\n## Requests")
	if start < 0 {
		t.Fatal("PROTOCOL.md has no Requests section")
	}
	s = s[start+1:]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	row := regexp.MustCompile("(?m)^\\| `\\{([a-z_]+)((?:, [A-Za-z]+)*)\\}` \\|")
	var forms []requestForm
	for _, m := range row.FindAllStringSubmatch(s, -1) {
		forms = append(forms, requestForm{m[1], strings.Fields(strings.ReplaceAll(m[2], ",", " "))})
	}
	if len(forms) == 0 {
		t.Fatal("no request rows found in PROTOCOL.md")
	}
	return forms
}

// requestRows gives, for every request atom of PROTOCOL.md, the tuple
// sizes its rows show.
func requestRows(t *testing.T) map[string][]int {
	t.Helper()
	rows := map[string][]int{}
	for _, f := range requestForms(t) {
		rows[f.name] = append(rows[f.name], 1+len(f.fields))
	}
	return rows
}

// The operation table has one entry per request atom of PROTOCOL.md, and
// its arities are the smallest and largest tuple that atom's rows show.
func TestOpTableMatchesProtocolRequestRows(t *testing.T) {
	rows := requestRows(t)
	for op := OpInvalid + 1; int(op) < len(ops); op++ {
		sizes, ok := rows[op.String()]
		if !ok {
			t.Errorf("%v is in the table but has no row in PROTOCOL.md", op)
			continue
		}
		delete(rows, op.String())
		sort.Ints(sizes)
		lo, hi := arity(op)
		if lo != sizes[0] || hi != sizes[len(sizes)-1] {
			t.Errorf("%v: table arity %d..%d, PROTOCOL.md rows %v", op, lo, hi, sizes)
		}
		if got := opNamed([]byte(op.String())); got != op {
			t.Errorf("opNamed(%q) = %v, want %v", op.String(), got, op)
		}
	}
	for name := range rows {
		t.Errorf("PROTOCOL.md request %q is not in the operation table", name)
	}
}

// Every well-formed request frame OTP wrote (testdata/golden, req_* but
// req_bad_*) decodes to the Op whose name is the frame's first atom,
// and AppendRequest writes that atom back; every Op has such a frame.
func TestOpTableMatchesOTPRequestFrames(t *testing.T) {
	// term_to_binary({ack, 5}) on OTP 25: the VM sends ack on stdin, and
	// the golden set has no stdin frames.
	frames := map[string][]byte{"ack": {131, 104, 2, 100, 0, 3, 'a', 'c', 'k', 97, 5}}
	for _, p := range goldenFiles(t) {
		base := filepath.Base(p)
		if strings.HasPrefix(base, "req_") && !strings.HasPrefix(base, "req_bad_") {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			frames[p] = b
		}
	}
	seen := map[Op]bool{}
	for name, b := range frames {
		d := Decoder{buf: b}
		if err := d.Version(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, err := d.TupleHeader()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		atom, err := d.Atom()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var r Request
		if err := ParseRequest(b, &r); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.Op.String() != string(atom) {
			t.Errorf("%s: frame {%s, ...} decoded as %v", name, atom, r.Op)
		}
		if lo, hi := arity(r.Op); n < lo || n > hi {
			t.Errorf("%s: %d elements, table says %d..%d for %v", name, n, lo, hi, r.Op)
		}
		var again Request
		if err := ParseRequest(AppendRequest(nil, &r), &again); err != nil || again.Op != r.Op {
			t.Errorf("%s: AppendRequest of %v reads back as %v, %v", name, r.Op, again.Op, err)
		}
		seen[r.Op] = true
	}
	for op := OpInvalid + 1; int(op) < len(ops); op++ {
		if !seen[op] {
			t.Errorf("no OTP frame of %v", op)
		}
	}
}

// inertReqFrames reads testdata/inert_req.frames: the Erlang encoder's
// (inert_req's) bytes for one request of every PROTOCOL.md row, as
// {packet,4} frames. `make req-frames` writes it from
// erlang/inert/test/inert_req_tests.erl, whose EUnit test fails when
// inert_req's output no longer equals the file.
func inertReqFrames(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "inert_req.frames"))
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for len(b) > 0 {
		if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
			t.Fatalf("inert_req.frames: truncated frame after %d frames", len(frames))
		}
		n := int(binary.BigEndian.Uint32(b))
		frames = append(frames, b[4:4+n])
		b = b[4+n:]
	}
	return frames
}

// Every frame inert_req wrote decodes with ParseRequest to the Op named
// by its first atom, within the table's arity, into a Request whose
// fields hold the tuple's elements in the places PROTOCOL.md's row names
// them (Pid, Ref, FD, Mode, Dead, ...); AppendRequest writes the same
// Request back; and every PROTOCOL.md row has such a frame.
func TestOpTableMatchesInertReqFrames(t *testing.T) {
	forms := requestForms(t)
	covered := make([]bool, len(forms))
	for i, b := range inertReqFrames(t) {
		d := Decoder{buf: b}
		var n int
		var atom []byte
		err := d.Version()
		if err == nil {
			n, err = d.TupleHeader()
		}
		if err == nil {
			atom, err = d.Atom()
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		elems := make([][]byte, n-1)
		for j := range elems {
			if elems[j], err = d.Term(); err != nil {
				t.Fatalf("frame %d {%s, ...}: element %d: %v", i, atom, j+2, err)
			}
		}
		form := -1
		for k, f := range forms {
			if f.name == string(atom) && len(f.fields) == n-1 {
				form = k
			}
		}
		if form < 0 {
			t.Errorf("frame %d: inert_req writes {%s, ...} of %d elements, which no PROTOCOL.md row shows", i, atom, n)
			continue
		}
		covered[form] = true
		var r Request
		if err := ParseRequest(b, &r); err != nil {
			t.Errorf("frame %d {%s, ...}: %v", i, atom, err)
			continue
		}
		if r.Op.String() != string(atom) {
			t.Errorf("frame %d: {%s, ...} decoded as %v", i, atom, r.Op)
		}
		if lo, hi := arity(r.Op); n < lo || n > hi {
			t.Errorf("frame %d: %d elements, table says %d..%d for %v", i, n, lo, hi, r.Op)
		}
		for j, field := range forms[form].fields {
			if why := requestHolds(&r, field, elems[j]); why != "" {
				t.Errorf("frame %d {%s, ...}: %s (element %d): %s", i, atom, field, j+2, why)
			}
		}
		var again Request
		if err := ParseRequest(AppendRequest(nil, &r), &again); err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("frame %d: AppendRequest of %+v reads back as %+v, %v", i, r, again, err)
		}
	}
	for k, f := range forms {
		if !covered[k] {
			t.Errorf("PROTOCOL.md row {%s} has no frame in inert_req.frames (make req-frames)",
				strings.Join(append([]string{f.name}, f.fields...), ", "))
		}
	}
}

// requestHolds says why r does not hold the element raw where PROTOCOL.md
// names it field, or "" when it does.
func requestHolds(r *Request, field string, raw []byte) string {
	same := func(got []byte) string {
		if !bytes.Equal(got, raw) {
			return fmt.Sprintf("Request holds % x, the frame % x", got, raw)
		}
		return ""
	}
	integer := func(got int64, valid bool) string {
		d := Decoder{buf: raw}
		v, overflow, err := d.Int()
		if err != nil || overflow || !valid || got != v {
			return fmt.Sprintf("Request holds %d (valid %v), the frame % x", got, valid, raw)
		}
		return ""
	}
	switch field {
	case "Owner", "Pid":
		return same(r.Pid)
	case "Ref":
		return same(r.Ref)
	case "Dead":
		return same(r.Dead)
	case "NewOwner":
		return same(r.NewOwner)
	case "FD":
		return integer(r.FD, r.FDValid)
	case "N":
		return integer(r.Acked, true)
	case "Mode":
		d := Decoder{buf: raw}
		if a, err := d.Atom(); err != nil || !r.ModeOK || r.Mode.String() != string(a) {
			return fmt.Sprintf("Request holds %v (ok %v), the frame % x", r.Mode, r.ModeOK, raw)
		}
		return ""
	case "Spec":
		if !r.SpecOK {
			return "not decoded as a valid spec"
		}
		return ""
	case "Type":
		d := Decoder{buf: raw}
		if a, err := d.Atom(); err != nil || r.IO.Type.String() != string(a) {
			return fmt.Sprintf("Request holds %v, the frame % x", r.IO.Type, raw)
		}
		return ""
	case "ReadSize":
		return integer(r.IO.ReadSize, true)
	case "SendQueue":
		return integer(r.IO.SendQueue, true)
	case "Bytes":
		return integer(r.IO.Credit, true)
	case "Data":
		d := Decoder{buf: raw}
		if b, err := d.Binary(); err != nil || !bytes.Equal(b, r.Data) {
			return fmt.Sprintf("Request holds % x, the frame % x", r.Data, raw)
		}
		return ""
	case "Termios":
		if !r.TermiosOK {
			return "not decoded as valid line settings"
		}
		return ""
	}
	return "the test does not know which Request field holds it: add it to requestHolds"
}

func TestOpStringNamesTheRequestOrTheNumber(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		op   Op
		want string
	}{
		{OpFdset, "fdset"},
		{OpControllingProcess, "controlling_process"},
		{OpOpen, "open"},
		{OpInvalid, "Op(0)"},
		{Op(200), "Op(200)"},
	} {
		if got := c.op.String(); got != c.want {
			t.Errorf("Op(%d).String() = %q, want %q", uint8(c.op), got, c.want)
		}
	}
}

func TestModeStringIsItsProtocolAtom(t *testing.T) {
	t.Parallel()
	for m, want := range map[Mode]string{ModeNone: "none", ModeRead: "read", ModeWrite: "write", ModeRW: "read_write", ModeRW | 4: "read_write"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
}
