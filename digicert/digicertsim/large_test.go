package digicertsim

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// discardWriter is an http.ResponseWriter that keeps nothing but counts,
// sampling the heap as the body streams out.
type discardWriter struct {
	hdr      http.Header
	status   int
	n        int64
	nextPeek int64
	peakHeap uint64
}

func (w *discardWriter) Header() http.Header { return w.hdr }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	if w.n >= w.nextPeek {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.peakHeap = max(w.peakHeap, ms.HeapAlloc)
		w.nextPeek = w.n + 8<<20
	}
	return len(b), nil
}

// largeSim has about rows rows in its first run.
func largeSim(rows int) (*Server, string) {
	sim := New(Config{APIKey: testKey, EventsPerHour: rows / 10, Window: 10 * time.Hour, Backlog: 10 * time.Hour})
	return sim, sim.Schedule(DefaultReportID)
}

func serveTo(sim *Server, path string, w http.ResponseWriter) {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("X-DC-DEVKEY", testKey)
	sim.ServeHTTP(w, req)
}

// TestLargeRunStreams checks that a large run is served without holding
// its rows: the heap stays far below the body size.
func TestLargeRunStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 100,000 rows")
	}
	sim, id := largeSim(100000)
	rn := sim.Runs()[len(sim.Runs())-1]
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &discardWriter{hdr: http.Header{}}
	serveTo(sim, fmt.Sprintf("/reports/v1/report/%s/%s/download?report_format=JSON", DefaultReportID, id), w)
	if w.status != 200 || w.hdr.Get("Content-Type") != "application/zip" {
		t.Fatalf("status %d, %q", w.status, w.hdr.Get("Content-Type"))
	}
	growth := int64(w.peakHeap) - int64(ms.HeapAlloc)
	t.Logf("%d rows, %d zip bytes, heap growth %d", rn.Rows, w.n, growth)
	if rn.Rows < 90000 || growth > 32<<20 {
		t.Fatalf("%d rows; heap grew by %d bytes while streaming", rn.Rows, growth)
	}
}

// BenchmarkServeMillionRows serves a 1,000,000-row part as ZIP.
func BenchmarkServeMillionRows(b *testing.B) {
	sim := New(Config{APIKey: testKey, EventsPerHour: 100000, Window: 10 * time.Hour, Backlog: 10 * time.Hour,
		ZipThreshold: math.MaxInt})
	id := sim.Schedule(DefaultReportID)
	rn := sim.Runs()[len(sim.Runs())-1]
	path := fmt.Sprintf("/reports/v1/report/%s/%s/download?report_format=JSON", DefaultReportID, id)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := &discardWriter{hdr: http.Header{}}
		serveTo(sim, path, w)
		b.ReportMetric(float64(w.n), "bytes/op")
	}
	b.ReportMetric(float64(min(rn.Rows, 1000000)), "rows/op")
}
