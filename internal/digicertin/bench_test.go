package digicertin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// zippedReport returns a run of n rows as DigiCert serves it (a ZIP, since it
// is over 2 MB), rendered once by the simulator so the benchmark does not pay
// for the server's compression.
func zippedReport(b *testing.B, n int) (run digicert.Run, body []byte) {
	b.Helper()
	sim := digicertsim.New(digicertsim.Config{
		APIKey: testKey, Seed: 1, Window: 24 * time.Hour, Backlog: 24 * time.Hour,
		EventsPerHour: n / 24, NoScheduledEntries: true,
	})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	id := sim.Schedule(digicertsim.DefaultReportID)
	req, _ := http.NewRequest("GET", srv.URL+"/reports/v1/report/"+digicertsim.DefaultReportID+"/"+id+"/json", nil)
	req.Header.Set("X-DC-DEVKEY", testKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(body[:2]) != "PK" {
		b.Fatalf("report body: status %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
	rows := 0
	for _, ri := range sim.Runs() {
		if ri.RunID == id {
			rows = ri.Rows
		}
	}
	b.Logf("report: %d rows, %.1f MB zipped", rows, float64(len(body))/1e6)
	return digicert.Run{ReportID: digicertsim.DefaultReportID, RunID: id, Status: digicert.StatusReady, Format: []string{"JSON"}}, body
}

// BenchmarkEngineZipped100k measures the whole input path on one report of
// ~100,000 rows: download through the real client (served from memory),
// ZIP inflate, JSON decode, msgpack encode, hash and dedup, buffer, and
// Fluent Bit's side (Collect, Release with its journal fsync). Each iteration
// starts from an empty checkpoint, so every row is emitted.
//
// Fluent Bit calls a Go input once a second; during a backfill the engine
// outruns that, so every callback finds a full max_bytes_per_collect batch.
// "fluentbit" drives the engine that way, as fast as the batches fill up.
// "eager" is a collector that takes whatever is queued at once, a batch
// (and a journal fsync) every few milliseconds: the engine's worst case.
func BenchmarkEngineZipped100k(b *testing.B) {
	b.Run("fluentbit", func(b *testing.B) { benchEngineZipped(b, 100_000, true) })
	b.Run("eager", func(b *testing.B) { benchEngineZipped(b, 100_000, false) })
}

// BenchmarkEngineZipped1M is the backfill case: a 1,000,000-row report
// (split in DigiCert at 1,000,000 rows, so still one file), at Fluent Bit's
// cadence. Peak heap shows the memory bound: a full buffer (buffer_size,
// 64 MB) and the dedup ledger of a million rows.
func BenchmarkEngineZipped1M(b *testing.B) {
	if testing.Short() {
		b.Skip("1M rows take a while to generate")
	}
	benchEngineZipped(b, 1_000_000, true)
}

func benchEngineZipped(b *testing.B, n int, fullBatches bool) {
	run, body := zippedReport(b, n)
	src := serveReport(b, body)
	body = nil
	// Fluent Bit's side: it copies each batch into its own memory (its
	// ring buffer) before the cleanup callback; reused here.
	var fbMem []byte
	fbCopy := func(recs []byte) int {
		if cap(fbMem) < len(recs) {
			fbMem = offHeap(max(len(recs), DefaultMaxBytesPerCollect))
		}
		return copy(fbMem[:len(recs)], recs)
	}
	var rows, bytes, batches int
	var peakHeap uint64
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		cfg := Config{ReportID: run.ReportID, StateFile: filepath.Join(b.TempDir(), "s"), DedupWindow: 48 * time.Hour,
			Interval: time.Hour, MaxBytesPerCollect: DefaultMaxBytesPerCollect, BufferSize: bufferFactor * DefaultMaxBytesPerCollect}
		e, err := newEngine(cfg, &flbtest.MemoryLogger{}, src, digicert.SystemClock)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		cpu0 := processCPU()
		b.StartTimer()

		var wg sync.WaitGroup
		var done atomic.Bool
		wg.Add(1)
		go func() { // Fluent Bit's input thread
			defer wg.Done()
			for {
				var recs []byte
				var id uint64
				if !fullBatches || batchReady(e) {
					recs, id = e.Collect()
				}
				if id == 0 {
					if done.Load() {
						return
					}
					if fullBatches {
						// Looks again shortly, without taking the
						// CPU from the poller (or the download).
						time.Sleep(200 * time.Microsecond)
					} else {
						runtime.Gosched()
					}
					continue
				}
				bytes += fbCopy(recs)
				batches++
				peakHeap = max(peakHeap, heapInUse())
				e.Release(id)
			}
		}()
		if err := e.shipRun(context.Background(), run); err != nil {
			b.Fatal(err)
		}
		done.Store(true)
		wg.Wait()
		for recs, id := e.Collect(); id != 0; recs, id = e.Collect() {
			bytes += fbCopy(recs)
			batches++
			e.Release(id)
		}
		b.StopTimer()
		cpu += processCPU() - cpu0
		e.cp.mu.Lock()
		rows += int(e.cp.committed)
		e.cp.mu.Unlock()
		e.Stop(time.Second)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if cpu > 0 {
		// CPU time of the whole process (all threads, user and system):
		// steadier than wall time on a shared machine.
		b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu-s")
	}
	b.ReportMetric(float64(bytes)/float64(rows), "B/row")
	b.ReportMetric(float64(rows)/float64(batches), "rows/batch")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
}

// serveReport serves a report body like DigiCert and returns the real
// client reading it. The body is served from a file, as DigiCert serves it
// from outside the process: holding it in this process's heap would add the
// ZIP's size (67 MB for 1M rows) to the engine's peak-heap figure.
func serveReport(b *testing.B, body []byte) source {
	bodyFile := filepath.Join(b.TempDir(), "report.zip")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(bodyFile)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/zip")
		io.Copy(w, f)
	}))
	b.Cleanup(srv.Close)
	client, err := digicert.New(digicert.Options{BaseURL: srv.URL, APIKey: testKey, HTTPClient: srv.Client(),
		RateLimit: digicert.NoRateLimit, TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return clientSource{client}
}

// batchReady tells whether a full batch is queued: the oldest block is
// closed once the next record would not fit in max_bytes_per_collect.
// batchReady reports whether the oldest queued block is full: a later one
// was started, or the next record would not fit (with buffer_size equal to
// max_bytes_per_collect the poller then waits instead of starting one).
func batchReady(e *Engine) bool {
	e.buf.mu.Lock()
	defer e.buf.mu.Unlock()
	const maxRecord = 4 << 10 // audit rows encode to ~700 bytes
	bl := e.buf.blocks
	return len(bl) > 1 || len(bl) == 1 && len(bl[0].data)+maxRecord > e.buf.perCollect
}

// heapInUse reads the heap in use without stopping the world
// (runtime.ReadMemStats would, at every batch).
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}
