package digicertin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// fakeSource serves hand-written runs. Each call to RunReport hands out the
// next queued run; ReadyRuns lists the READY ones.
type fakeSource struct {
	mu        sync.Mutex
	runs      []digicert.Run
	rows      map[string][]string // run id → rows (JSON objects)
	queue     []string            // run ids RunReport returns, one per call
	breakAt   map[string]int      // run id → rows served before a download error
	breakErr  error               // that error (default: a connection reset)
	openErr   map[string]error
	reportErr error
	panics    int // Report panics this many times
	opened    []string
	decode    bool // rows come from digicert's decoder, with members and key ids
}

func newFakeSource() *fakeSource {
	return &fakeSource{rows: map[string][]string{}, breakAt: map[string]int{}, openErr: map[string]error{}}
}

// add defines a READY run and queues it for RunReport.
func (f *fakeSource) add(runID string, rows ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, digicert.Run{ReportID: digicertsim.DefaultReportID, RunID: runID, Status: digicert.StatusReady, Format: []string{"JSON"}})
	f.rows[runID] = rows
	f.queue = append(f.queue, runID)
}

func (f *fakeSource) Report(ctx context.Context, id string) (digicert.ReportInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panics > 0 {
		f.panics--
		panic("fake source exploded")
	}
	return digicert.ReportInfo{ID: id, ReportType: "audit-logs", Format: []string{"JSON"}}, f.reportErr
}

func (f *fakeSource) RunReport(ctx context.Context, id string, w digicert.WaitOptions) ([]digicert.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return nil, nil
	}
	next := f.queue[0]
	f.queue = f.queue[1:]
	for _, r := range f.runs {
		if r.RunID == next {
			return []digicert.Run{r}, nil
		}
	}
	return nil, fmt.Errorf("fake: no run %s", next)
}

func (f *fakeSource) ReadyRuns(ctx context.Context, id string) ([]digicert.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ready []digicert.Run
	for _, r := range f.runs {
		if r.Status == digicert.StatusReady {
			ready = append(ready, r)
		}
	}
	return ready, nil
}

func (f *fakeSource) Open(ctx context.Context, run digicert.Run) (rowIterator, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, run.RunID)
	if err := f.openErr[run.RunID]; err != nil {
		return nil, err
	}
	if f.decode {
		body := "[" + strings.Join(f.rows[run.RunID], ",") + "]"
		return &decodedRows{d: digicert.NewRowReader(strings.NewReader(body), 0, "")}, nil
	}
	it := &sliceRows{rows: f.rows[run.RunID], breakAt: -1, breakErr: f.breakErr}
	if n, ok := f.breakAt[run.RunID]; ok {
		it.breakAt = n
		delete(f.breakAt, run.RunID) // fails once
	}
	return it, nil
}

type sliceRows struct {
	rows     []string
	i        int
	breakAt  int
	breakErr error
	err      error
}

func (s *sliceRows) Next() bool {
	if s.i == s.breakAt {
		s.err = s.breakErr
		if s.err == nil {
			s.err = errors.New("fake: connection reset in the middle of the body")
		}
		return false
	}
	if s.i >= len(s.rows) {
		return false
	}
	s.i++
	return true
}

func (s *sliceRows) Row() digicert.Row { return digicert.Row(s.rows[s.i-1]) }

// Members is nil: the encoder then scans the row itself.
func (s *sliceRows) Members() []digicert.Member { return nil }

func (s *sliceRows) Keys() *digicert.Keys { return nil }
func (s *sliceRows) Err() error           { return s.err }
func (s *sliceRows) Part() int            { return 0 }
func (s *sliceRows) Stats() digicert.RowStats {
	return digicert.RowStats{}
}
func (s *sliceRows) Close() error { return nil }

// decodedRows reads rows as the client does, through digicert's decoder,
// which locates the members and gives their keys ids.
type decodedRows struct {
	d   *digicert.RowReader
	row digicert.Row
	err error
}

func (r *decodedRows) Next() bool {
	if r.err != nil {
		return false
	}
	r.row, r.err = r.d.Next()
	return r.err == nil
}

func (r *decodedRows) Row() digicert.Row          { return r.row }
func (r *decodedRows) Members() []digicert.Member { return r.d.Members() }
func (r *decodedRows) Keys() *digicert.Keys       { return r.d.Keys() }
func (r *decodedRows) Part() int                  { return 0 }
func (r *decodedRows) Stats() digicert.RowStats   { return r.d.Stats() }
func (r *decodedRows) Close() error               { return nil }
func (r *decodedRows) Err() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

func row(when, action string) string {
	return `{"Date and time (UTC)":"` + when + `","Action":"` + action + `"}`
}

// count returns how often Fluent Bit got a row with this action.
func (r *rig) count(action string) int {
	n := 0
	for _, rec := range r.recs {
		if strings.Contains(rec.body, `"Action":"`+action+`"`) {
			n++
		}
	}
	return n
}

// Identical events are counted, not collapsed: a run with k copies after runs
// that shipped m copies adds max(k-m, 0).
func TestOccurrenceCounting(t *testing.T) {
	a, b, c := row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:00:01", "B"), row("06-Feb-2025 10:00:02", "C")
	src := newFakeSource()
	src.add("r1", a, a, b)
	src.add("r2", a, b, a, a, c) // one more A, and C
	src.add("r3", a, b)          // fewer copies than shipped: nothing new
	src.add("r4", a, a, a, a, b, c, c)
	r := newFakeRig(t, src, nil)
	want := []map[string]int{
		{"A": 2, "B": 1, "C": 0},
		{"A": 3, "B": 1, "C": 1},
		{"A": 3, "B": 1, "C": 1},
		{"A": 4, "B": 1, "C": 2},
	}
	for i, w := range want {
		r.poll()
		for k, n := range w {
			if got := r.count(k); got != n {
				t.Fatalf("after run %d: %s shipped %d times, want %d", i+1, k, got, n)
			}
		}
		if i == 1 {
			r.restart() // counts survive a restart
		}
	}
}

// A row whose time cannot be parsed is shipped with the collection time,
// counted and warned about once per run, and never shipped twice while runs
// keep returning it; it does not move the watermark.
func TestUnparseableTimes(t *testing.T) {
	bad1 := `{"Date and time (UTC)":"yesterday","Action":"bad1"}`
	bad2 := `{"Action":"no-time"}`
	bad3 := `{"Date and time (UTC)":42,"Action":"number"}`
	good := row("06-Feb-2025 10:00:00", "good")
	src := newFakeSource()
	src.add("r1", bad1, good, bad2, bad3)
	src.add("r2", bad1, good, bad2, bad3)
	r := newFakeRig(t, src, nil)
	r.poll()
	r.poll()
	for _, a := range []string{"bad1", "no-time", "number", "good"} {
		if n := r.count(a); n != 1 {
			t.Errorf("%s shipped %d times, want 1", a, n)
		}
	}
	collect := r.clk.Now()
	for _, rec := range r.recs {
		if !strings.Contains(rec.body, `"good"`) && !rec.ts.Equal(collect) {
			t.Errorf("untimed row got time %v, want the collection time %v", rec.ts, collect)
		}
	}
	if w := r.logLines("row time unparseable"); len(w) != 2 {
		t.Errorf("want one warning per run, got %d:\n%s", len(w), r.log)
	}
	if lines := r.logLines("run shipped"); len(lines) != 2 || !strings.Contains(lines[0], "unparseable_time=3") {
		t.Errorf("run lines: %v", lines)
	}
	r.e.cp.mu.Lock()
	wm := r.e.cp.led.wm
	r.e.cp.mu.Unlock()
	if want := unixSec(time.Date(2025, 2, 6, 10, 0, 0, 0, time.UTC)); wm != want {
		t.Errorf("watermark %s, want the good row's time (untimed rows must not move it)", formatSec(wm))
	}
}

// A date far in the future is shipped as is but must not push the
// watermark past the real rows (which would then be skipped as old).
func TestFutureTimeDoesNotMoveWatermark(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2099 10:00:00", "future"), row("06-Feb-2025 09:00:00", "now"))
	src.add("r2", row("05-Feb-2025 23:00:00", "late-but-in-window"))
	r := newFakeRig(t, src, nil)
	r.poll()
	r.poll()
	for _, a := range []string{"future", "now", "late-but-in-window"} {
		if r.count(a) != 1 {
			t.Errorf("%s shipped %d times", a, r.count(a))
		}
	}
	if len(r.logLines("row time is in the future")) != 1 {
		t.Errorf("no future warning:\n%s", r.log)
	}
}

// A panic in the poller is logged and the next poll works.
func TestPollerPanicRecovered(t *testing.T) {
	src := newFakeSource()
	src.panics = 1
	src.add("r1", row("06-Feb-2025 10:00:00", "A"))
	r := newFakeRig(t, src, nil)
	if d := r.poll(); d != time.Hour {
		t.Errorf("after a panic the next poll is in %v, want the interval", d)
	}
	if l := r.logLines("internal error in the poller"); len(l) != 1 || !strings.Contains(l[0], "fake source exploded") || !strings.Contains(l[0], "stack=") {
		t.Fatalf("panic not logged with its stack:\n%s", r.log)
	}
	r.poll()
	if r.count("A") != 1 {
		t.Fatal("the poll after the panic did not ship")
	}
}

// A download that breaks mid-stream keeps the rows already queued (they are
// delivered and committed) and retries the rest at the next poll, with no
// duplicate.
func TestBrokenDownloadResumesWithoutDuplicates(t *testing.T) {
	var rows []string
	for i := range 50 {
		rows = append(rows, row(fmt.Sprintf("06-Feb-2025 10:%02d:00", i), fmt.Sprint("E", i)))
	}
	src := newFakeSource()
	src.add("r1", rows...)
	src.breakAt["r1"] = 20
	src.add("r2", rows...) // run mode: the next poll's run covers the same rows
	r := newFakeRig(t, src, nil)
	r.poll()
	if len(r.recs) != 20 {
		t.Fatalf("after the break %d rows were delivered, want the 20 read", len(r.recs))
	}
	if len(r.logLines("run interrupted")) != 1 || len(r.logLines("poll failed; retrying")) != 1 {
		t.Fatalf("missing warnings:\n%s", r.log)
	}
	r.poll()
	for i := range 50 {
		if n := r.count(fmt.Sprint("E", i)); n != 1 {
			t.Fatalf("E%d shipped %d times", i, n)
		}
	}
}

// Follow mode: a run that broke is retried before later runs; the runs done
// survive a restart.
func TestFollowRetriesBrokenRun(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:00:01", "B"))
	src.breakAt["r1"] = 1
	src.add("r3", row("06-Feb-2025 10:00:03", "D"))
	r := newFakeRig(t, src, func(c *Config) { c.Mode = ModeFollow })
	r.poll() // r1 breaks after A; r3 is not held back by it
	if r.count("A") != 1 || r.count("D") != 1 {
		t.Fatalf("first poll: A=%d D=%d", r.count("A"), r.count("D"))
	}
	r.poll() // r1 again (B), r3
	for _, a := range []string{"A", "B", "D"} {
		if r.count(a) != 1 {
			t.Errorf("%s shipped %d times", a, r.count(a))
		}
	}
	r.restart()
	r.e.cp.mu.Lock()
	done := len(r.e.cp.runsDone)
	r.e.cp.mu.Unlock()
	if done != 2 {
		t.Errorf("%d runs done after restart, want r1 and r3", done)
	}
	before := len(src.opened)
	r.poll()
	if len(src.opened) != before {
		t.Errorf("restart re-read runs %v", src.opened[before:])
	}
}

// Follow mode: a 404 (even a proxy's HTML page) or an empty body on a listed
// READY run is a failed attempt, retried at later polls, not a run done: it
// ships once the file is there. Only after maxRunFailures polls in a row is
// it given up, at error level.
func TestFollowTransient404IsRetried(t *testing.T) {
	for _, cause := range []error{
		fmt.Errorf("download: %w", digicert.ErrRunNotFound),
		fmt.Errorf("download: %w", digicert.ErrEmptyBody),
	} {
		src := newFakeSource()
		src.add("r1", row("06-Feb-2025 10:00:00", "A"))
		src.add("r2", row("06-Feb-2025 10:00:02", "C"))
		src.openErr["r2"] = cause
		r := newFakeRig(t, src, func(c *Config) { c.Mode = ModeFollow })
		r.poll()
		r.poll()
		src.mu.Lock()
		delete(src.openErr, "r2") // the file is there now
		src.mu.Unlock()
		r.poll()
		if r.count("A") != 1 || r.count("C") != 1 {
			t.Fatalf("%v: A %d×, C %d×; want each once (the run must not be marked done on a transient failure)", cause, r.count("A"), r.count("C"))
		}

		// The same on a later part of a split run: the rows after it come
		// at a later poll.
		src.add("r2b", row("06-Feb-2025 10:00:02", "C"), row("06-Feb-2025 10:00:02", "C2"))
		src.breakAt["r2b"], src.breakErr = 1, fmt.Errorf("download run part 1: %w", cause)
		r.poll()
		r.poll()
		if r.count("C2") != 1 {
			t.Fatalf("%v on a later part: C2 shipped %d×, want once", cause, r.count("C2"))
		}

		src.add("r3", row("06-Feb-2025 10:00:03", "D"))
		src.add("r4", row("06-Feb-2025 10:00:04", "E"))
		src.openErr["r3"] = cause
		for range maxRunFailures {
			r.poll()
		}
		if r.count("E") != 1 || r.count("D") != 0 {
			t.Fatalf("%v: after %d failed polls, D %d×, E %d×; want r3 given up and r4 shipped", cause, maxRunFailures, r.count("D"), r.count("E"))
		}
		if l := r.logLines("giving up on a run"); len(l) != 1 || !strings.Contains(l[0], "run_id=r3") || !strings.Contains(l[0], "[error]") {
			t.Errorf("%v: give-up not logged at error level with the run id:\n%s", cause, r.log)
		}
	}
}

// Follow mode: a run older than DigiCert's 90-day retention (measured against
// the newest run DigiCert lists, not the host clock) that answers 404 is
// skipped at once, logged at error level with its id.
func TestFollowSkipsRunPastRetention(t *testing.T) {
	src := newFakeSource()
	src.add("old", row("06-Feb-2025 10:00:00", "A"))
	src.add("new", row("06-Feb-2025 10:00:02", "C"))
	src.runs[0].StartDate = "2024-10-01 00:00:00"
	src.runs[1].StartDate = "2025-02-06 00:00:00"
	src.openErr["old"] = fmt.Errorf("download: %w", digicert.ErrRunNotFound)
	r := newFakeRig(t, src, func(c *Config) { c.Mode = ModeFollow })
	r.poll()
	if r.count("C") != 1 {
		t.Fatalf("the run after the expired one was not shipped at the first poll")
	}
	if l := r.logLines("older than DigiCert's 90-day retention"); len(l) != 1 || !strings.Contains(l[0], "run_id=old") || !strings.Contains(l[0], "[error]") {
		t.Errorf("expired run not logged at error level with its id:\n%s", r.log)
	}
}

// Follow mode: a run that turns READY after a newer one was shipped (runs
// can finish out of order) is still shipped, also across a restart.
func TestFollowOutOfOrderRuns(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 09:00:00", "A"))
	src.add("r2", row("06-Feb-2025 09:30:00", "B"), row("06-Feb-2025 10:00:00", "C"))
	src.add("r3", row("06-Feb-2025 10:00:00", "C"), row("06-Feb-2025 11:00:00", "D"))
	src.runs[1].Status = digicert.StatusGenerating // r2 finishes after r3
	r := newFakeRig(t, src, func(c *Config) { c.Mode = ModeFollow })
	r.poll()
	r.restart()
	src.mu.Lock()
	src.runs[1].Status = digicert.StatusReady
	src.mu.Unlock()
	r.poll()
	for _, a := range []string{"A", "B", "C", "D"} {
		if r.count(a) != 1 {
			t.Errorf("%s shipped %d times, want once", a, r.count(a))
		}
	}
}

// A format version 2 checkpoint knows only the last run done: every run up to
// it in history counts as done, the runs after it are shipped.
func TestFollowAdoptsLastRunID(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 09:00:00", "A"))
	src.add("r2", row("06-Feb-2025 10:00:00", "B"))
	src.add("r3", row("06-Feb-2025 11:00:00", "C"))
	r := newFakeRig(t, src, func(c *Config) { c.Mode = ModeFollow })
	r.e.cp.mu.Lock()
	r.e.cp.meta.LastRunID = "r2"
	r.e.cp.mu.Unlock()
	r.poll()
	if got := src.opened; len(got) != 1 || got[0] != "r3" {
		t.Errorf("opened %v, want only r3", got)
	}
}

// Invalid key, missing permission and unknown report are logged as errors
// with the fix, and the next poll waits at least an hour (no hot loop).
func TestConfigErrorsBackOff(t *testing.T) {
	cases := []struct {
		err  error
		mode Mode
		want string
	}{
		{digicert.ErrInvalidKey, ModeRun, "check api_key/api_key_file"},
		{digicert.ErrPermission, ModeRun, "set mode follow"},
		{digicert.ErrReportNotFound, ModeFollow, "check report_id"},
	}
	for _, c := range cases {
		src := newFakeSource()
		src.reportErr = fmt.Errorf("wrapped: %w", c.err)
		r := newFakeRig(t, src, func(cfg *Config) { cfg.Mode = c.mode; cfg.Interval = time.Minute })
		if d := r.poll(); d < time.Hour {
			t.Errorf("%v: next poll in %v, want ≥ 1h", c.err, d)
		}
		if l := r.logLines("[error]"); len(l) != 1 || !strings.Contains(l[0], c.want) {
			t.Errorf("%v: want one error line containing %q:\n%s", c.err, c.want, r.log)
		}
	}
}

// The host clock jumping back or forward by more than dedup_window neither
// repeats nor skips rows: rows are judged by event times and the
// checkpoint, not by the clock. Untimed rows included.
func TestHostClockJumps(t *testing.T) {
	for _, jump := range []time.Duration{-365 * 24 * time.Hour, -72 * time.Hour, 72 * time.Hour, 365 * 24 * time.Hour} {
		t.Run(jump.String(), func(t *testing.T) {
			src := newFakeSource()
			base := []string{row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 11:00:00", "B"), `{"Action":"U1"}`}
			later := append(append([]string{}, base...), row("06-Feb-2025 12:30:00", "C"), row("06-Feb-2025 13:30:00", "D"), `{"Action":"U2"}`)
			latest := append(append([]string{}, later...), row("06-Feb-2025 15:00:00", "E"))
			src.add("r1", base...)
			src.add("r2", later...)
			src.add("r3", later...)
			src.add("r4", latest...)
			src.add("r5", latest...)
			r := newFakeRig(t, src, nil)
			clk := r.clk.(*fixedClock)
			r.poll()
			clk.mu.Lock()
			clk.now = clk.now.Add(jump)
			clk.mu.Unlock()
			for range 4 {
				r.poll()
				r.restart()
			}
			for _, a := range []string{"A", "B", "U1", "C", "D", "U2", "E"} {
				if n := r.count(a); n != 1 {
					t.Errorf("%s shipped %d times, want once", a, n)
				}
			}
			if warned := len(r.logLines("the host clock is behind")) > 0; warned != (jump < 0) {
				t.Errorf("clock warning logged: %v, want %v", warned, jump < 0)
			}
		})
	}
}

// An event that genuinely happened twice, whose second copy comes in a later
// batch, must not make that batch byte-identical to the earlier one: the
// output keys objects by a hash of the batch (secopsout.ContentHash) and would
// take the second for a retry of the first and store nothing. The copies
// differ only in their record time's nanoseconds; bodies and metadata are
// equal, and a re-emit after a crash repeats the same bytes.
func TestTwinEventsInLaterBatchGetAnotherKey(t *testing.T) {
	twin := row("06-Feb-2025 10:00:00", "twin")
	src := newFakeSource()
	src.add("r1", twin)
	src.add("r2", twin, twin)
	r := newFakeRig(t, src, nil)
	// cycle runs one poll and returns its batches, released or not.
	cycle := func(release bool) (chunks [][]byte) {
		done := make(chan time.Duration, 1)
		go func() { done <- r.e.safeCycle(r.ctx) }()
		<-done
		for {
			data, id := collect(r.e)
			if id == 0 {
				return chunks
			}
			chunks = append(chunks, data)
			if release {
				r.e.Release(id)
			}
		}
	}
	first := cycle(true)
	second := cycle(false)
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("%d and %d batches, want one per run", len(first), len(second))
	}
	if secopsout.ContentHash("digicert.audit", first[0]) == secopsout.ContentHash("digicert.audit", second[0]) {
		t.Fatal("the second occurrence's batch has the object key of the first: the output would take it for a retry and not store it")
	}
	var bodies, metas []string
	var times []time.Time
	for _, c := range [][]byte{first[0], second[0]} {
		secopsout.DecodeChunk(c, func(ts time.Time, meta, body secopsout.RawMap) error {
			bj, _ := secopsout.AppendJSON(nil, body)
			mj, _ := secopsout.AppendJSON(nil, meta)
			bodies, metas, times = append(bodies, string(bj)), append(metas, string(mj)), append(times, ts)
			return nil
		})
	}
	if len(bodies) != 2 || bodies[0] != bodies[1] || metas[0] != "{}" || metas[1] != "{}" {
		t.Errorf("bodies %q, metadata %q: want equal bodies and empty metadata", bodies, metas)
	}
	if d := times[1].Sub(times[0]); d != time.Nanosecond {
		t.Errorf("second occurrence is %v after the first, want 1ns", d)
	}
	// The process dies before the second batch is released: the restart
	// sends the very same bytes, so the output recognises the retry.
	r.crash()
	r.open()
	src.mu.Lock()
	src.queue = append(src.queue, "r2")
	src.mu.Unlock()
	again := cycle(true)
	if len(again) != 1 || !bytes.Equal(again[0], second[0]) {
		t.Errorf("the re-sent batch differs from the one lost in the crash")
	}
}

// A row is known by its content, not by its JSON text: sent again with
// other whitespace and escapes it is not shipped again, while a real change
// is. (The fake source gives no members: rows are scanned.)
func TestRowIdentityIgnoresJSONFormatting(t *testing.T) {
	src := newFakeSource()
	src.add("r1", `{"Date and time (UTC)":"06-Feb-2025 10:00:00","Action":"A","Comment":"x/y"}`)
	src.add("r2", "{ \"Date and time (UTC)\" : \"06-Feb-2025 10:00:00\",\n \"Action\" : \"\\u0041\", \"Comment\":\"x\\/y\" }",
		`{"Date and time (UTC)":"06-Feb-2025 10:00:00","Action":"A","Comment":"x/z"}`)
	r := newFakeRig(t, src, nil)
	r.poll()
	r.poll()
	if len(r.recs) != 2 || r.e.p.encoded != 2 {
		t.Fatalf("shipped %d rows (encoded %d), want 2: the first and the changed one\n%v", len(r.recs), r.e.p.encoded, r.recs)
	}
}

// A row's decision waits for the next row (heldRow), by which time the
// decoder's key table may have started over and given the row's key ids to
// other keys: every row must still be shipped with its own keys. Each row
// here brings a new key, so the table (4096 keys) starts over mid-run.
func TestHeldRowKeysOutliveKeyTable(t *testing.T) {
	const n = 5000
	rows := make([]string, n)
	want := multiset{}
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"Date and time (UTC)":"06-Feb-2025 10:00:00","Action":"a%d","k%05d":"v"}`, i, i)
		want[canonical(t, []byte(rows[i]))]++
	}
	src := newFakeSource()
	src.decode = true
	src.add("r1", rows...)
	r := newFakeRig(t, src, nil)
	r.poll()
	for r.collect() > 0 {
	}
	if missing, extra, sample := diff(r.got(), want); missing+extra > 0 {
		t.Fatalf("%d rows missing, %d unexpected, e.g. %s", missing, extra, sample)
	}
}

// A held row keeps its members only while rows are being emitted; a new row
// among rows shipped before is encoded from its bytes alone, and must ship
// exactly as the decoder read it.
func TestHeldRowEmittedAmongShipped(t *testing.T) {
	var rows []string
	for i := range 10 {
		rows = append(rows, row("06-Feb-2025 10:00:00", fmt.Sprintf("old%d", i)))
	}
	fresh := `{"Date and time (UTC)":"06-Feb-2025 10:00:01","Action":"fresh","Activity":"two\nlines \u00e9 \"q\"","n":[1,{"k":null}],"ok":true}`
	src := newFakeSource()
	src.decode = true
	src.add("r1", rows...)
	// Two new rows first, so that rows are held with members, then rows
	// shipped before, held without.
	new1, new2 := row("06-Feb-2025 10:00:02", "new1"), row("06-Feb-2025 10:00:02", "new2")
	src.add("r2", append(append(append([]string{new1, new2}, rows[:5]...), fresh), rows[5:]...)...)
	r := newFakeRig(t, src, nil)
	r.poll()
	r.poll()
	want := multiset{canonical(t, []byte(fresh)): 1, canonical(t, []byte(new1)): 1, canonical(t, []byte(new2)): 1}
	for _, s := range rows {
		want[canonical(t, []byte(s))] = 1
	}
	if missing, extra, sample := diff(r.got(), want); missing+extra > 0 {
		t.Fatalf("%d rows missing, %d unexpected, e.g. %s", missing, extra, sample)
	}
}
