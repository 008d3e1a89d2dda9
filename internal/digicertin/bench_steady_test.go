package digicertin

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// BenchmarkEngineSteady100k and BenchmarkEngineSteady1M measure the steady
// state: the same report read again when every row of it was shipped
// before, as at every poll after a backfill (a report covers more than the
// interval, so most of its rows are known). The report is shipped once
// before the timer starts; each iteration downloads and reads it again
// through the real client, and emits nothing: inflate, decode, row identity
// and ledger lookup are all the work.
func BenchmarkEngineSteady100k(b *testing.B) { benchEngineSteady(b, 100_000) }

func BenchmarkEngineSteady1M(b *testing.B) {
	if testing.Short() {
		b.Skip("1M rows take a while to generate")
	}
	benchEngineSteady(b, 1_000_000)
}

func benchEngineSteady(b *testing.B, n int) {
	run, body := zippedReport(b, n)
	src := serveReport(b, body)
	body = nil
	cfg := Config{ReportID: run.ReportID, StateFile: filepath.Join(b.TempDir(), "s"), DedupWindow: 48 * time.Hour,
		Interval: time.Hour, MaxBytesPerCollect: DefaultMaxBytesPerCollect, BufferSize: bufferFactor * DefaultMaxBytesPerCollect}
	e, err := newEngine(cfg, &flbtest.MemoryLogger{}, src, digicert.SystemClock)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Stop(time.Second)
	ctx := context.Background()

	// The first reading ships every row, collected and released as Fluent
	// Bit would (the collect after a release commits it).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if _, id := e.Collect(); id != 0 {
				e.Release(id)
				continue
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	if err := e.shipRun(ctx, run); err != nil {
		b.Fatal(err)
	}
	close(stop)
	wg.Wait()
	for _, id := e.Collect(); id != 0; _, id = e.Collect() {
		e.Release(id)
	}
	e.Collect()
	rows := e.buf.seq()

	runtime.GC()
	cpu0 := processCPU()
	var peakHeap uint64
	b.ReportAllocs()
	for b.Loop() {
		if err := e.shipRun(ctx, run); err != nil {
			b.Fatal(err)
		}
		peakHeap = max(peakHeap, heapInUse())
	}
	cpu := processCPU() - cpu0
	if e.buf.seq() != rows {
		b.Fatalf("reading the report again emitted %d rows; want none", e.buf.seq()-rows)
	}
	total := float64(rows) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	if cpu > 0 {
		b.ReportMetric(total/cpu.Seconds(), "rows/cpu-s")
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "heap-MiB")
}
