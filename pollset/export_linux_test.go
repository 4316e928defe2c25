//go:build linux

package pollset

// RingBytes is the ring memory of u the kernel counts against the
// user's RLIMIT_MEMLOCK: the SQ and CQ rings and the SQE array.
func RingBytes(u *Uring) int { return len(u.ring) + len(u.sqem) }
