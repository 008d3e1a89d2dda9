package digicertin

import (
	"bytes"
	"runtime"
	"testing"
)

func rec(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

// Batches never exceed the per-collect cap, except a single record that is
// larger on its own; rows come out in order.
func TestBufferBatchCap(t *testing.T) {
	b := newBuffer(1<<20, 1000)
	sizes := []int{300, 300, 300, 300, 2500, 100, 999, 1, 1000}
	for i, n := range sizes {
		if _, err := b.add(rec(n, byte('a'+i)), rowMeta{count: uint32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]byte
	for {
		data, id := takeCopy(b)
		if id == 0 {
			break
		}
		if len(data) > 1000 && len(data) != 2500 {
			t.Errorf("batch of %d bytes exceeds the cap", len(data))
		}
		got = append(got, append([]byte(nil), data...))
		b.release(id)
	}
	want := [][]byte{
		append(append(rec(300, 'a'), rec(300, 'b')...), rec(300, 'c')...),
		rec(300, 'd'),
		rec(2500, 'e'), // alone
		append(rec(100, 'f'), nil...),
		append(rec(999, 'g'), rec(1, 'h')...),
		rec(1000, 'i'),
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("batch %d: %d bytes starting %q, want %d starting %q", i, len(got[i]), got[i][:1], len(want[i]), want[i][:1])
		}
	}
}

// Rows commit in order: releasing a later batch first commits nothing until
// the earlier one is released too.
func TestBufferCommitsInOrder(t *testing.T) {
	b := newBuffer(1<<20, 10)
	for i := range 3 {
		b.add(rec(10, 'x'), rowMeta{count: uint32(i + 1)})
	}
	_, id1 := takeCopy(b)
	_, id2 := takeCopy(b)
	if rows, seq := b.release(id2); rows != nil || seq != 0 {
		t.Fatalf("out-of-order release committed %v up to %d", rows, seq)
	}
	rows, seq := b.release(id1)
	if len(rows) != 2 || rows[0].count != 1 || rows[1].count != 2 || seq != 2 {
		t.Fatalf("committed %v up to %d, want rows 1,2 up to 2", rows, seq)
	}
	if rows, seq := b.release(id1); rows != nil || seq != 0 {
		t.Fatal("a second release of the same batch committed again")
	}
	if _, u := b.stats(); u != 0 {
		t.Fatalf("%d rows still unreleased", u)
	}
	_, id3 := takeCopy(b)
	if _, u := b.stats(); u != 1 {
		t.Fatalf("%d rows unreleased, want 1", u)
	}
	if _, seq := b.release(id3); seq != 3 {
		t.Fatalf("committed up to %d, want 3", seq)
	}
}

// A full buffer blocks the producer (nothing is dropped) until Collect takes
// a batch; close wakes it with an error.
func TestBufferBlocksWhenFull(t *testing.T) {
	b := newBuffer(100, 50)
	for range 2 {
		b.add(rec(50, 'x'), rowMeta{})
	}
	added := make(chan error, 1)
	go func() {
		_, err := b.add(rec(50, 'y'), rowMeta{})
		added <- err
	}()
	select {
	case <-added:
		t.Fatal("add did not wait for room")
	default:
	}
	// Wait until the producer is parked on the condition.
	waitParked(t, b)
	if data, _ := takeCopy(b); len(data) != 50 {
		t.Fatalf("took %d bytes", len(data))
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	// Full again (the second x and y are queued).
	go func() {
		_, err := b.add(rec(50, 'w'), rowMeta{})
		added <- err
	}()
	waitParked(t, b)
	b.close()
	if err := <-added; err != errBufferClosed {
		t.Fatalf("blocked add after close: %v", err)
	}
	if data, id := takeCopy(b); data != nil || id != 0 {
		t.Fatal("take after close handed out data")
	}
}

// waitParked gives the producer goroutine time to reach its Wait. The
// assertions do not depend on it: an add that has not started yet blocks
// all the same.
func waitParked(t *testing.T, b *buffer) {
	t.Helper()
	for range 1000 {
		runtime.Gosched()
	}
	b.mu.Lock()
	full := b.bytes+50 > b.limit
	b.mu.Unlock()
	if !full {
		t.Fatal("the buffer is not full: the producer cannot be waiting")
	}
}

func TestBufferPause(t *testing.T) {
	b := newBuffer(1000, 100)
	b.add(rec(10, 'x'), rowMeta{})
	b.setPaused(true)
	if data, id := takeCopy(b); data != nil || id != 0 {
		t.Fatal("take while paused handed out data")
	}
	b.setPaused(false)
	if data, id := takeCopy(b); len(data) != 10 || id == 0 {
		t.Fatal("take after resume handed out nothing")
	}
}

// takeCopy is take into fresh memory; nil, 0 when nothing was taken.
func takeCopy(b *buffer) ([]byte, uint64) {
	var data []byte
	n, id := b.take(func(n int) []byte { data = make([]byte, n); return data })
	if id == 0 {
		return nil, 0
	}
	return data[:n], id
}

// collect is Collect into fresh memory, as Fluent Bit's C memory would be.
func collect(e *Engine) ([]byte, uint64) {
	var data []byte
	n, id := e.Collect(func(n int) []byte { data = make([]byte, n); return data })
	if id == 0 {
		return nil, 0
	}
	return data[:n], id
}

// A batch spans many chunks, and chunks are reused once a batch is copied
// out: the bytes handed over are exactly the records added, in order.
func TestBufferChunksRecycled(t *testing.T) {
	const per = 3 * chunkSize
	b := newBuffer(2*per, per)
	var want, got []byte
	next := byte(0)
	for round := 0; round < 4; round++ {
		for b.bytes < per {
			r := rec(1000+int(next)*7, next)
			next++
			want = append(want, r...)
			if _, err := b.add(r, rowMeta{}); err != nil {
				t.Fatal(err)
			}
		}
		for {
			data, id := takeCopy(b)
			if id == 0 {
				break
			}
			got = append(got, data...)
			b.release(id)
		}
		if round > 0 && len(b.free) == 0 {
			t.Fatalf("round %d: no chunk recycled", round)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("handed over %d bytes, want %d (or different content)", len(got), len(want))
	}
	// The run ends (idle) with its last rows still queued: once they are
	// taken, the input holds no chunk.
	b.add(rec(10, 'z'), rowMeta{})
	b.idle()
	if len(b.free) != 0 {
		t.Fatalf("idle buffer keeps %d spare chunks", len(b.free))
	}
	if _, id := takeCopy(b); id == 0 || len(b.free) != 0 {
		t.Fatalf("idle buffer kept %d chunks of its last batch", len(b.free))
	}
}

// Spare chunks and queued records together stay within the buffer's limit,
// also when the poller refilled the queue while a batch was being copied.
func TestBufferSparesWithinLimit(t *testing.T) {
	const per = 4 * chunkSize
	b := newBuffer(per, per)
	fill := func() {
		for b.bytes+1000 <= per {
			if _, err := b.add(rec(1000, 'a'), rowMeta{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill()
	// Fluent Bit takes the batch; during the copy the poller refills the
	// queue (from new chunks: none is spare yet).
	n, id := b.take(func(n int) []byte {
		fill() // take holds no lock while it allocates and copies
		return make([]byte, n)
	})
	if id == 0 || n == 0 {
		t.Fatal("nothing taken")
	}
	if held := len(b.free)*chunkSize + b.bytes; held > per {
		t.Errorf("spare chunks (%d) and queued bytes (%d) hold %d bytes, over the %d limit", len(b.free), b.bytes, held, per)
	}
}

// An alloc that returns less memory than asked hands nothing out; the block
// stays queued and goes out whole at the next take.
func TestBufferShortAlloc(t *testing.T) {
	b := newBuffer(1<<20, 1<<10)
	b.add(rec(100, 'a'), rowMeta{})
	if n, id := b.take(func(n int) []byte { return make([]byte, n-1) }); n != 0 || id != 0 {
		t.Fatalf("short alloc: took %d bytes as batch %d", n, id)
	}
	if data, id := takeCopy(b); id == 0 || !bytes.Equal(data, rec(100, 'a')) {
		t.Fatalf("after a short alloc: %d bytes, batch %d", len(data), id)
	}
}

// A batch being copied out when Stop closes the buffer is already counted
// as handed out, so Stop waits for its Release instead of saving the
// checkpoint without it; the copy still completes and is handed over.
func TestBufferCloseDuringTake(t *testing.T) {
	b := newBuffer(1<<20, 1<<10)
	b.add(rec(100, 'a'), rowMeta{count: 1})
	var unreleased int
	n, id := b.take(func(n int) []byte {
		b.close()
		_, unreleased = b.stats()
		return make([]byte, n)
	})
	if n != 100 || id == 0 {
		t.Fatalf("take during close: %d bytes, batch %d", n, id)
	}
	if unreleased != 1 {
		t.Fatalf("while copying, %d rows counted as handed out, want 1", unreleased)
	}
	if rows, seq := b.release(id); len(rows) != 1 || seq == 0 {
		t.Fatalf("release after close: %d rows, seq %d", len(rows), seq)
	}
}
