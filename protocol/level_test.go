package protocol

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// The level table is the Level row of PROTOCOL.md's terms table, in
// order, and the entries table has the log row.
func TestLevelTableMatchesProtocolLevelRow(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^\\| `Level` \\| ([^|]*(?:\\\\\\|[^|]*)*) \\|").FindSubmatch(doc)
	if m == nil {
		t.Fatal("PROTOCOL.md has no Level row")
	}
	var names []string
	for _, a := range strings.Split(string(m[1]), `\|`) {
		names = append(names, strings.Trim(strings.TrimSpace(a), "`"))
	}
	if len(names) != len(levels) {
		t.Fatalf("PROTOCOL.md levels %q, table %q", names, levels)
	}
	for i, name := range names {
		if got := Level(i).String(); got != name {
			t.Errorf("Level(%d) is %q, PROTOCOL.md says %q", i, got, name)
		}
	}
	if !strings.Contains(string(doc), "\n| `{log, Level, Time, Text}` |") {
		t.Error("PROTOCOL.md's entries table has no {log, Level, Time, Text} row")
	}
	if got := Level(len(levels)).String(); got != "Level(5)" {
		t.Errorf("a level outside the table is %q", got)
	}
}

// Text is valid UTF-8 of at most MaxLogText bytes, cut at a character.
func TestLogTextIsValidUTF8AndBounded(t *testing.T) {
	long := strings.Repeat("\u00e9", MaxLogText) // 2 bytes each
	for _, c := range []struct {
		name, in, want string
	}{
		{"short", "ok", "ok"},
		{"invalid bytes", "a\xffb", "a\uFFFDb"},
		{"exactly the bound", strings.Repeat("a", MaxLogText), strings.Repeat("a", MaxLogText)},
		{"cut at a character", long, strings.Repeat("\u00e9", (MaxLogText-3)/2) + "..."},
	} {
		got := logText(c.in)
		if got != c.want || !utf8.ValidString(got) || len(got) > MaxLogText {
			t.Errorf("%s: logText gives %d bytes %q..., want %d bytes", c.name, len(got), got[:min(len(got), 8)], len(c.want))
		}
	}
}

func TestBatchLogPanicsOnALevelOutsideTheTable(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Batch.Log(Level(9)) did not panic")
		}
	}()
	var b Batch
	b.Log(Level(9), 0, "x")
}
