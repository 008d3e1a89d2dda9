package digicertin

import (
	"bytes"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
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

// takeCopy is take, copied as Fluent Bit copies a batch; nil, 0 when
// nothing was taken.
func takeCopy(b *buffer) ([]byte, uint64) {
	data, id := b.take()
	if id == 0 {
		return nil, 0
	}
	return bytes.Clone(data), id
}

// collect is Collect, copied as Fluent Bit copies a batch.
func collect(e *Engine) ([]byte, uint64) {
	data, id := e.Collect()
	if id == 0 {
		return nil, 0
	}
	return bytes.Clone(data), id
}

// countingMemory is heap batch memory that records what is allocated and
// freed, and fails on request.
type countingMemory struct {
	caps  []int // capacity of every allocation, in order
	live  map[*byte]int
	freed int
	fail  bool
	// failAfter > 0 fails every allocation after that many.
	failAfter int
}

func newCountingMemory() *countingMemory { return &countingMemory{live: map[*byte]int{}} }

func (m *countingMemory) alloc(n int) ([]byte, error) {
	if m.fail || m.failAfter > 0 && len(m.caps) >= m.failAfter {
		return nil, errors.New("cannot allocate memory")
	}
	b := make([]byte, 0, n)
	m.caps = append(m.caps, n)
	m.live[unsafe.SliceData(b)] = n
	return b, nil
}

func (m *countingMemory) free(b []byte) {
	p := unsafe.SliceData(b)
	if _, ok := m.live[p]; !ok {
		panic("free of memory not allocated, or freed twice")
	}
	delete(m.live, p)
	m.freed++
}

// Each batch is written into one allocation of the per-collect size (or a
// larger record's own size), handed out as it is, and freed exactly once:
// at its release, also after close; queued batches are freed by close.
func TestBufferBatchMemory(t *testing.T) {
	mem := newCountingMemory()
	b := newBuffer(1<<20, 100)
	b.mem = mem
	for _, n := range []int{60, 40, 30, 250, 10} {
		if _, err := b.add(rec(n, 'a'), rowMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	if want := []int{100, 100, 250, 100}; !slices.Equal(mem.caps, want) {
		t.Fatalf("allocations %v, want %v", mem.caps, want)
	}
	first, id1 := b.take()
	if len(first) != 100 || mem.live[unsafe.SliceData(first)] != 100 {
		t.Fatalf("first batch: %d bytes, not the block's own memory", len(first))
	}
	_, id2 := b.take()
	if rows, _ := b.release(id2); rows != nil || len(mem.live) != 3 {
		t.Fatalf("out-of-order release: rows %v, %d allocations live, want 3", rows, len(mem.live))
	}
	b.release(id2) // a second release frees nothing more
	b.close()      // frees the two queued batches, not the handed-out one
	if len(mem.live) != 1 || mem.live[unsafe.SliceData(first)] != 100 {
		t.Fatalf("after close %d allocations live, want only the handed-out batch", len(mem.live))
	}
	if rows, seq := b.release(id1); len(rows) != 3 || seq != 3 {
		t.Fatalf("release after close: %d rows up to %d, want 3 up to 3", len(rows), seq)
	}
	if len(mem.live) != 0 || mem.freed != 4 {
		t.Fatalf("%d allocations live, %d freed, want 0 and 4", len(mem.live), mem.freed)
	}
}

// When no memory can be had for a new batch, add says so and queues
// nothing; later adds work again.
func TestBufferNoMemory(t *testing.T) {
	mem := newCountingMemory()
	b := newBuffer(1<<20, 100)
	b.mem = mem
	b.add(rec(80, 'a'), rowMeta{})
	mem.fail = true
	b.add(rec(20, 'b'), rowMeta{}) // fits the open batch
	if _, err := b.add(rec(30, 'c'), rowMeta{}); !errors.Is(err, errBatchMemory) || !strings.Contains(err.Error(), "max_bytes_per_collect") {
		t.Fatalf("add without memory: %v", err)
	}
	mem.fail = false
	b.add(rec(30, 'd'), rowMeta{})
	var got []byte
	for data, id := takeCopy(b); id != 0; data, id = takeCopy(b) {
		got = append(got, data...)
		b.release(id)
	}
	if want := slices.Concat(rec(80, 'a'), rec(20, 'b'), rec(30, 'd')); !bytes.Equal(got, want) {
		t.Fatalf("handed out %q", got)
	}
}

// During a backfill the next batch starts late enough to be full just
// before the next callback, not right after the last one was taken; a stop
// ends the wait at once; a poller slower than the callbacks never waits.
func TestBufferPacesBatchesToTheCallbacks(t *testing.T) {
	const period = 200 * time.Millisecond
	// run collects once (nothing queued), fills a batch the poller took
	// fillTime to fill, collects it one period later while the poller waits
	// to add the next record, optionally closes the buffer closeAfter the
	// take, and returns how long after the take that record went in.
	run := func(fillTime, closeAfter time.Duration) (time.Duration, error) {
		b := newBuffer(1000, 1000)
		start := time.Now()
		b.take()
		for range 10 {
			if _, err := b.add(rec(100, 'a'), rowMeta{}); err != nil {
				t.Fatal(err)
			}
		}
		b.blocks[0].filled = fillTime
		added := make(chan error, 1)
		go func() {
			_, err := b.add(rec(100, 'b'), rowMeta{})
			added <- err
		}()
		waitParked(t, b)
		time.Sleep(period - time.Since(start))
		if _, id := b.take(); id == 0 {
			t.Fatal("nothing taken")
		}
		took := time.Now()
		if closeAfter > 0 {
			time.Sleep(closeAfter)
			b.close()
		}
		err := <-added
		return time.Since(took), err
	}
	// Filled in 20 ms: the next starts at period - 10 % - 22 ms = 158 ms.
	if waited, err := run(20*time.Millisecond, 0); err != nil || waited < 140*time.Millisecond || waited > 300*time.Millisecond {
		t.Errorf("next batch started %v after the take (err %v), want about 158ms", waited, err)
	}
	if waited, err := run(20*time.Millisecond, 30*time.Millisecond); err != errBufferClosed || waited > 150*time.Millisecond {
		t.Errorf("close during the wait: add returned %v after %v", err, waited)
	}
	// Slower than the callbacks: no wait.
	if waited, err := run(250*time.Millisecond, 0); err != nil || waited > 100*time.Millisecond {
		t.Errorf("a slow poller waited %v (err %v)", waited, err)
	}

	// A batch of one small row taken after days in the queue (a paused
	// input) says nothing about a backfill: the next batch does not wait.
	b := newBuffer(1<<20, 1<<20)
	b.add(rec(10, 'a'), rowMeta{})
	b.blocks[0].started = time.Now().Add(-72 * time.Hour)
	b.take()
	added := make(chan error, 1)
	go func() {
		_, err := b.add(rec(10, 'b'), rowMeta{})
		added <- err
	}()
	select {
	case err := <-added:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(100 * time.Millisecond):
		b.close()
		t.Errorf("after a batch that waited for days the next one waited (add: %v)", <-added)
	}
}
