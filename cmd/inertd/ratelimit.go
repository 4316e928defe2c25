package main

import (
	"log"
	"time"
)

// rateLimit keeps a kind of log line from filling stderr: the first one
// is written, then at most one a second, which counts those left out.
type rateLimit struct {
	last    time.Time
	skipped int
}

func (r *rateLimit) printf(l *log.Logger, format string, args ...any) {
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < time.Second {
		r.skipped++
		return
	}
	if r.skipped > 0 {
		format += " (and %d more like it since the last such line)"
		args = append(args, r.skipped)
	}
	l.Printf(format, args...)
	r.last, r.skipped = now, 0
}
