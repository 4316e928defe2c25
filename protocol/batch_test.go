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
