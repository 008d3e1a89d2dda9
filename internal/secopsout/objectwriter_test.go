package secopsout

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

func TestSegmentReaderReadsSeeksAndWritesLikeBytesReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 200 {
		var segs [][]byte
		var all []byte
		for range rng.IntN(6) {
			s := make([]byte, rng.IntN(4)*rng.IntN(50)) // empty segments too
			for i := range s {
				s[i] = byte(rng.Uint32())
			}
			segs = append(segs, s)
			all = append(all, s...)
		}
		got, want := newSegmentReader(segs), bytes.NewReader(all)
		for op := range 20 {
			switch rng.IntN(3) {
			case 0:
				buf1, buf2 := make([]byte, rng.IntN(80)), make([]byte, len(all)+80)
				n1, err1 := got.Read(buf1)
				n2, err2 := want.Read(buf2[:len(buf1)])
				if n1 != n2 || (err1 == io.EOF) != (err2 == io.EOF) || !bytes.Equal(buf1[:n1], buf2[:n2]) {
					t.Fatalf("round %d op %d: Read %d %v, want %d %v", round, op, n1, err1, n2, err2)
				}
			case 1:
				off, whence := int64(rng.IntN(len(all)+20)-10), rng.IntN(3)
				p1, err1 := got.Seek(off, whence)
				p2, err2 := want.Seek(off, whence)
				if (err1 == nil) != (err2 == nil) || (err1 == nil && p1 != p2) {
					t.Fatalf("round %d op %d: Seek(%d, %d) = %d %v, want %d %v", round, op, off, whence, p1, err1, p2, err2)
				}
			case 2:
				var b1, b2 bytes.Buffer
				n1, _ := got.WriteTo(&b1)
				n2, _ := want.WriteTo(&b2)
				if n1 != n2 || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
					t.Fatalf("round %d op %d: WriteTo %d bytes, want %d", round, op, n1, n2)
				}
			}
		}
	}
}

// A chunk whose object takes several parts is held as at most two parts
// (one uploading while the next fills), whatever its size; the old writer
// kept the whole object up to a 16 MiB threshold in one growing buffer.
func TestFlushHoldsAtMostTwoPartsByDefault(t *testing.T) {
	cfg := testConfig(t, nil)
	o := newOutput(cfg, discardS3{}, &flbtest.MemoryLogger{})
	defer o.Close()
	chunk := buildChunk(t, noiseRows(4600, 4000, 8), t0) // ~18 MB of NDJSON, ~14 MiB gzip
	flush := func(tag string) (Report, uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := o.Flush(context.Background(), chunk, tag)
		runtime.ReadMemStats(&after)
		if r.Status != StatusOK {
			t.Fatalf("flush %s: %v", tag, r.Err)
		}
		return r, after.TotalAlloc - before.TotalAlloc
	}
	r, allocated := flush("a")
	if r.Parts < 3 {
		t.Fatalf("%d parts of a %d-byte object; the test wants at least 3", r.Parts, r.StoredBytes)
	}
	if r.MaxBuffered > 2*int(cfg.PartSize) {
		t.Errorf("held up to %d compressed bytes; bound is two parts, %d", r.MaxBuffered, 2*cfg.PartSize)
	}
	// Two parts of blocks, the gzip writer (~1.6 MiB) and small things.
	if limit := uint64(2*cfg.PartSize + 4<<20); allocated > limit {
		t.Errorf("first flush allocated %d bytes, more than %d", allocated, limit)
	}
	// The next flush reuses the blocks: never more than two parts' worth
	// (each part's last block partly filled) were made.
	flush("b")
	if limit := 2 * (int(cfg.PartSize)/blockSize + 1); o.blocks.made > limit {
		t.Errorf("%d blocks made for two flushes, more than %d", o.blocks.made, limit)
	}
}

// gatedS3 holds every UploadPart until release is closed, and says which
// part started.
type gatedS3 struct {
	*fakeS3
	started chan int32
	release chan struct{}
}

func (g *gatedS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	g.started <- *in.PartNumber
	<-g.release
	return g.fakeS3.UploadPart(ctx, in, opts...)
}

func TestObjectWriterUploadsAPartWhileTheNextFills(t *testing.T) {
	const part = 64 << 10
	g := &gatedS3{fakeS3: newFakeS3(), started: make(chan int32, 4), release: make(chan struct{})}
	spec := &objectSpec{bucket: "b", threshold: part, partSize: part}
	w := newObjectWriter(context.Background(), g, spec, func() string { return "k" }, newBlockPool(8))
	data := make([]byte, 2*part+1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	write := func(p []byte) chan error {
		done := make(chan error, 1)
		go func() { _, err := w.Write(p); done <- err }()
		return done
	}

	// Past one part: part 1 uploads, and the writer goes on while it does.
	select {
	case err := <-write(data[:part+500]):
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write waited for the upload of part 1")
	}
	if n := <-g.started; n != 1 {
		t.Fatalf("part %d started first", n)
	}
	// Part 2 is full and more follows: it waits for part 1 (one in flight).
	done := write(data[part+500:])
	select {
	case err := <-done:
		t.Fatalf("Write did not wait for part 1 before sending part 2 (err %v)", err)
	case n := <-g.started:
		t.Fatalf("part %d started while part 1 was uploading", n)
	case <-time.After(100 * time.Millisecond):
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.maxBuffered > 2*part {
		t.Errorf("held %d bytes, more than two parts", w.maxBuffered)
	}
	if got := g.objects["k"].body; !bytes.Equal(got, data) {
		t.Errorf("object of %d bytes differs from the %d written", len(got), len(data))
	}
	if want := []int{part, part, 1000}; len(g.lastPart) != 3 || g.lastPart[0] != want[0] || g.lastPart[1] != want[1] || g.lastPart[2] != want[2] {
		t.Errorf("parts %v, want %v", g.lastPart, want)
	}
}

// panicS3 panics in UploadPart, which runs in its own goroutine.
type panicS3 struct{ *fakeS3 }

func (panicS3) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	panic("boom")
}

func TestFlushSurvivesAPanicInAPartUpload(t *testing.T) {
	fake := newFakeS3()
	cfg := testConfig(t, nil)
	cfg.MultipartThreshold, cfg.PartSize = 64<<10, 32<<10
	o := newOutput(cfg, panicS3{fake}, &flbtest.MemoryLogger{})
	r := o.Flush(context.Background(), buildChunk(t, noiseRows(60, 4000, 4), t0), "t")
	if r.Status != StatusRetry || !strings.Contains(r.Err.Error(), "internal error") || !strings.Contains(r.Err.Error(), "boom") {
		t.Fatalf("status %v, err %v", r.Status, r.Err)
	}
	if fake.aborted != 1 || len(fake.uploads) != 0 {
		t.Errorf("aborted %d, open uploads %d", fake.aborted, len(fake.uploads))
	}
}

func TestBlockPoolKeepsAtMostMaxAndEmptiesWhenIdle(t *testing.T) {
	bp := newBlockPool(3)
	bp.idle = 20 * time.Millisecond
	var blocks []*block
	for range 5 {
		blocks = append(blocks, bp.get())
	}
	for _, b := range blocks {
		bp.put(b)
	}
	bp.mu.Lock()
	kept := len(bp.free)
	bp.mu.Unlock()
	if kept != 3 {
		t.Fatalf("%d free blocks kept, want 3", kept)
	}
	if b := bp.get(); b != blocks[2] {
		t.Error("get did not reuse a free block")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		bp.mu.Lock()
		kept = len(bp.free)
		bp.mu.Unlock()
		if kept == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d free blocks still kept long after the last use", kept)
		}
	}
}

// After a failed upload a cancelled request may still read the blocks, so
// they are not reused; after a stored object they are.
func TestFlushReusesBlocksOnlyAfterSuccess(t *testing.T) {
	fake := newFakeS3()
	o := newOutput(testConfig(t, nil), fake, &flbtest.MemoryLogger{})
	chunk := buildChunk(t, auditRows(10, t0, 3), t0)
	free := func() int {
		o.blocks.mu.Lock()
		defer o.blocks.mu.Unlock()
		return len(o.blocks.free)
	}
	fake.failOn["PutObject"] = apiErr(503, "SlowDown")
	if r := o.Flush(context.Background(), chunk, "t"); r.Status != StatusRetry || free() != 0 {
		t.Fatalf("failed flush: status %v, %d blocks back in the pool", r.Status, free())
	}
	if r := o.Flush(context.Background(), chunk, "t"); r.Status != StatusOK || free() != 1 {
		t.Fatalf("stored flush: status %v, %d blocks back in the pool, want 1", r.Status, free())
	}
}
