package secopsout

import (
	"errors"
	"io"
	"sync"
	"time"
)

// blockSize is the unit in which compressed data is buffered. Objects and
// parts are lists of blocks, so nothing is copied to grow a buffer (growing
// one by doubling left several generations of garbage per flush), a small
// object holds a single block, and a flush reuses the blocks of the parts it
// has already uploaded.
const blockSize = 256 << 10

type block [blockSize]byte

// blockIdle is how long free blocks are kept after their last use; then
// they are left to the garbage collector, so an idle output (between hourly
// runs) holds none.
const blockIdle = 10 * time.Second

// blockPool holds the free blocks of an output's flushes. It keeps at most
// max of them, what one flush can hold at once, so a busy output allocates
// its blocks once instead of leaving a flush's worth of garbage each time the
// collector empties a sync.Pool.
type blockPool struct {
	mu       sync.Mutex
	free     []*block
	max      int
	idle     time.Duration // blockIdle; shorter in tests
	lastUse  time.Time
	trimming bool // a timer will check for idleness
	made     int  // blocks allocated in all (tests)
}

func newBlockPool(max int) *blockPool { return &blockPool{max: max, idle: blockIdle} }

func (bp *blockPool) get() *block {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if n := len(bp.free); n > 0 {
		b := bp.free[n-1]
		bp.free[n-1] = nil
		bp.free = bp.free[:n-1]
		return b
	}
	bp.made++
	return new(block)
}

func (bp *blockPool) put(b *block) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.lastUse = time.Now()
	if len(bp.free) < bp.max {
		bp.free = append(bp.free, b)
	}
	if !bp.trimming {
		bp.trimming = true
		time.AfterFunc(bp.idle, bp.trim)
	}
}

// drop leaves the free blocks to the garbage collector.
func (bp *blockPool) drop() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.free = nil
}

// trim drops the free blocks once none was used for bp.idle.
func (bp *blockPool) trim() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if idle := time.Since(bp.lastUse); idle < bp.idle {
		time.AfterFunc(bp.idle-idle, bp.trim)
		return
	}
	bp.free, bp.trimming = nil, false
}

// part is compressed data in blocks; every block but the last is full.
type part struct {
	blocks []*block
	size   int
}

// write appends b, taking blocks from pool as needed.
func (p *part) write(pool *blockPool, b []byte) {
	for len(b) > 0 {
		off := p.size % blockSize
		if off == 0 {
			p.blocks = append(p.blocks, pool.get())
		}
		n := copy(p.blocks[len(p.blocks)-1][off:], b)
		p.size += n
		b = b[n:]
	}
}

// appendSegments appends the filled part of each block to segs.
func (p *part) appendSegments(segs [][]byte) [][]byte {
	for i, b := range p.blocks {
		segs = append(segs, b[:min(blockSize, p.size-i*blockSize)])
	}
	return segs
}

// release gives the blocks back to pool; only once no request can still be
// reading them.
func (p *part) release(pool *blockPool) {
	for _, b := range p.blocks {
		pool.put(b)
	}
	*p = part{}
}

// segmentReader reads a list of byte slices as one body. It seeks, which
// the SDK needs to sign the payload and to send it again on a retry, and it
// writes itself out without an intermediate buffer.
type segmentReader struct {
	segs   [][]byte
	size   int64
	off    int64 // read position
	seg, i int   // position as segment index and offset in it
}

func newSegmentReader(segs [][]byte) *segmentReader {
	r := &segmentReader{segs: segs}
	for _, s := range segs {
		r.size += int64(len(s))
	}
	return r
}

func (r *segmentReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.seg < len(r.segs) {
		c := copy(p[n:], r.segs[r.seg][r.i:])
		n += c
		r.advance(c)
	}
	return n, nil
}

func (r *segmentReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.seg < len(r.segs) {
		n, err := w.Write(r.segs[r.seg][r.i:])
		total += int64(n)
		r.advance(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// advance moves the position n bytes on within the current segment.
func (r *segmentReader) advance(n int) {
	r.off += int64(n)
	r.i += n
	for r.seg < len(r.segs) && r.i == len(r.segs[r.seg]) {
		r.seg, r.i = r.seg+1, 0
	}
}

var errSeek = errors.New("segmentReader: seek to a negative position")

func (r *segmentReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return r.off, errSeek
	}
	r.off, r.seg, r.i = 0, 0, 0
	// Whole segments first, then the rest within one.
	for r.seg < len(r.segs) && r.off+int64(len(r.segs[r.seg])) <= offset {
		r.off += int64(len(r.segs[r.seg]))
		r.seg++
	}
	if r.seg < len(r.segs) {
		r.i = int(offset - r.off)
	}
	r.off = offset
	return offset, nil
}
