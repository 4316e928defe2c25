package main

import (
	"fmt"
	"io"
	"log"
	"time"

	"github.com/inert-go/inert/protocol"
)

// maxQueued bounds the log lines waiting for a frame: while the VM does
// not read, or before the ready frame, a line beyond it is dropped and
// counted, and the next frame says how many were (memory stays bounded
// whatever inertd logs).
const maxQueued = 64

// logState is where a logger's lines go.
type logState uint8

const (
	logHeld   logState = iota // before the ready frame: held for the first frame after it
	logFramed                 // the protocol is up: entries of the next frame
	logStderr                 // stdout is gone (or never came up): stderr
)

// logLine is one line waiting for a frame.
type logLine struct {
	level protocol.Level
	at    time.Time
	text  string
}

// logger is inertd's one way to say something: every line has a level
// and goes to the VM's logger as a {log, Level, Time, Text} entry
// (PROTOCOL.md), so the user's logger configuration filters, formats and
// silences it. Lines logged before the ready frame are held and go in
// the first frame after it; only when the protocol never comes up, or
// stdout is gone, do they go to stderr. It is not safe for concurrent
// use: the event loop owns it.
type logger struct {
	stderr  *log.Logger
	now     func() time.Time // time.Now; tests set it
	state   logState
	queue   []logLine // waiting for the next frame, at most maxQueued
	sent    []logLine // in the frame being written, until it is out
	dropped int       // lines left out since the last frame
}

// newLogger returns a logger that holds its lines until up, and writes
// to stderr (prefixed with inertd's pid and the time) when it has to.
func newLogger(stderr io.Writer, pid int) *logger {
	return &logger{
		stderr: log.New(stderr, fmt.Sprintf("inertd[%d]: ", pid), 0),
		now:    time.Now,
	}
}

// Debugf logs a routine fact (the poller in use, a capability kept) or,
// with -v, a request.
func (l *logger) Debugf(format string, args ...any) { l.logf(protocol.LevelDebug, format, args...) }

// Infof logs a fact worth knowing: a fallback inertd took.
func (l *logger) Infof(format string, args ...any) { l.logf(protocol.LevelInfo, format, args...) }

// Warningf logs something that went wrong and that inertd carried on
// from (driver.Logger).
func (l *logger) Warningf(format string, args ...any) {
	l.logf(protocol.LevelWarning, format, args...)
}

// Errorf logs why inertd exits.
func (l *logger) Errorf(format string, args ...any) { l.logf(protocol.LevelError, format, args...) }

func (l *logger) logf(level protocol.Level, format string, args ...any) {
	line := logLine{level: level, at: l.now(), text: fmt.Sprintf(format, args...)}
	switch {
	case l.state == logStderr:
		l.print(line)
	case len(l.queue) >= maxQueued:
		l.dropped++
	default:
		l.queue = append(l.queue, line)
	}
}

// up is called once the ready frame is out: the lines held and those to
// come are entries of the next frames.
func (l *logger) up() {
	if l.state == logHeld {
		l.state = logFramed
	}
}

// addTo adds the lines waiting, and a warning with the count of those
// left out, to the frame b is building; they count as sent until
// written is called. Before up it adds nothing.
func (l *logger) addTo(b *protocol.Batch) {
	if l.state != logFramed || (len(l.queue) == 0 && l.dropped == 0) {
		return
	}
	for _, line := range l.queue {
		b.Log(line.level, line.at.UnixMicro(), line.text)
	}
	if l.dropped > 0 {
		b.Log(protocol.LevelWarning, l.now().UnixMicro(),
			fmt.Sprintf("%d log lines left out: inertd logged more than %d lines between two frames", l.dropped, maxQueued))
	}
	l.sent = append(l.sent, l.queue...)
	l.queue, l.dropped = l.queue[:0], 0
}

// written is called once the frame addTo added to is out.
func (l *logger) written() { l.sent = l.sent[:0] }

// down is called when no frame can carry the lines any more (stdout is
// gone, or inertd exits without ever having come up): the lines not yet
// out go to stderr, and so does every line after. When the VM is going
// away (quiet) nobody reads them: they are dropped instead.
func (l *logger) down(quiet bool) {
	if !quiet {
		for _, line := range l.sent {
			l.print(line)
		}
		for _, line := range l.queue {
			l.print(line)
		}
		if l.dropped > 0 {
			l.print(logLine{level: protocol.LevelWarning, at: l.now(), text: fmt.Sprintf("%d log lines left out", l.dropped)})
		}
	}
	l.sent, l.queue, l.dropped = nil, nil, 0
	l.state = logStderr
}

// pending reports whether lines wait for a frame.
func (l *logger) pending() bool { return l.state == logFramed && (len(l.queue) > 0 || l.dropped > 0) }

// print writes line to stderr as the line of a log.Logger with
// LstdFlags|Lmicroseconds would be, with the time it was logged and its
// level: "inertd[PID]: 2026/12/01 10:00:00.000001 warning: ...".
func (l *logger) print(line logLine) {
	l.stderr.Printf("%s %s: %s", line.at.Format("2006/01/02 15:04:05.000000"), line.level, line.text)
}
