package input

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
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
func BenchmarkEngineZipped100k(b *testing.B) { benchEngineZipped(b, 100_000) }

// BenchmarkEngineZipped1M is the backfill case: a 1,000,000-row report
// (split in DigiCert at 1,000,000 rows, so still one file). Peak heap shows
// the memory bound: two buffered batches, one handed out, and the ledger.
func BenchmarkEngineZipped1M(b *testing.B) {
	if testing.Short() {
		b.Skip("1M rows take a while to generate")
	}
	benchEngineZipped(b, 1_000_000)
}

func benchEngineZipped(b *testing.B, n int) {
	run, body := zippedReport(b, n)
	// Served from a file, as DigiCert serves it from outside the process:
	// holding the body in this process's heap would add the ZIP's size
	// (67 MB for 1M rows) to the engine's peak-heap figure.
	bodyFile := filepath.Join(b.TempDir(), "report.zip")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		b.Fatal(err)
	}
	body = nil
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
	defer srv.Close()
	client, err := digicert.New(digicert.Options{BaseURL: srv.URL, APIKey: testKey, HTTPClient: srv.Client(),
		RateLimit: digicert.NoRateLimit, TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var rows, bytes int
	var peakHeap uint64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		cfg := Config{ReportID: run.ReportID, StateFile: filepath.Join(b.TempDir(), "s"), DedupWindow: 48 * time.Hour,
			Interval: time.Hour, MaxBytesPerCollect: DefaultMaxBytesPerCollect, BufferSize: bufferFactor * DefaultMaxBytesPerCollect}
		e, err := newEngine(cfg, &flb.MemoryLogger{}, clientSource{client}, digicert.SystemClock)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()

		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Add(1)
		go func() { // Fluent Bit: take batches as fast as they come
			defer wg.Done()
			var ms runtime.MemStats
			for {
				data, id := e.Collect()
				if id == 0 {
					select {
					case <-done:
						return
					default:
						runtime.Gosched()
						continue
					}
				}
				bytes += len(data)
				runtime.ReadMemStats(&ms)
				peakHeap = max(peakHeap, ms.HeapInuse)
				e.Release(id)
			}
		}()
		if err := e.shipRun(context.Background(), run); err != nil {
			b.Fatal(err)
		}
		close(done)
		wg.Wait()
		for data, id := e.Collect(); id != 0; data, id = e.Collect() {
			bytes += len(data)
			e.Release(id)
		}
		b.StopTimer()
		e.mu.Lock()
		rows += int(e.committed)
		e.mu.Unlock()
		e.Stop(time.Second)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/float64(rows), "B/row")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
}
