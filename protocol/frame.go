package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrame is the largest request inertd accepts, in bytes: the payload of
// a {packet,4} frame on stdin, or one side-channel message.
const MaxFrame = 64 << 10

// ErrFrameTooLarge is wrapped by the error FrameReader.Next returns for a
// length prefix above MaxFrame.
var ErrFrameTooLarge = errors.New("frame larger than MaxFrame")

// AppendFrame appends payload as one {packet,4} frame: its length as a
// big-endian uint32, then the bytes.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// FrameReader splits a {packet,4} byte stream, such as a non-blocking
// stdin, into frame payloads. It owns one buffer of 4+MaxFrame bytes,
// allocated on first use, and never allocates from a length prefix.
//
// Use: after Fill (or Feed) call Next until it reports no frame; then
// Fill again when the fd is readable. A payload aliases the buffer and is
// valid until the next Fill, Feed or Reset.
//
// An oversized length prefix (above MaxFrame) makes Next return an error
// wrapping ErrFrameTooLarge. To recover, log it and carry on as before,
// calling Next again: the reader has put itself in a discard state in
// which the next Len bytes of the stream (the oversized frame's payload)
// are dropped as they come, without being stored, and the frame after it
// is returned normally. Skipping reports the bytes still to drop.
type FrameReader struct {
	buf   []byte // unread bytes are buf[r:w]
	r, w  int
	skip  uint64 // bytes of an oversized frame still to drop
	limit int    // largest payload; 0 means MaxFrame (tests lower it)
}

func (f *FrameReader) max() int {
	if f.limit > 0 {
		return f.limit
	}
	return MaxFrame
}

// compact moves the unread bytes to the front of the buffer, allocating it
// the first time.
func (f *FrameReader) compact() {
	if f.buf == nil {
		f.buf = make([]byte, 4+f.max())
	}
	if f.r > 0 {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
}

// Fill makes one Read from rd into the free part of the buffer and
// returns its results: io.EOF and a non-blocking fd's EAGAIN come back
// as they are. When a whole frame is waiting for Next the buffer may be
// full; then Fill reads nothing and returns io.ErrShortBuffer.
func (f *FrameReader) Fill(rd io.Reader) (int, error) {
	f.compact()
	if f.w == len(f.buf) {
		return 0, io.ErrShortBuffer
	}
	n, err := rd.Read(f.buf[f.w:])
	if n > 0 {
		f.w += n
	}
	return n, err
}

// Feed stores as much of p as fits and returns how many bytes it took;
// bytes of an oversized frame are dropped at once and count as taken.
// After Next has reported no frame, Feed takes at least one byte.
func (f *FrameReader) Feed(p []byte) int {
	taken := 0
	if f.skip > 0 && f.r == f.w {
		n := min(f.skip, uint64(len(p)))
		f.skip -= n
		p, taken = p[n:], int(n)
	}
	f.compact()
	n := copy(f.buf[f.w:], p)
	f.w += n
	return taken + n
}

// Next returns the next complete payload and true, or false when more
// bytes are needed. See FrameReader for its error.
func (f *FrameReader) Next() ([]byte, bool, error) {
	if f.drop(); f.skip > 0 || f.w-f.r < 4 {
		return nil, false, nil
	}
	n := uint64(binary.BigEndian.Uint32(f.buf[f.r:]))
	if n > uint64(f.max()) {
		f.r += 4
		f.skip = n
		f.drop()
		return nil, false, fmt.Errorf("%w: length prefix %d", ErrFrameTooLarge, n)
	}
	if n > uint64(f.w-f.r-4) {
		return nil, false, nil
	}
	start := f.r + 4
	end := start + int(n)
	f.r = end
	return f.buf[start:end:end], true, nil
}

// drop discards the buffered bytes of an oversized frame.
func (f *FrameReader) drop() {
	n := min(f.skip, uint64(f.w-f.r))
	f.r += int(n)
	f.skip -= n
}

// Buffered returns the number of bytes held that Next has not returned:
// at end of input, a non-zero value (or Skipping) means the last frame
// was cut short.
func (f *FrameReader) Buffered() int { return f.w - f.r }

// Skipping returns the number of bytes of an oversized frame still to be
// dropped.
func (f *FrameReader) Skipping() uint64 { return f.skip }

// Reset forgets all buffered bytes and any frame being dropped, and keeps
// the buffer.
func (f *FrameReader) Reset() { f.r, f.w, f.skip = 0, 0, 0 }
