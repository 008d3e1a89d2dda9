package digicertin

import (
	"errors"
	"slices"
	"sync"
)

// errBufferClosed is returned to a poller blocked on a full buffer at Stop.
var errBufferClosed = errors.New("input is stopping")

// block is a run of encoded records handed to Fluent Bit as one batch: at
// most maxBytesPerCollect bytes (a single larger record goes alone). Its bytes
// live in fixed-size chunks that are recycled as soon as a batch is copied
// out, so a backfill reuses the same memory instead of allocating, zeroing
// and growing a batch-sized buffer for every batch.
type block struct {
	chunks   [][]byte
	size     int
	metas    []rowMeta
	firstSeq uint64
}

// chunkSize is the unit of buffer memory. Records do not straddle chunks; a
// record larger than a chunk gets a chunk of its own size (not recycled).
const chunkSize = 256 << 10

// batch is a block handed to Fluent Bit and not yet committed.
type batch struct {
	id       uint64
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
	blocks     []*block
	bytes      int // queued bytes, not yet handed out
	limit      int // buffer_size
	perCollect int // max_bytes_per_collect
	nextSeq    uint64
	closed     bool
	paused     bool
	idling     bool // no run is being read: keep no spare chunks

	nextBatch   uint64
	outstanding []*batch  // handed out, waiting for Release, oldest first
	free        [][]byte  // recycled chunks
	freeMetas   []rowMeta // a released batch's row list, for the next block
	blockRows   int       // rows of the last block that filled up
}

func newBuffer(limit, perCollect int) *buffer {
	b := &buffer{limit: limit, perCollect: perCollect, nextBatch: 1}
	b.space.L = &b.mu
	return b
}

// add queues one encoded record, waiting while the buffer is full. A record
// is always accepted into an empty buffer, so one larger than the limit
// cannot deadlock. It returns the record's sequence number.
func (b *buffer) add(rec []byte, m rowMeta) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.closed && b.bytes > 0 && b.bytes+len(rec) > b.limit {
		b.space.Wait()
	}
	if b.closed {
		return 0, errBufferClosed
	}
	var tail *block
	if n := len(b.blocks); n > 0 {
		tail = b.blocks[n-1]
		if tail.size > 0 && tail.size+len(rec) > b.perCollect {
			b.blockRows = len(tail.metas)
			tail = nil
		}
	}
	if tail == nil {
		tail = &block{firstSeq: b.nextSeq, metas: b.newMetas()}
		b.blocks = append(b.blocks, tail)
	}
	if n := len(tail.chunks); n > 0 && cap(tail.chunks[n-1])-len(tail.chunks[n-1]) >= len(rec) {
		tail.chunks[n-1] = append(tail.chunks[n-1], rec...)
	} else {
		tail.chunks = append(tail.chunks, append(b.newChunk(len(rec)), rec...))
	}
	tail.size += len(rec)
	tail.metas = append(tail.metas, m)
	b.bytes += len(rec)
	b.idling = false
	seq := b.nextSeq
	b.nextSeq++
	return seq, nil
}

// newChunk returns an empty chunk for a record of n bytes, recycled when
// possible.
func (b *buffer) newChunk(n int) []byte {
	if k := len(b.free); k > 0 && n <= chunkSize {
		c := b.free[k-1]
		b.free[k-1] = nil
		b.free = b.free[:k-1]
		return c[:0]
	}
	return make([]byte, 0, max(n, chunkSize))
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

// recycle keeps a block's chunks for reuse while a run is being read, as
// long as spare and queued chunks together stay within the buffer's worth:
// that is all the poller can fill before the next Collect. (Counting only
// the spares let them add another buffer_size to the queued one while the
// poller refilled during a copy.) An idle input keeps none.
func (b *buffer) recycle(chunks [][]byte) {
	for i, c := range chunks {
		if !b.idling && cap(c) == chunkSize && (len(b.free)+1)*chunkSize+b.bytes <= b.limit {
			b.free = append(b.free, c)
		}
		chunks[i] = nil
	}
}

// take hands the oldest block out as a batch: it asks alloc for memory of
// the batch's size (Fluent Bit's: the cgo layer allocates it in C), copies
// the records into it, and returns the size and the batch id. It returns
// 0, 0 when there is nothing to hand out, when paused, after close, or when
// alloc returns less than asked (the block then stays queued, and what alloc
// returned is the caller's to free).
func (b *buffer) take(alloc func(n int) []byte) (int, uint64) {
	b.mu.Lock()
	if b.closed || b.paused || len(b.blocks) == 0 {
		b.mu.Unlock()
		return 0, 0
	}
	// Taken off the queue and counted as handed out first: the poller then
	// starts a new block instead of appending to this one while it is
	// copied without the lock held, and a Stop meanwhile waits for its
	// Release.
	blk := b.blocks[0]
	b.blocks[0] = nil
	b.blocks = b.blocks[1:]
	b.bytes -= blk.size
	b.space.Broadcast()
	bt := &batch{id: b.nextBatch, metas: blk.metas, endSeq: blk.firstSeq + uint64(len(blk.metas))}
	b.nextBatch++
	b.outstanding = append(b.outstanding, bt)
	b.mu.Unlock()

	dst := alloc(blk.size)
	if len(dst) < blk.size {
		b.mu.Lock()
		defer b.mu.Unlock()
		if i := slices.Index(b.outstanding, bt); i >= 0 {
			b.outstanding = slices.Delete(b.outstanding, i, i+1)
		}
		if !b.closed {
			b.blocks = append([]*block{blk}, b.blocks...)
			b.bytes += blk.size
		}
		return 0, 0
	}
	// Each chunk is recycled as soon as it is copied, so the poller, which
	// refills the queue meanwhile, reuses it instead of allocating: the
	// input then holds about buffer_size of chunks, not that plus a batch.
	n := 0
	for i, c := range blk.chunks {
		n += copy(dst[n:], c)
		b.mu.Lock()
		b.recycle(blk.chunks[i : i+1])
		b.mu.Unlock()
	}
	return blk.size, bt.id
}

// release marks a batch as in Fluent Bit and returns the rows that became
// committable (the released batches at the head of the line, in order) and the
// sequence number up to which everything is committed (0 if nothing moved).
// Unknown ids (already released, or from before a restart) are ignored.
func (b *buffer) release(id uint64) (rows []rowMeta, committedSeq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bt := range b.outstanding {
		if bt.id == id {
			bt.released = true
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

// idle drops recycled buffers so an idle input holds no backfill-sized memory.
func (b *buffer) idle() {
	b.mu.Lock()
	b.free, b.freeMetas, b.idling = nil, nil, true
	b.mu.Unlock()
}

// close wakes a blocked poller and refuses further rows and hand-outs. Queued
// rows are dropped: they were never handed over, so they are not in the
// checkpoint and the next start ships them.
func (b *buffer) close() {
	b.mu.Lock()
	b.closed = true
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
