package protocol

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// batchHead is the frame prefix Bytes patches: the {packet,4} length, the
// version byte, and the LIST_EXT header with its element count.
const batchHead = 4 + 1 + 1 + 4

// Batch builds one stdout frame: a {packet,4} length, then the list of
// entries of PROTOCOL.md as one term. There is one method per entry; Pid,
// Ref, Owner and NewOwner arguments are raw terms as ParseRequest returns
// them and are copied in byte for byte. Once the buffer has grown to the
// largest frame, adding an entry does not allocate. The zero Batch is
// empty and ready to use.
type Batch struct {
	buf []byte // batchHead placeholder, then the entries; no tail
	n   int    // entries in buf
}

// Reset empties b and keeps its buffer.
func (b *Batch) Reset() { b.buf, b.n = b.buf[:0], 0 }

// Len returns the number of entries in b.
func (b *Batch) Len() int { return b.n }

// Bytes returns the whole frame, ready for one write(2), or nil when b
// has no entries. The frame aliases b's buffer: it stays valid until b
// is changed.
func (b *Batch) Bytes() []byte {
	if b.n == 0 {
		return nil
	}
	frame := AppendNil(b.buf) // the list's tail
	binary.BigEndian.PutUint32(frame[0:], uint32(len(frame)-4))
	frame[4], frame[5] = tagVersion, tagList
	binary.BigEndian.PutUint32(frame[6:], uint32(b.n))
	b.buf = frame[:len(frame)-1]
	return frame
}

// Append returns b's buffer to append one entry to with the Append*
// encoders, for entries without a method here (such as the map of an
// info reply; see Reply for a pre-encoded term). Hand the result to
// Commit; until then the entry is not part of the frame.
func (b *Batch) Append() []byte {
	if len(b.buf) == 0 {
		b.buf = append(b.buf, make([]byte, batchHead)...) // patched by Bytes
	}
	return b.buf
}

// Commit adds the entry appended to the buffer Append returned. buf must
// be that buffer with exactly one term appended.
func (b *Batch) Commit(buf []byte) {
	b.buf = buf
	b.n++
}

// entry starts an entry: a tuple of arity elements whose first is tag.
func (b *Batch) entry(arity int, tag string) []byte {
	return AppendAtom(AppendTupleHeader(b.Append(), arity), tag)
}

// Ready adds {ready, Version, OsPid, Path}, Path as a binary.
func (b *Batch) Ready(version, osPid int, path string) {
	buf := b.entry(4, "ready")
	buf = AppendInt(buf, int64(version))
	buf = AppendInt(buf, int64(osPid))
	b.Commit(appendBinaryString(buf, path))
}

// Hello adds {hello, Owner, Version}.
func (b *Batch) Hello(owner []byte, version int) {
	buf := AppendRaw(b.entry(3, "hello"), owner)
	b.Commit(AppendInt(buf, int64(version)))
}

// Event adds {inert_read, Pid, FD, Ref} or {inert_write, Pid, FD, Ref}:
// Ref is the Ref of the fdset that armed the interest. dir must be
// ModeRead or ModeWrite; anything else is a bug in the caller and panics.
func (b *Batch) Event(dir Mode, pid []byte, fd int64, ref []byte) {
	var tag string
	switch dir {
	case ModeRead:
		tag = "inert_read"
	case ModeWrite:
		tag = "inert_write"
	default:
		panic("protocol: Batch.Event: dir is not ModeRead or ModeWrite")
	}
	buf := AppendRaw(b.entry(4, tag), pid)
	buf = AppendInt(buf, fd)
	b.Commit(AppendRaw(buf, ref))
}

// Failed adds {failed, Pid, Ref, FD, Reason}, Reason the atom reason
// (eperm, emfile, einval, ...): the fdset Ref could not be armed.
func (b *Batch) Failed(pid, ref []byte, fd int64, reason string) {
	buf := AppendRaw(AppendRaw(b.entry(5, "failed"), pid), ref)
	buf = AppendInt(buf, fd)
	b.Commit(AppendAtom(buf, reason))
}

// FailedBusy adds {failed, Pid, Ref, FD, {ebusy, Owner}}: the fdset Ref
// could not be armed because Owner holds FD.
func (b *Batch) FailedBusy(pid, ref []byte, fd int64, owner []byte) {
	buf := AppendRaw(AppendRaw(b.entry(5, "failed"), pid), ref)
	buf = AppendInt(buf, fd)
	buf = AppendAtom(AppendTupleHeader(buf, 2), "ebusy")
	b.Commit(AppendRaw(buf, owner))
}

// Polled adds {polled, Pid, Ref, FD, Dir}.
func (b *Batch) Polled(pid, ref []byte, fd int64, dir Mode) {
	buf := AppendRaw(AppendRaw(b.entry(5, "polled"), pid), ref)
	buf = AppendInt(buf, fd)
	b.Commit(AppendAtom(buf, dir.String()))
}

// Cleared adds {cleared, Pid, Ref, FD, Left, IRef}; Left is none when
// left is ModeNone. IRef is the Ref of the interest FD had (iref, a raw
// term), or the atom none when iref is nil: FD had no interest.
func (b *Batch) Cleared(pid, ref []byte, fd int64, left Mode, iref []byte) {
	buf := AppendRaw(AppendRaw(b.entry(6, "cleared"), pid), ref)
	buf = AppendInt(buf, fd)
	buf = AppendAtom(buf, left.String())
	if iref == nil {
		b.Commit(AppendAtom(buf, "none"))
		return
	}
	b.Commit(AppendRaw(buf, iref))
}

// Closed adds {closed, Pid, Ref, FD}: the VM closed FD (or its number
// now names another file) while the fdset Ref was armed; inertd has
// dropped the interest and closed its copy.
func (b *Batch) Closed(pid, ref []byte, fd int64) {
	buf := AppendRaw(AppendRaw(b.entry(4, "closed"), pid), ref)
	b.Commit(AppendInt(buf, fd))
}

// Cancelled adds {cancelled, Ref}.
func (b *Batch) Cancelled(ref []byte) {
	b.Commit(AppendRaw(b.entry(2, "cancelled"), ref))
}

// Owner adds {owner, Pid, Ref, NewOwner}.
func (b *Batch) Owner(pid, ref, newOwner []byte) {
	buf := AppendRaw(AppendRaw(b.entry(4, "owner"), pid), ref)
	b.Commit(AppendRaw(buf, newOwner))
}

// Error adds {error, Pid, Ref, Reason} with Reason the atom reason
// (ebadf, einval, not_owner, ...).
func (b *Batch) Error(pid, ref []byte, reason string) {
	buf := AppendRaw(AppendRaw(b.entry(4, "error"), pid), ref)
	b.Commit(AppendAtom(buf, reason))
}

// Busy adds {error, Pid, Ref, {ebusy, Owner}}: FD is held by Owner.
func (b *Batch) Busy(pid, ref, owner []byte) {
	buf := AppendRaw(AppendRaw(b.entry(4, "error"), pid), ref)
	buf = AppendAtom(AppendTupleHeader(buf, 2), "ebusy")
	b.Commit(AppendRaw(buf, owner))
}

// Reply adds {reply, Pid, Ref, Term}; term is already encoded, without a
// version byte. To build Term in place instead, use Append and Commit.
func (b *Batch) Reply(pid, ref, term []byte) {
	buf := AppendRaw(AppendRaw(b.entry(4, "reply"), pid), ref)
	b.Commit(AppendRaw(buf, term))
}

// MaxLogText bounds the Text of a log entry, in bytes: a longer text is
// cut (at a character boundary) and ends in "...".
const MaxLogText = 1024

// Log adds {log, Level, Time, Text}: a line inertd logs, for the VM's
// logger. Time is when it was logged, in microseconds since the Unix
// epoch (OTP logger's time); Text is a UTF-8 binary of at most
// MaxLogText bytes (invalid bytes become U+FFFD). level must be in the
// level table; anything else is a bug in the caller and panics.
func (b *Batch) Log(level Level, usec int64, text string) {
	if int(level) >= len(levels) {
		panic("protocol: Batch.Log: level is not in the level table")
	}
	buf := AppendAtom(b.entry(4, "log"), levels[level])
	buf = AppendInt(buf, usec)
	b.Commit(appendBinaryString(buf, logText(text)))
}

// logText makes text valid UTF-8 of at most MaxLogText bytes.
func logText(text string) string {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	if len(text) <= MaxLogText {
		return text
	}
	const ellipsis = "..."
	cut := MaxLogText - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + ellipsis
}

// IOSent adds {io_sent, Pid, Ref, Bytes}: Bytes more of the I/O handle
// Ref's queued bytes are written.
func (b *Batch) IOSent(pid, ref []byte, n int64) {
	buf := AppendRaw(AppendRaw(b.entry(4, "io_sent"), pid), ref)
	b.Commit(AppendInt(buf, n))
}

// IOClosed adds {io_closed, Pid, Ref, Reason}: the I/O handle Ref is gone
// from inertd; reason is eof, closed, enobufs or an errno atom.
func (b *Batch) IOClosed(pid, ref []byte, reason string) {
	buf := AppendRaw(AppendRaw(b.entry(4, "io_closed"), pid), ref)
	b.Commit(AppendAtom(buf, reason))
}

// IOData adds {io_data, Pid, Ref, Chunks}, each chunk read in place into
// the frame's buffer: read is called with a slice of size bytes at the
// end of the buffer and returns how many of them it filled (n, 0..size)
// and whether that was a chunk (keep) and whether to read again (more).
// A chunk becomes one binary of Chunks. It returns the number of chunks;
// with none, nothing is added to b.
func (b *Batch) IOData(pid, ref []byte, size int, read func(p []byte) (n int, keep, more bool)) int {
	start := b.Append()
	buf := AppendRaw(AppendRaw(AppendAtom(AppendTupleHeader(start, 4), "io_data"), pid), ref)
	countAt := len(buf) + 1
	buf = append(buf, tagList, 0, 0, 0, 0) // the count is patched below
	chunks := 0
	for more := true; more; {
		head := len(buf)
		if cap(buf)-head < 5+size {
			grown := make([]byte, head, 2*cap(buf)+5+size)
			copy(grown, buf)
			buf = grown
		}
		p := buf[head+5 : head+5+size]
		var n int
		var keep bool
		n, keep, more = read(p)
		if !keep {
			continue
		}
		buf = buf[:head+5+n]
		buf[head] = tagBinary
		binary.BigEndian.PutUint32(buf[head+1:], uint32(n))
		chunks++
	}
	if chunks == 0 {
		// b.buf may have been outgrown: keep the larger buffer, without
		// the entry.
		b.buf = buf[:len(start)]
		return 0
	}
	binary.BigEndian.PutUint32(buf[countAt:], uint32(chunks))
	b.Commit(AppendNil(buf))
	return chunks
}
