package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// frames is the {packet,4} stream of payloads.
func frames(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = AppendFrame(b, p)
	}
	return b
}

// readAll drains a FrameReader fed by Fill from rd; oversized frames
// appear as nil payloads.
func readAll(t *testing.T, f *FrameReader, rd io.Reader) [][]byte {
	t.Helper()
	var got [][]byte
	for {
		n, err := f.Fill(rd)
		for {
			p, ok, ferr := f.Next()
			if ferr != nil {
				if !errors.Is(ferr, ErrFrameTooLarge) {
					t.Fatalf("Next: %v", ferr)
				}
				got = append(got, nil)
				continue
			}
			if !ok {
				break
			}
			got = append(got, bytes.Clone(p))
		}
		if err == io.EOF {
			return got
		}
		if err != nil || n == 0 && err == nil && f.Buffered() == len(f.buf) {
			t.Fatalf("Fill = %d, %v", n, err)
		}
	}
}

func TestFrameReaderSplitsFramesAcrossReads(t *testing.T) {
	req := readGolden(t, "sname", "mv2", "req_fdset_read")
	big := bytes.Repeat([]byte{7}, MaxFrame)
	stream := frames(req, nil, big, req)
	for name, rd := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		"halves":   iotest.HalfReader(bytes.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			var f FrameReader
			got := readAll(t, &f, rd)
			want := [][]byte{req, {}, big, req}
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) || got[i] == nil {
					t.Fatalf("frame %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
				}
			}
			if f.Buffered() != 0 || len(f.buf) != 4+MaxFrame {
				t.Fatalf("Buffered() = %d, buffer %d bytes", f.Buffered(), len(f.buf))
			}
		})
	}
}

// An oversized frame is reported once and its bytes dropped as they come;
// the frames around it arrive intact, and memory stays 4+MaxFrame.
func TestFrameReaderSkipsOversizedFrame(t *testing.T) {
	req := readGolden(t, "sname", "mv2", "req_info")
	huge := bytes.Repeat([]byte{1}, 3*MaxFrame+5)
	stream := frames(req, huge, req)
	for name, rd := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			var f FrameReader
			got := readAll(t, &f, rd)
			if len(got) != 3 || !bytes.Equal(got[0], req) || got[1] != nil || !bytes.Equal(got[2], req) {
				t.Fatalf("got %d frames: %v", len(got), got)
			}
			if cap(f.buf) != 4+MaxFrame {
				t.Fatalf("buffer grew to %d", cap(f.buf))
			}
		})
	}
}

func TestFrameReaderDeclaredLengthIsNeverAllocated(t *testing.T) {
	var f FrameReader
	f.Feed([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	_, ok, err := f.Next()
	if ok || !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Next() = %v, %v", ok, err)
	}
	if f.Skipping() != 0xffffffff-3 || f.Buffered() != 0 {
		t.Fatalf("Skipping() = %d, Buffered() = %d", f.Skipping(), f.Buffered())
	}
	// Feed drops skipped bytes without storing them.
	if n := f.Feed(make([]byte, 1<<20)); n != 1<<20 || f.Buffered() != 0 {
		t.Fatalf("Feed took %d, Buffered() = %d", n, f.Buffered())
	}
	f.Reset()
	if f.Skipping() != 0 {
		t.Fatal("Reset kept the skip")
	}
}

func TestFrameReaderFeedTakesWhatFits(t *testing.T) {
	payload := bytes.Repeat([]byte{3}, MaxFrame)
	stream := frames(payload, payload)
	var f FrameReader
	var got int
	for len(stream) > 0 {
		n := f.Feed(stream)
		if n == 0 {
			t.Fatal("Feed took nothing after Next drained")
		}
		stream = stream[n:]
		for {
			p, ok, err := f.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if !bytes.Equal(p, payload) {
				t.Fatal("payload differs")
			}
			got++
		}
	}
	if got != 2 {
		t.Fatalf("%d frames", got)
	}
}

func TestFrameReaderFillWhenFullIsShortBuffer(t *testing.T) {
	f := FrameReader{limit: 4}
	f.Feed(frames([]byte{1, 2, 3, 4}))
	if n, err := f.Fill(bytes.NewReader([]byte{9})); n != 0 || err != io.ErrShortBuffer {
		t.Fatalf("Fill = %d, %v", n, err)
	}
	if p, ok, _ := f.Next(); !ok || !bytes.Equal(p, []byte{1, 2, 3, 4}) {
		t.Fatalf("Next = %v, %v", p, ok)
	}
}

func TestFrameReaderNextDoesNotAllocate(t *testing.T) {
	req := readGolden(t, "sname", "mv2", "req_fdset_read")
	stream := frames(req, req, req)
	var f FrameReader
	f.Feed(nil) // allocate the buffer
	if n := testing.AllocsPerRun(100, func() {
		f.Feed(stream)
		for {
			if _, ok, _ := f.Next(); !ok {
				break
			}
		}
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
