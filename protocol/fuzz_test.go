package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
)

// Native fuzz targets, seeded from testdata/golden; crashers found are
// kept in testdata/fuzz/<Target>/. Run one with, e.g.,
//
//	go test -run='^$' -fuzz='^FuzzParseRequest$' -fuzztime=60s ./protocol/

func addGoldenSeeds(f *testing.F, names []string, strip bool) {
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if strip {
			b = b[1:]
		}
		f.Add(b)
	}
}

func checkDecodeError(t *testing.T, err error, n int) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || de.Off < 0 || de.Off > n {
		t.Fatalf("error %v is not a *DecodeError within the %d input bytes", err, n)
	}
}

// ParseRequest never panics; what it accepts, AppendRequest writes back
// to a request that parses to the same fields.
func FuzzParseRequest(f *testing.F) {
	addGoldenSeeds(f, goldenRequestFiles(f), false)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		if err := ParseRequest(b, &r); err != nil {
			checkDecodeError(t, err, len(b))
			return
		}
		enc := AppendRequest(nil, &r)
		var again Request
		if err := ParseRequest(enc, &again); err != nil || !sameRequest(&r, &again) {
			t.Fatalf("ParseRequest(%v) = %+v\nre-encoded %v parses to %+v, %v", b, r, enc, again, err)
		}
	})
}

// Skip never panics and, when it succeeds, has found the one term that
// starts the input: Term returns those bytes, and cutting them short is
// ErrTruncated.
func FuzzSkip(f *testing.F) {
	addGoldenSeeds(f, goldenFiles(f), true)
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		d.Reset(b)
		if err := d.Skip(); err != nil {
			checkDecodeError(t, err, len(b))
			if d.Offset() != 0 {
				t.Fatalf("failed Skip moved to %d", d.Offset())
			}
			return
		}
		end := d.Offset()
		if end <= 0 || end > len(b) {
			t.Fatalf("Skip ended at %d of %d", end, len(b))
		}
		d.Reset(b[:end])
		if raw, err := d.Term(); err != nil || len(raw) != end {
			t.Fatalf("Term() on the skipped bytes = %d bytes, %v", len(raw), err)
		}
		for _, cut := range []int{end - 1, end / 2} {
			d.Reset(b[:cut])
			if err := d.Skip(); !errors.Is(err, ErrTruncated) {
				t.Fatalf("Skip of the first %d of %d bytes = %v", cut, end, err)
			}
		}
	})
}

// Each typed reader agrees with Skip on where its term ends, and leaves
// the cursor alone when it fails; integers and atoms it reads re-encode
// to terms that read back the same.
func FuzzDecoder(f *testing.F) {
	addGoldenSeeds(f, goldenFiles(f), true)
	leaves := []func(*Decoder) error{
		func(d *Decoder) error { _, err := d.Pid(); return err },
		func(d *Decoder) error { _, err := d.Ref(); return err },
		func(d *Decoder) error { _, err := d.Binary(); return err },
		func(d *Decoder) error { return d.Nil() },
	}
	headers := []func(*Decoder) (int, error){
		(*Decoder).TupleHeader, (*Decoder).ListHeader, (*Decoder).MapHeader,
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		d.Reset(b)
		skipErr := d.Skip()
		skipEnd := d.Offset()
		check := func(what string, err error) {
			t.Helper()
			switch {
			case err != nil && d.Offset() != 0:
				t.Fatalf("%s failed (%v) and moved to %d", what, err, d.Offset())
			case err != nil:
				checkDecodeError(t, err, len(b))
			case skipErr != nil || d.Offset() != skipEnd:
				t.Fatalf("%s ended at %d, Skip at %d (%v)", what, d.Offset(), skipEnd, skipErr)
			}
		}
		for i, read := range leaves {
			d.Reset(b)
			check([]string{"Pid", "Ref", "Binary", "Nil"}[i], read(&d))
		}

		d.Reset(b)
		v, overflow, err := d.Int()
		check("Int", err)
		if err == nil && !overflow {
			d.Reset(AppendInt(nil, v))
			if w, o, err := d.Int(); w != v || o || err != nil || d.Len() != 0 {
				t.Fatalf("Int %d re-encoded reads as %d, %v, %v", v, w, o, err)
			}
		}

		d.Reset(b)
		name, err := d.Atom()
		check("Atom", err)
		if err == nil && len(name) <= 0xffff {
			d.Reset(AppendAtom(nil, string(name)))
			if again, err := d.Atom(); !bytes.Equal(again, name) || err != nil || d.Len() != 0 {
				t.Fatalf("atom %q re-encoded reads as %q, %v", name, again, err)
			}
		}

		for _, read := range headers {
			d.Reset(b)
			n, err := read(&d)
			if err != nil {
				check("header", err)
				continue
			}
			if n < 0 || d.Offset() <= 0 || n > d.Len() || skipErr == nil && d.Offset() > skipEnd {
				t.Fatalf("header of %d at %d, Skip at %d (%v)", n, d.Offset(), skipEnd, skipErr)
			}
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// referenceFrames splits the whole stream at once: payloads, and nil for an
// oversized frame.
func referenceFrames(stream []byte, limit int) [][]byte {
	var events [][]byte
	for len(stream) >= 4 {
		n := int(binary.BigEndian.Uint32(stream))
		stream = stream[4:]
		if n > limit {
			events = append(events, nil)
			stream = stream[min(n, len(stream)):]
			continue
		}
		if n > len(stream) {
			break
		}
		events = append(events, stream[:n])
		stream = stream[n:]
	}
	return events
}

// FrameReader, fed in chunks of any size by Feed or Fill, reports what a
// plain splitter of the whole stream does, with a buffer of exactly
// 4+limit bytes.
func FuzzFrameReader(f *testing.F) {
	const limit = 64
	seed := frames(readGolden(f, "sname", "mv2", "req_info")[:limit-4], nil, []byte{1, 2, 3})
	f.Add(byte(3), seed)
	f.Add(byte(0x80|7), append(binary.BigEndian.AppendUint32(nil, limit+1), seed...))
	f.Add(byte(1), []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, mode byte, stream []byte) {
		chunk := int(mode&0x7f) + 1
		fr := FrameReader{limit: limit}
		var got [][]byte
		drain := func() {
			for {
				p, ok, err := fr.Next()
				if err != nil {
					if !errors.Is(err, ErrFrameTooLarge) {
						t.Fatalf("Next: %v", err)
					}
					got = append(got, nil)
					continue
				}
				if !ok {
					return
				}
				got = append(got, bytes.Clone(p))
			}
		}
		if mode&0x80 == 0 {
			for rest := stream; len(rest) > 0; {
				n := fr.Feed(rest[:min(chunk, len(rest))])
				if n == 0 {
					t.Fatal("Feed took nothing")
				}
				rest = rest[n:]
				drain()
			}
		} else {
			rd := &chunkReader{stream, chunk}
			for {
				_, err := fr.Fill(rd)
				drain()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Fill: %v", err)
				}
			}
		}
		if len(fr.buf) != 0 && cap(fr.buf) != 4+limit || fr.Buffered() > 4+limit {
			t.Fatalf("buffer %d bytes, %d buffered", cap(fr.buf), fr.Buffered())
		}
		want := referenceFrames(stream, limit)
		if len(got) != len(want) {
			t.Fatalf("%d events, want %d", len(got), len(want))
		}
		for i := range want {
			if (got[i] == nil) != (want[i] == nil) || !bytes.Equal(got[i], want[i]) {
				t.Fatalf("event %d: %v, want %v", i, got[i], want[i])
			}
		}
	})
}
