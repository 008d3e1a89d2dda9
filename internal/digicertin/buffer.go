package digicertin

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// errBufferClosed is returned to a poller blocked on a full buffer at Stop.
var errBufferClosed = errors.New("input is stopping")

// block is a run of encoded records handed to Fluent Bit as one batch: at
// most maxBytesPerCollect bytes (a single larger record goes alone). Its
// records are written into memory from batchMemory, reserved at the batch's
// full size, and Fluent Bit takes them from there: no copy on the Go side.
type block struct {
	data     []byte
	metas    []rowMeta
	firstSeq uint64
	started  time.Time     // its first record
	filled   time.Duration // from its first record until it was full; 0 while it is not
}

// batch is a block handed to Fluent Bit and not yet committed.
type batch struct {
	id       uint64
	data     []byte // freed at release; nil after
	metas    []rowMeta
	endSeq   uint64 // sequence number after its last row
	released bool
}

// buffer is the bounded queue between the poller and the 1-second Collect
// callback. The poller blocks (never drops) while it is full. Every row gets
// a sequence number; rows are handed out and committed strictly in order, so
// "all rows before sequence S are committed" is a single number.
type buffer struct {
	mu         sync.Mutex
	space      sync.Cond // signalled when bytes are taken out or the buffer closes
	mem        batchMemory
	blocks     []*block
	bytes      int // queued bytes, not yet handed out
	limit      int // buffer_size
	perCollect int // max_bytes_per_collect
	nextSeq    uint64
	closed     bool
	paused     bool
	idling     bool // no run is being read: keep no spare row lists

	nextBatch   uint64
	outstanding []*batch  // handed out, waiting for Release, oldest first
	freeMetas   []rowMeta // a released batch's row list, for the next block
	blockRows   int       // rows of the last block that filled up

	// Pacing (paceWait): the collect callbacks' period as observed (0 until
	// two were seen), when the last batch was taken, and how long it took,
	// or would have taken, to fill up.
	period   time.Duration
	lastCall time.Time
	lastTake time.Time
	lastFill time.Duration
	closing  chan struct{} // closed by close
}

// maxPacePeriod bounds the interval between two collects that counts as
// the callback period: Fluent Bit calls every second, and a longer gap is a
// pause, not a period.
const maxPacePeriod = 1500 * time.Millisecond

// collectPeriod is Fluent Bit's period for a Go input's collect callback.
const collectPeriod = time.Second

func newBuffer(limit, perCollect int) *buffer {
	b := &buffer{limit: limit, perCollect: perCollect, nextBatch: 1, mem: defaultBatchMemory(), closing: make(chan struct{})}
	b.space.L = &b.mu
	return b
}

// add queues one encoded record, waiting while the buffer is full. A record
// is always accepted into an empty buffer, so one larger than the limit
// cannot deadlock. It returns the record's sequence number. It fails after
// close (errBufferClosed) and when no memory can be had for a new batch
// (errBatchMemory); the record is then not queued.
func (b *buffer) add(rec []byte, m rowMeta) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		b.noteFull(len(rec))
		for !b.closed && b.bytes > 0 && b.bytes+len(rec) > b.limit {
			b.space.Wait()
		}
		if b.closed {
			return 0, errBufferClosed
		}
		var tail *block
		if n := len(b.blocks); n > 0 {
			tail = b.blocks[n-1]
			if len(tail.data)+len(rec) > cap(tail.data) {
				b.blockRows = len(tail.metas)
				tail = nil
			}
		}
		if tail == nil {
			if wait := b.paceWait(); wait > 0 {
				b.sleep(wait)
				continue // the buffer may have changed meanwhile
			}
			n := max(b.perCollect, len(rec))
			data, err := b.mem.alloc(n)
			if err != nil {
				return 0, fmt.Errorf("%w of %d bytes (max_bytes_per_collect): %w", errBatchMemory, n, err)
			}
			tail = &block{data: data, firstSeq: b.nextSeq, metas: b.newMetas(), started: time.Now()}
			b.blocks = append(b.blocks, tail)
		}
		tail.data = append(tail.data, rec...)
		tail.metas = append(tail.metas, m)
		b.bytes += len(rec)
		b.idling = false
		seq := b.nextSeq
		b.nextSeq++
		return seq, nil
	}
}

// noteFull records when the newest block became full: the first time a
// record of n bytes no longer fits it.
func (b *buffer) noteFull(n int) {
	if k := len(b.blocks); k > 0 {
		if t := b.blocks[k-1]; t.filled == 0 && len(t.data)+n > cap(t.data) {
			t.filled = max(time.Since(t.started), time.Nanosecond)
		}
	}
}

// paceWait is how long to hold back the start of a new batch. While a
// backfill outruns the callbacks, a batch started right after the last one
// was taken would fill up while Fluent Bit still holds that one twice (its
// ring-buffer copy, then its chunk, which the output reads): three batches'
// worth at once. So when no batch is queued, the next one starts so as to
// be full a little before the next callback: the last one was taken, plus
// the callback period less 10 %, less 1.1 times the time the last batch
// took (or, taken before it was full, would have taken) to fill. A poller
// slower than the callbacks is never held, and a run's first batch is not.
// In real Fluent Bit at 96 MB a batch this cut the peak memory of a
// backfill from ~375 to ~285 MiB at the same speed (docs/benchmarks.md).
func (b *buffer) paceWait() time.Duration {
	if b.lastFill == 0 || len(b.blocks) > 0 {
		return 0
	}
	period := b.period
	if period == 0 {
		period = collectPeriod // the first batch went at the first callback
	}
	// lastFill is at most an hour (take caps it), so this cannot overflow,
	// and the start is never later than 90 % of a period after the take.
	lead := min(period/10+b.lastFill*11/10, period)
	return time.Until(b.lastTake.Add(period - lead))
}

// sleep waits for d or for close, without holding the lock.
func (b *buffer) sleep(d time.Duration) {
	b.mu.Unlock()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-b.closing:
	}
	t.Stop()
	b.mu.Lock()
}

// newMetas returns an empty row list for a block: the last released one, or
// one sized like the last full block, so a backfill's blocks do not grow
// their lists by doubling.
func (b *buffer) newMetas() []rowMeta {
	if m := b.freeMetas; m != nil {
		b.freeMetas = nil
		return m[:0]
	}
	return make([]rowMeta, 0, b.blockRows)
}

// recycleMetas takes back a row list once its rows are committed.
func (b *buffer) recycleMetas(m []rowMeta) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.idling && cap(m) >= b.blockRows && cap(m) > cap(b.freeMetas) {
		b.freeMetas = m
	}
}

// take hands the oldest block out as a batch: its records, which stay valid
// until the batch is released, and the batch id. It returns nil, 0 when
// there is nothing to hand out, when paused, or after close.
func (b *buffer) take() ([]byte, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if d := now.Sub(b.lastCall); !b.lastCall.IsZero() && d <= maxPacePeriod {
		b.period = d
	}
	b.lastCall = now
	if b.closed || b.paused || len(b.blocks) == 0 {
		return nil, 0
	}
	blk := b.blocks[0]
	b.blocks[0] = nil
	b.blocks = b.blocks[1:]
	b.bytes -= len(blk.data)
	b.space.Broadcast()
	fill := blk.filled
	if fill == 0 {
		// Taken before it was full: how long a whole batch would have
		// taken at this one's pace.
		// Capped: a batch of a few rows may have waited for hours (a
		// paused input), and the product must not overflow.
		est := float64(now.Sub(blk.started)) * float64(b.perCollect) / float64(max(len(blk.data), 1))
		fill = time.Duration(min(est, float64(time.Hour)))
	}
	b.lastTake, b.lastFill = now, fill
	bt := &batch{id: b.nextBatch, data: blk.data, metas: blk.metas, endSeq: blk.firstSeq + uint64(len(blk.metas))}
	b.nextBatch++
	b.outstanding = append(b.outstanding, bt)
	return blk.data, bt.id
}

// release marks a batch as in Fluent Bit, frees its records, and returns
// the rows that became committable (the released batches at the head of
// the line, in order) and the sequence number up to which everything is
// committed (0 if nothing moved). Unknown ids (already released, or from
// before a restart) are ignored. It works after close too, so a batch Fluent
// Bit cleans up after the stop is still freed.
func (b *buffer) release(id uint64) (rows []rowMeta, committedSeq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bt := range b.outstanding {
		if bt.id == id && !bt.released {
			bt.released = true
			b.mem.free(bt.data)
			bt.data = nil
			break
		}
	}
	for len(b.outstanding) > 0 && b.outstanding[0].released {
		bt := b.outstanding[0]
		b.outstanding[0] = nil
		b.outstanding = b.outstanding[1:]
		if rows == nil {
			rows = bt.metas
		} else {
			rows = append(rows, bt.metas...)
		}
		committedSeq = bt.endSeq
	}
	return rows, committedSeq
}

// seq returns the sequence number the next row will get: once everything
// before it is committed, every row added so far is in Fluent Bit.
func (b *buffer) seq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextSeq
}

func (b *buffer) setPaused(p bool) {
	b.mu.Lock()
	b.paused = p
	b.mu.Unlock()
}

// idle drops the spare row list so an idle input holds no backfill-sized
// memory.
func (b *buffer) idle() {
	b.mu.Lock()
	b.freeMetas, b.idling = nil, true
	b.mu.Unlock()
}

// close wakes a blocked poller and refuses further rows and hand-outs. Queued
// rows are dropped: they were never handed over, so they are not in the
// checkpoint and the next start ships them.
func (b *buffer) close() {
	b.mu.Lock()
	if !b.closed {
		close(b.closing)
	}
	b.closed = true
	for _, blk := range b.blocks {
		b.mem.free(blk.data)
	}
	b.blocks = nil
	b.bytes = 0
	b.space.Broadcast()
	b.mu.Unlock()
}

// stats returns queued bytes and rows handed out but not yet released.
func (b *buffer) stats() (queued int, unreleasedRows int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bt := range b.outstanding {
		if !bt.released {
			unreleasedRows += len(bt.metas)
		}
	}
	return b.bytes, unreleasedRows
}
