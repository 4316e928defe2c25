package protocol

import (
	"bytes"
	"testing"
)

func TestBatchEmptyHasNoFrame(t *testing.T) {
	var b Batch
	if b.Bytes() != nil || b.Len() != 0 {
		t.Fatal("zero Batch has a frame")
	}
	_ = b.Append() // an entry begun and never committed
	if b.Bytes() != nil || b.Len() != 0 {
		t.Fatal("uncommitted entry made a frame")
	}
	b.Event(ModeRead, readGolden(t, "local", "mv2", "pid")[1:], 7, readGolden(t, "local", "mv2", "gen")[1:])
	b.Reset()
	if b.Bytes() != nil || b.Len() != 0 {
		t.Fatal("Reset kept entries")
	}
}

// Bytes can be called again, and entries added after it, without
// disturbing the frame: the NIL tail is never left in the middle.
func TestBatchBytesThenMoreEntries(t *testing.T) {
	c := loadComponents(t, "sname", "mv2")
	var b Batch
	b.Event(ModeRead, c["pid"], 7, c["gen"])
	b.Event(ModeWrite, c["pid"], 7, c["gen"])
	first := bytes.Clone(b.Bytes())
	if again := b.Bytes(); !bytes.Equal(first, again) {
		t.Fatalf("second Bytes() differs")
	}
	b.Failed(c["pid2"], c["gen_big"], 8, "einval")
	b.Error(c["pid2"], c["ref"], "einval")
	if b.Len() != 4 {
		t.Fatalf("Len() = %d", b.Len())
	}
	want := AppendFrame(nil, readGolden(t, "sname", "mv2", "ent_multi"))
	if got := b.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestBatchEntriesDoNotAllocateOnceGrown(t *testing.T) {
	c := loadComponents(t, "sname", "mv2")
	var b Batch
	fill := func() {
		b.Reset()
		for _, e := range goldenEntries {
			e.build(&b, c)
		}
		_ = b.Bytes()
	}
	fill()
	if n := testing.AllocsPerRun(100, fill); n != 0 {
		t.Errorf("%v allocs per batch of every entry, want 0", n)
	}
}

func TestBatchEventPanicsOnAnotherDirection(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Event(ModeRW) did not panic")
		}
	}()
	var b Batch
	b.Event(ModeRW, nil, 1, nil)
}

func BenchmarkBatchEvent(b *testing.B) {
	pid := readGolden(b, "sname", "mv2", "pid")[1:]
	gen := readGolden(b, "sname", "mv2", "gen")[1:]
	var batch Batch
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if batch.Len() == 64 {
			batch.Reset()
		}
		batch.Event(ModeRead, pid, 7, gen)
	}
	_ = batch.Bytes()
}

// IOData reads each chunk into the frame itself and writes
// {io_data, Pid, Ref, [Bin, ...]}: the bytes AppendBinary would write, a
// read that keeps nothing leaves no trace, and an entry without chunks
// is not added (the entries before it stay whole).
func TestBatchIODataReadsChunksInPlace(t *testing.T) {
	c := loadComponents(t, "sname", "mv2")
	var b Batch
	b.IOSent(c["pid"], c["ref"], 5)
	if n := b.IOData(c["pid"], c["ref"], 4096, func(p []byte) (int, bool, bool) { return 0, false, false }); n != 0 || b.Len() != 1 {
		t.Fatalf("an io_data of no chunk: %d chunks, %d entries", n, b.Len())
	}
	reads := [][]byte{[]byte("first"), nil, bytes.Repeat([]byte{7}, 70000), []byte("")}
	i := 0
	n := b.IOData(c["pid"], c["ref"], 70000, func(p []byte) (int, bool, bool) {
		r := reads[i]
		i++
		if len(p) != 70000 {
			t.Fatalf("read of %d bytes, want 70000", len(p))
		}
		return copy(p, r), r != nil, i < len(reads)
	})
	b.IOClosed(c["pid"], c["ref"], "eof")
	if n != 3 || b.Len() != 3 {
		t.Fatalf("%d chunks, %d entries", n, b.Len())
	}
	want := AppendTupleHeader(nil, 4)
	want = AppendAtom(want, "io_sent")
	want = AppendInt(AppendRaw(AppendRaw(want, c["pid"]), c["ref"]), 5)
	want = AppendAtom(AppendTupleHeader(want, 4), "io_data")
	want = AppendListHeader(AppendRaw(AppendRaw(want, c["pid"]), c["ref"]), 3)
	for _, r := range [][]byte{reads[0], reads[2], reads[3]} {
		want = AppendBinary(want, r)
	}
	want = AppendNil(want)
	want = AppendAtom(AppendTupleHeader(want, 4), "io_closed")
	want = AppendAtom(AppendRaw(AppendRaw(want, c["pid"]), c["ref"]), "eof")
	want = AppendNil(want)
	frame := b.Bytes()
	if got := frame[batchHead:]; !bytes.Equal(got, want) {
		t.Fatalf("frame body\n got %d bytes\nwant %d bytes", len(got), len(want))
	}
	var d Decoder
	d.Reset(frame[4:])
	if err := d.Version(); err != nil {
		t.Fatal(err)
	}
	if err := d.Skip(); err != nil || d.Len() != 0 {
		t.Fatalf("the frame is not one term: %v, %d bytes left", err, d.Len())
	}
}
