package digicert

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// Reading a ZIP member is two jobs of about the same weight: inflating it
// (with the CRC check and the size caps) and decoding the rows. A blockPipe
// runs the first on its own goroutine, so that on two cores a report takes
// about the longer of the two instead of their sum. The inflated bytes go
// straight into a few reused blocks that the decoder reads in place: no
// copy is added to the one the inflater's Read makes anyway.
const (
	pipeBlockSize = 256 << 10 // inflated bytes per block
	pipeBlocks    = 4         // blocks per pipe: 1 MiB, allocated as needed
	// pipeHeadroom is room before a block's data for the few unread bytes
	// of the previous block, so that what the decoder peeks at is one
	// slice. The decoder never peeks at more than 6 bytes.
	pipeHeadroom = 16
)

// errPipePanicked stops reads after a panic of the inflating goroutine was
// raised again on the reading one.
var errPipePanicked = errors.New("inflating the ZIP member failed with an internal error")

// blockPipe feeds a RowReader from a reader running on its own goroutine
// (start … halt). Its reading side is the part of bufio.Reader the decoder
// uses: Peek, Buffered, Discard. It is reused from member to member.
type blockPipe struct {
	size, count int
	made        int            // blocks allocated; the producer's while it runs
	free        chan []byte    // blocks the decoder is done with
	full        chan pipeBlock // filled blocks, in stream order
	stop, done  chan struct{}
	running     bool

	// The reading side.
	cur   []byte   // unread bytes
	held  []byte   // the block cur lies in, nil before the first
	spent [][]byte // blocks read, handed back to the producer in batches
	err   error    // the reader's error after cur, once its block arrived
}

// pipeBlock is one filled block: n bytes of data after the headroom, then
// err (io.EOF at the end) if reading stopped there, or a panic.
type pipeBlock struct {
	buf      []byte
	n        int
	err      error
	panicked *pipePanic
}

// pipePanic carries a panic of the inflating goroutine to the reading one,
// where it is raised again: a panic there would end the process, while the
// reader's caller recovers (Fluent Bit must never be taken down).
type pipePanic struct {
	value any
	stack []byte
}

func (p *pipePanic) String() string {
	return fmt.Sprintf("%v (on the inflating goroutine:\n%s)", p.value, p.stack)
}

func newBlockPipe(size, count int) *blockPipe {
	return &blockPipe{size: size, count: count, free: make(chan []byte, count), full: make(chan pipeBlock, count)}
}

// start reads src on a new goroutine until its end or error, or halt.
func (p *blockPipe) start(src io.Reader) {
	p.halt()
	p.cur, p.held, p.err = nil, nil, nil
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	p.running = true
	go p.produce(src, p.stop, p.done)
}

// halt stops the goroutine, waits for it to return and takes every block
// back; src is no longer touched afterwards. Safe to call at any time.
func (p *blockPipe) halt() {
	if !p.running {
		return
	}
	close(p.stop)
	<-p.done
	p.running = false
	for len(p.full) > 0 {
		if b := <-p.full; b.buf != nil {
			p.free <- b.buf
		}
	}
	if p.held != nil {
		p.free <- p.held
	}
	p.giveBack()
	p.cur, p.held = nil, nil
	if p.err == nil {
		// Reading on after a halt must not wait for blocks that never come.
		p.err = io.ErrClosedPipe
	}
}

func (p *blockPipe) produce(src io.Reader, stop, done chan struct{}) {
	var buf []byte
	defer close(done)
	defer func() {
		if v := recover(); v != nil {
			pp := &pipePanic{value: v, stack: debug.Stack()}
			select {
			case p.full <- pipeBlock{buf: buf, panicked: pp}:
				return
			case <-stop:
			}
		}
		if buf != nil {
			p.free <- buf // never blocks: free has room for every block
		}
	}()
	for {
		select {
		case buf = <-p.free:
		case <-stop:
			return
		default:
			if p.made < p.count {
				p.made++
				buf = make([]byte, pipeHeadroom+p.size)
				break
			}
			select {
			case buf = <-p.free:
			case <-stop:
				return
			}
		}
		n, err := fillBlock(src, buf[pipeHeadroom:])
		select {
		case p.full <- pipeBlock{buf: buf, n: n, err: err}:
			buf = nil
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// fillBlock reads into buf until it is full or the reader fails (io.EOF
// included, which io.ReadFull would turn into another error). Like
// bufio.Reader it gives up on a reader that keeps returning nothing.
func fillBlock(r io.Reader, buf []byte) (int, error) {
	n, empty := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// Buffered is the number of bytes readable without waiting.
func (p *blockPipe) Buffered() int { return len(p.cur) }

// Discard skips n buffered bytes (n ≤ Buffered()).
func (p *blockPipe) Discard(n int) (int, error) {
	n = min(n, len(p.cur))
	p.cur = p.cur[n:]
	return n, nil
}

// Peek returns the next n bytes without consuming them, waiting for the
// next block if needed, as bufio.Reader's Peek does: fewer only with the
// reader's error (io.EOF at the end). The bytes stay valid until the next
// Peek or Discard.
func (p *blockPipe) Peek(n int) ([]byte, error) {
	for len(p.cur) < n {
		if p.err != nil {
			return p.cur, p.err
		}
		if n > pipeHeadroom {
			return p.cur, bufio.ErrBufferFull
		}
		if len(p.full) == 0 {
			// About to wait: the producer may be waiting for these.
			p.giveBack()
		}
		b := <-p.full
		if b.panicked != nil {
			if b.buf != nil {
				p.free <- b.buf
			}
			p.err = errPipePanicked
			panic(b.panicked)
		}
		// The previous block's unread bytes (fewer than n) move in front
		// of the new block's data; only then is that block free again.
		start := pipeHeadroom - len(p.cur)
		copy(b.buf[start:pipeHeadroom], p.cur)
		if p.held != nil {
			// Blocks go back half the pipe at a time, so that a producer
			// that is ahead wakes once per batch, not once per block.
			if p.spent = append(p.spent, p.held); len(p.spent) >= p.count/2 {
				p.giveBack()
			}
		}
		p.held, p.cur, p.err = b.buf, b.buf[start:pipeHeadroom+b.n], b.err
	}
	return p.cur[:n], nil
}

// giveBack hands the blocks read back to the producer.
func (p *blockPipe) giveBack() {
	for _, b := range p.spent {
		p.free <- b // never blocks: free has room for every block
	}
	clear(p.spent)
	p.spent = p.spent[:0]
}
