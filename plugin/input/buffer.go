package input

import (
	"errors"
	"sync"
)

// errBufferClosed is returned to a poller blocked on a full buffer at Stop.
var errBufferClosed = errors.New("input is stopping")

// block is a run of encoded records handed to Fluent Bit as one batch. The
// poller fills the newest block until the next record would push it past
// maxBytesPerCollect, so Collect can hand a whole block over without copying.
type block struct {
	data     []byte
	metas    []rowMeta
	firstSeq uint64
}

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

	nextBatch   uint64
	outstanding []*batch // handed out, waiting for Release, oldest first
	lastOut     []byte   // data of the last batch handed out; recycled at the next Collect
	spare       [][]byte // recycled block buffers
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
		if len(tail.data) > 0 && len(tail.data)+len(rec) > b.perCollect {
			tail = nil
		}
	}
	if tail == nil {
		tail = &block{data: b.newData(), firstSeq: b.nextSeq}
		b.blocks = append(b.blocks, tail)
	}
	if cap(tail.data)-len(tail.data) < len(rec) {
		// Grow 4× at a time, up to the per-collect size: plain append
		// doubling would copy a backfill's 32 MB batches many times over.
		nd := make([]byte, len(tail.data), max(min(4*cap(tail.data), b.perCollect), len(tail.data)+len(rec)))
		copy(nd, tail.data)
		tail.data = nd
	}
	tail.data = append(tail.data, rec...)
	tail.metas = append(tail.metas, m)
	b.bytes += len(rec)
	seq := b.nextSeq
	b.nextSeq++
	return seq, nil
}

// newData returns an empty block buffer, recycled when possible. Fresh ones
// start small so an hourly run of a few rows does not allocate a full
// per-collect buffer; append grows them during a backfill.
func (b *buffer) newData() []byte {
	if n := len(b.spare); n > 0 {
		big := 0
		for i := range b.spare {
			if cap(b.spare[i]) > cap(b.spare[big]) {
				big = i
			}
		}
		d := b.spare[big]
		b.spare[big] = b.spare[n-1]
		b.spare[n-1] = nil
		b.spare = b.spare[:n-1]
		return d[:0]
	}
	return make([]byte, 0, min(b.perCollect, 64<<10))
}

// keepSpare recycles d, keeping at most maxSpare buffers, the largest.
func (b *buffer) keepSpare(d []byte) {
	const maxSpare = 1
	if len(b.spare) < maxSpare {
		b.spare = append(b.spare, d)
		return
	}
	small := 0
	for i := range b.spare {
		if cap(b.spare[i]) < cap(b.spare[small]) {
			small = i
		}
	}
	if cap(d) > cap(b.spare[small]) {
		b.spare[small] = d
	}
}

// take hands the oldest block out as a batch: the data for Fluent Bit (valid
// until the next take) and its batch id. It returns nil, 0 when there is
// nothing to hand out, when paused, or after close.
func (b *buffer) take() ([]byte, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lastOut != nil {
		// Fluent Bit copied the previous batch during its callback; reuse its
		// memory. Blocks of every size are kept (a fast collector takes small
		// blocks, and growing a fresh one each time allocated ~3× the data),
		// but only one, the largest: the poller fills one block while Fluent
		// Bit holds the other, so more would only hold memory.
		b.keepSpare(b.lastOut)
		b.lastOut = nil
	}
	if b.closed || b.paused || len(b.blocks) == 0 {
		return nil, 0
	}
	blk := b.blocks[0]
	b.blocks[0] = nil
	b.blocks = b.blocks[1:]
	b.bytes -= len(blk.data)
	b.space.Broadcast()
	bt := &batch{id: b.nextBatch, metas: blk.metas, endSeq: blk.firstSeq + uint64(len(blk.metas))}
	b.nextBatch++
	b.outstanding = append(b.outstanding, bt)
	b.lastOut = blk.data
	return blk.data, bt.id
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
	b.spare = nil
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
