package driver

import "time"

// RateLimit keeps one kind of log line from filling the log (a flood of
// undecodable requests, a foreign process connecting in a loop): the
// first line is written, then at most one a second, which says how many
// were left out since the last one written. The zero RateLimit is ready.
type RateLimit struct {
	last    time.Time
	skipped int
	now     func() time.Time // time.Now; tests set it
}

// Warningf logs the line to l unless one of its kind was logged less
// than a second ago.
func (r *RateLimit) Warningf(l Logger, format string, args ...any) {
	now := time.Now()
	if r.now != nil {
		now = r.now()
	}
	if !r.last.IsZero() && now.Sub(r.last) < time.Second {
		r.skipped++
		return
	}
	if r.skipped > 0 {
		format += " (%d more like it left out)"
		args = append(args, r.skipped)
	}
	l.Warningf(format, args...)
	r.last, r.skipped = now, 0
}
