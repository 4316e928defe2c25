package protocol

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// requestRows reads the first column of PROTOCOL.md's requests table:
// for every request atom, the tuple sizes its rows give.
func requestRows(t *testing.T) map[string][]int {
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
	rows := map[string][]int{}
	for _, m := range row.FindAllStringSubmatch(s, -1) {
		rows[m[1]] = append(rows[m[1]], 1+strings.Count(m[2], ","))
	}
	if len(rows) == 0 {
		t.Fatal("no request rows found in PROTOCOL.md")
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
