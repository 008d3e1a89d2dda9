package secopsout

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/digicert-secops/fluent-bit-digicert/internal/cputime"
	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// BenchmarkFlushLargeChunk flushes one ~96 MB chunk (140,000 audit rows of
// 24 string fields, ~680 bytes of msgpack each: what the input hands over
// with max_bytes_per_collect 96M) and reports the output runtime's memory
// while it does: the peak of heap objects (live and not yet swept) and of
// memory held from the OS (base-held: the same before the first flush),
// sampled every millisecond; and the process's CPU time per flush. The
// chunk lives outside the Go heap, as Fluent Bit's chunk does, and the
// runtime runs with the plugin's GC setting (GCPercent, or GOGC from the
// environment). Without S3_ENDPOINT the objects go to a fake that reads and
// discards them; with it (test/run-with-s3), to that server through the
// SDK. Run a few flushes per figure:
//
//	./test/run-with-s3 go test -run '^$' -bench FlushLargeChunk -benchtime 5x -count 5 ./internal/secopsout
func BenchmarkFlushLargeChunk(b *testing.B) {
	chunk := largeChunk(b, 140_000)
	b.Run("fake", func(b *testing.B) {
		cfg := testConfig(b, nil)
		benchFlush(b, newOutput(cfg, discardS3{}, &flbtest.MemoryLogger{}), chunk)
	})
	if ep := os.Getenv("S3_ENDPOINT"); ep != "" {
		b.Run("s3", func(b *testing.B) {
			benchFlush(b, benchServerOutput(b, ep), chunk)
		})
	}
}

func benchFlush(b *testing.B, o *Output, chunk []byte) {
	defer o.Close()
	if os.Getenv("GOGC") == "" { // as the plugin does
		defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	}
	runtime.GC()
	debug.FreeOSMemory()
	m := startMemSampler(time.Millisecond)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	var r Report
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cputime.Process()
	for i := 0; b.Loop(); i++ {
		// A distinct tag per flush: a distinct key, so every flush uploads.
		if r = o.Flush(context.Background(), chunk, "bench."+strconv.Itoa(i)); r.Status != StatusOK || r.AlreadyStored {
			b.Fatalf("flush %d: %+v", i, r)
		}
	}
	b.StopTimer()
	cpu := cputime.Process() - cpu0
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(ms1.NumGC-ms0.NumGC)/float64(b.N), "gc/op")
	base, baseObjects, held, objects := m.stop()
	const mib = 1 << 20
	b.ReportMetric(float64(held)/mib, "peak-held-MiB")
	b.ReportMetric(float64(objects)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(base)/mib, "base-held-MiB")
	b.ReportMetric(float64(baseObjects)/mib, "base-heap-MiB")
	b.ReportMetric(float64(r.StoredBytes)/mib, "object-MiB")
	b.ReportMetric(float64(r.Parts), "parts")
}

// memSampler records the peak of what the runtime holds from the OS and of
// its heap objects (live and not yet swept).
type memSampler struct {
	done             chan struct{}
	wg               sync.WaitGroup
	base, baseOb     uint64
	peakHeld, peakOb atomic.Uint64
}

var memSamples = []string{
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
}

func readMem(s []metrics.Sample) (held, objects uint64) {
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64(), s[2].Value.Uint64()
}

func startMemSampler(every time.Duration) *memSampler {
	s := make([]metrics.Sample, len(memSamples))
	for i, n := range memSamples {
		s[i].Name = n
	}
	m := &memSampler{done: make(chan struct{})}
	m.base, m.baseOb = readMem(s)
	m.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			held, ob := readMem(s)
			m.peakHeld.Store(max(m.peakHeld.Load(), held))
			m.peakOb.Store(max(m.peakOb.Load(), ob))
			select {
			case <-m.done:
				return
			case <-t.C:
			}
		}
	})
	return m
}

func (m *memSampler) stop() (base, baseObjects, held, objects uint64) {
	close(m.done)
	m.wg.Wait()
	return m.base, m.baseOb, m.peakHeld.Load(), m.peakOb.Load()
}

// discardS3 reads every body as a server would and keeps nothing.
type discardS3 struct{}

func (discardS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	_, err := io.Copy(io.Discard, in.Body)
	return &s3.PutObjectOutput{}, err
}

func (discardS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("u")}, nil
}

func (discardS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	_, err := io.Copy(io.Discard, in.Body)
	return &s3.UploadPartOutput{ETag: aws.String("e")}, err
}

func (discardS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (discardS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return &s3.AbortMultipartUploadOutput{}, nil
}

// benchServerOutput is an output writing to a fresh bucket on the server at
// endpoint (credentials from the environment).
func benchServerOutput(b *testing.B, endpoint string) *Output {
	ctx := context.Background()
	bucket := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	cfg, err := LoadConfig(flb.MapConfig{"bucket": bucket, "endpoint": endpoint, "region": "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	log := &flbtest.MemoryLogger{}
	awsCfg, err := loadAWSConfig(ctx, cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	if _, err = newS3Client(awsCfg, cfg).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatal(err)
	}
	o, err := New(ctx, cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// largeChunk is n DigiCert audit rows (the 24 report columns, values that
// vary as real ones do) as Fluent Bit v2 records. It is built in memory the
// Go heap does not count, as the chunk Fluent Bit hands over is, and without
// ever growing the heap to its size, so that the runtime's figures are those
// of a process that never held it.
func largeChunk(b testing.TB, n int) []byte {
	m, err := syscall.Mmap(-1, 0, n<<10, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = syscall.Munmap(m) })
	rng := rand.New(rand.NewPCG(10, 96))
	actions := []string{"User SSO login", "Certificate requested", "Order approved", "Domain validated", "API key created"}
	users := []string{"John Doe", "Zoë Müller", "Ana García", "Li Wei 李伟", "Sam O'Neil"}
	var rec, row []byte
	size := 0
	t := time.Date(2025, 2, 6, 0, 0, 0, 0, time.UTC)
	for i := range n {
		t = t.Add(time.Duration(1+rng.IntN(4000)) * time.Millisecond)
		act, user, uid := actions[rng.IntN(len(actions))], users[rng.IntN(len(users))], 1000000+rng.IntN(9000000)
		row = fmt.Appendf(row[:0], `{"Account ID":"0000000","Action":%q,"Action taken via":"CertCentral","Activity":"%s #%d\nby %s",`+
			`"Adjustment/Ledger ID":"","Date and time (UTC)":%q,"Division/Container ID":"111222","Division/Container name":"Global_Internal_Division",`+
			`"Domain ID":"%d","Domain name":"host%d.example.com","IP address":"%d.%d.%d.%d","IP country":"US","Message":"%s for host%d.example.com",`+
			`"Order ID":"%d","Order request ID":"%d","Organization ID":"%d","Organization name":"Example Corp, Inc.","Primary organization name":"Example Corp, Inc.",`+
			`"Result":"Successful","Revocation comments":"","User ID":"%d","User name":%q,"Voucher code ID":"","Voucher order ID":""}`,
			act, act, uid, user, t.Format("02-Jan-2006 15:04:05"),
			1000+rng.IntN(90000), rng.IntN(500), 10+rng.IntN(200), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254), act, rng.IntN(500),
			1e8+rng.IntN(9e8), 1e6+rng.IntN(9e6), 1e5+rng.IntN(9e5), uid, user)
		if rec, err = digicertin.AppendRecord(rec[:0], t, nil, row); err != nil {
			b.Fatalf("row %d: %v", i, err)
		}
		if size+len(rec) > len(m) {
			b.Fatalf("row %d: records larger than %d bytes on average", i, len(m)/n)
		}
		size += copy(m[size:], rec)
	}
	b.Logf("chunk: %d bytes, %.0f bytes per record", size, float64(size)/float64(n))
	return m[:size]
}
