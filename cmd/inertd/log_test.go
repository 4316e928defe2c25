package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/inert-go/inert/protocol"
)

// writingLogger is a logger whose lines go straight to w, as they do once
// stdout is gone.
func writingLogger(w io.Writer) *logger {
	l := newLogger(w, 0)
	l.down(false)
	return l
}

// logEntry is a {log, Level, Time, Text} entry as the VM decodes it.
type logEntry struct {
	level string
	usec  int64
	text  string
}

func (e logEntry) String() string { return e.level + ": " + e.text }

// asLogEntry reports whether e is a well-formed log entry and returns it.
func asLogEntry(e etf.Term) (logEntry, bool) {
	t, ok := e.(etf.Tuple)
	if !ok || len(t) != 4 || t[0] != etf.Atom("log") {
		return logEntry{}, false
	}
	level, ok1 := t[1].(etf.Atom)
	text, ok2 := t[3].([]byte)
	var usec int64
	switch v := t[2].(type) {
	case int64:
		usec = v
	case int:
		usec = int64(v)
	default:
		return logEntry{}, false
	}
	if !ok1 || !ok2 {
		return logEntry{}, false
	}
	return logEntry{string(level), usec, string(text)}, true
}

// decodeFrame decodes a whole {packet,4} frame with ergo's etf.
func decodeFrame(t *testing.T, frame []byte) etf.List {
	t.Helper()
	if len(frame) < 5 || frame[4] != 131 {
		t.Fatalf("not a frame: % x", frame)
	}
	term, rest, err := etf.Decode(frame[5:], nil, etf.DecodeOptions{FlagBigPidRef: true})
	if err != nil || len(rest) != 0 {
		t.Fatalf("frame does not decode: %v (rest %d)", err, len(rest))
	}
	return term.(etf.List)
}

// frameLogs builds the frame l adds its lines to and decodes them.
func frameLogs(t *testing.T, l *logger) []logEntry {
	t.Helper()
	var b protocol.Batch
	l.addTo(&b)
	if b.Len() == 0 {
		return nil
	}
	var got []logEntry
	for _, e := range decodeFrame(t, b.Bytes()) {
		le, ok := asLogEntry(e)
		if !ok {
			t.Fatalf("entry %v is not a log entry", e)
		}
		got = append(got, le)
	}
	l.written()
	return got
}

func TestLoggerHoldsLinesUntilReadyThenFramesThemWithLevelAndTime(t *testing.T) {
	var stderr bytes.Buffer
	l := newLogger(&stderr, 42)
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	l.now = func() time.Time { return at }
	l.Debugf("using %s", "io_uring")
	l.Infof("using epoll: %s", "io_uring_setup: ENOMEM")
	l.Warningf("presize fd table: %v", "einval")
	if got := frameLogs(t, l); got != nil {
		t.Fatalf("before up: a frame of %v, want none (the ready frame goes alone)", got)
	}
	l.up()
	l.Errorf("after ready")
	got := frameLogs(t, l)
	want := []logEntry{
		{"debug", at.UnixMicro(), "using io_uring"},
		{"info", at.UnixMicro(), "using epoll: io_uring_setup: ENOMEM"},
		{"warning", at.UnixMicro(), "presize fd table: einval"},
		{"error", at.UnixMicro(), "after ready"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || got[0].usec != at.UnixMicro() {
		t.Fatalf("frame after up: %v, want %v", got, want)
	}
	if again := frameLogs(t, l); again != nil {
		t.Fatalf("lines framed twice: %v", again)
	}
	l.down(false)
	if stderr.Len() != 0 {
		t.Fatalf("lines that went out in frames also reached stderr:\n%s", stderr.String())
	}
}

// A VM that does not read, or a flood between two frames: the lines
// beyond maxQueued are dropped, and the next frame says how many.
func TestLoggerDropsLinesBeyondTheBoundAndCountsThem(t *testing.T) {
	l := newLogger(io.Discard, 1)
	l.up()
	for i := 0; i < maxQueued+10; i++ {
		l.Warningf("line %d", i)
	}
	got := frameLogs(t, l)
	if len(got) != maxQueued+1 {
		t.Fatalf("%d entries, want %d lines and one count", len(got), maxQueued+1)
	}
	last := got[len(got)-1]
	if last.level != "warning" || !strings.HasPrefix(last.text, "10 log lines left out") {
		t.Fatalf("last entry %v, want the count of the 10 left out", last)
	}
	l.Warningf("next")
	if got := frameLogs(t, l); len(got) != 1 || got[0].text != "next" {
		t.Fatalf("after the frame: %v, want the new line alone", got)
	}
}

// Lines the protocol could not carry go to stderr: held ones when
// inertd exits before its ready frame, those of a frame that was never
// written, and every line after stdout is gone; none when the VM is going
// away (quiet).
func TestLoggerWritesToStderrOnlyWhenNoFrameCanCarryTheLines(t *testing.T) {
	for _, c := range []struct {
		name  string
		run   func(l *logger)
		quiet bool
		want  []string
	}{
		{"exit before ready", func(l *logger) { l.Infof("using epoll"); l.Errorf("fatal: x") }, false,
			[]string{"info: using epoll", "error: fatal: x"}},
		{"frame not written", func(l *logger) {
			l.up()
			l.Warningf("in the lost frame")
			l.addTo(&protocol.Batch{})
			l.Warningf("queued")
		}, false, []string{"warning: in the lost frame", "warning: queued"}},
		{"frame written", func(l *logger) { l.up(); l.Warningf("out"); l.addTo(&protocol.Batch{}); l.written() }, false, nil},
		{"VM going away", func(l *logger) { l.up(); l.Warningf("unread") }, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			l := newLogger(&stderr, 7)
			c.run(l)
			l.down(c.quiet)
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if line == "" {
					continue
				}
				if !strings.HasPrefix(line, "inertd[7]: ") {
					t.Fatalf("stderr line %q without the inertd[pid] prefix", line)
				}
				f := strings.SplitN(line, " ", 4) // prefix, date, time, rest
				got = append(got, f[3])
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("stderr %q, want %q", got, c.want)
			}
			stderr.Reset()
			l.Errorf("after down")
			if !strings.Contains(stderr.String(), "error: after down") {
				t.Fatalf("after down: stderr %q, want the line", stderr.String())
			}
		})
	}
}
