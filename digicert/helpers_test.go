package digicert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is the API key used by tests; no output may contain it.
const testKey = "TESTKEY-5ecr3t-9f8e7d6c5b4a"

// fakeClock advances only when slept on; it records every sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	// block makes Sleep wait for the context instead (cancel tests);
	// sleeping receives a value when such a Sleep starts.
	block    bool
	sleeping chan time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 2, 6, 10, 0, 0, 0, time.UTC), sleeping: make(chan time.Duration, 16)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block {
		f.sleeping <- d
		<-ctx.Done()
		return ctx.Err()
	}
	f.advance(d)
	return nil
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.advance(d)
	ch := make(chan time.Time, 1)
	ch <- f.Now()
	return ch
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.sleeps = append(f.sleeps, d)
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a client wired to a test server, a fake clock and a captured log.
type env struct {
	c     *Client
	srv   *httptest.Server
	clock *fakeClock
	logs  *syncBuffer
}

// newEnv starts h and a client for it. tweak may adjust the options.
func newEnv(t *testing.T, h http.Handler, tweak ...func(*Options)) *env {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, clock: newFakeClock(), logs: &syncBuffer{}}
	o := Options{
		BaseURL: srv.URL,
		APIKey:  testKey,
		Clock:   e.clock,
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TempDir: t.TempDir(),
	}
	for _, f := range tweak {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.c = c
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), testKey) {
			t.Errorf("log output contains the API key")
		}
	})
	return e
}

// counter counts requests per "METHOD path".
type counter struct {
	mu sync.Mutex
	n  map[string]int
	// log keeps every request as "METHOD path?query".
	log []string
}

func (c *counter) add(r *http.Request) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	k := r.Method + " " + r.URL.Path
	c.n[k]++
	c.log = append(c.log, r.Method+" "+r.URL.RequestURI())
	return c.n[k]
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *counter) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// resetConn drops the connection with a TCP reset before any answer.
func resetConn(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cutBody sends a 200 whose body stops after part of what Content-Length
// promised, then resets the connection.
func cutBody(w http.ResponseWriter, body []byte, keep int) {
	conn, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	bw.Write(body[:keep])
	bw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func dcError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// rec builds a history record.
func rec(reportID, runID, status, start string) map[string]any {
	return map[string]any{
		"report_display_name": "Audit", "report_identifier": reportID, "report_run_identifier": runID,
		"created_by_user_id": 12345, "created_date": start, "report_type": "audit-logs",
		"report_start_date": start, "report_end_date": start, "schedule": "ON_DEMAND",
		"format": []string{"JSON"}, "status": status, "manually_triggered": true, "split_report_count": 0,
	}
}

// servePage answers a history request from records, honouring offset and
// limit (capped at pageCap when > 0).
func servePage(w http.ResponseWriter, r *http.Request, records []map[string]any, pageCap int) {
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	lim, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if pageCap > 0 && lim > pageCap {
		lim = pageCap
	}
	end := min(off+lim, len(records))
	page := []map[string]any{}
	if off < len(records) {
		page = records[off:end]
	}
	writeJSON(w, 200, map[string]any{"page": map[string]int{"total": len(records), "limit": lim, "offset": off}, "report_history": page})
}

// history is a mutable list of history records behind a mutex.
type history struct {
	mu      sync.Mutex
	records []map[string]any
}

func (h *history) add(r ...map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r...)
}

func (h *history) setStatus(runID, status string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r["report_run_identifier"] == runID {
			r["status"] = status
		}
	}
}

func (h *history) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	recs := make([]map[string]any, len(h.records))
	for i, r := range h.records {
		c := map[string]any{}
		for k, v := range r {
			c[k] = v
		}
		recs[i] = c
	}
	h.mu.Unlock()
	servePage(w, r, recs, 0)
}

func runIDs(runs []Run) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.RunID
	}
	return ids
}
