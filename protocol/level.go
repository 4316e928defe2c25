package protocol

import "strconv"

// Level is the level of a log entry of PROTOCOL.md, {log, Level, Time,
// Text}: one of OTP logger's levels. levels (below) is its table.
type Level uint8

const (
	LevelDebug Level = iota
	LevelInfo
	LevelNotice
	LevelWarning
	LevelError
)

// levels is the level table: the atom each Level is written as, OTP
// logger's name for it. Batch.Log and Level.String read it; nothing else
// names a level. TestLevelTableMatchesProtocolLevelRow checks it against
// PROTOCOL.md. inertd uses no level above error (critical, alert,
// emergency are the VM's).
var levels = [...]string{
	LevelDebug:   "debug",
	LevelInfo:    "info",
	LevelNotice:  "notice",
	LevelWarning: "warning",
	LevelError:   "error",
}

// String returns the level's atom, e.g. "warning"; a Level outside the
// table is "Level(N)".
func (l Level) String() string {
	if int(l) < len(levels) {
		return levels[l]
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}
