package digicertin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// rig runs an Engine against the simulator. Poll cycles are driven by the
// test (poll), while the test goroutine plays Fluent Bit: Collect, decode,
// Release. Time never passes for real: the client's and the engine's clock
// follow the simulator's clock plus whatever the client "slept".
type rig struct {
	t   *testing.T
	sim *digicertsim.Server // nil with a fake source
	srv *httptest.Server
	clk clock     // the engine's
	cc  *simClock // the client's
	log *flbtest.MemoryLogger

	mkSource func() source
	cfg      Config
	maxRow   int // the client's MaxRowSize; 0 = default
	key      string
	e        *Engine

	ctx    context.Context
	cancel context.CancelFunc

	recs      []record
	batches   int
	maxBatch  int
	lastUnrel int // rows in the last batch collected without Release
	noRelease bool
	// releaseAfterCycle holds the Release of every batch of a poll until its
	// cycle has ended, so the cycle's closing snapshot never includes them
	// and they stay in the journal (deterministic journal contents).
	releaseAfterCycle bool
	held              []uint64
}

// record is one row as Fluent Bit received it.
type record struct {
	ts   time.Time
	meta string // metadata map as JSON
	body string // canonical JSON of the body (sorted keys)
}

// simClock reads the simulator's clock; sleeping moves only a private offset
// (so waiting for a run does not make new audit events appear).
type simClock struct {
	sim    *digicertsim.Server
	mu     sync.Mutex
	offset time.Duration
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sim.Now().Add(c.offset)
}

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
	return nil
}

func (c *simClock) After(d time.Duration) <-chan time.Time {
	c.Sleep(context.Background(), d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

func defaultSim() digicertsim.Config {
	return digicertsim.Config{
		APIKey: testKey, Seed: 7, EventsPerHour: 120, Window: 6 * time.Hour,
		ZipThreshold: 32 << 10, // most bodies are ZIPs
	}
}

func newRig(t *testing.T, sc digicertsim.Config, mut func(*Config)) *rig {
	t.Helper()
	if sc.APIKey == "" {
		sc.APIKey = testKey
	}
	sim := digicertsim.New(sc)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cc := &simClock{sim: sim}
	r := &rig{t: t, sim: sim, srv: srv, clk: cc, cc: cc, key: testKey}
	r.mkSource = r.client
	r.setup(srv.URL, mut)
	return r
}

// newFakeRig runs an Engine against a fake source on a fixed clock.
func newFakeRig(t *testing.T, src source, mut func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, clk: &fixedClock{now: time.Date(2025, 2, 6, 12, 0, 0, 0, time.UTC)}, key: testKey}
	r.mkSource = func() source { return src }
	r.setup("https://fake.invalid", mut)
	return r
}

func (r *rig) setup(base string, mut func(*Config)) {
	t := r.t
	r.log = &flbtest.MemoryLogger{}
	r.cfg = Config{
		APIKey: testKey, ReportID: digicertsim.DefaultReportID, APIBase: base, Interval: time.Hour, Mode: ModeRun,
		WaitTimeout: 10 * time.Minute, PollInterval: 10 * time.Second, StateFile: filepath.Join(t.TempDir(), "dc.state"),
		DedupWindow: 48 * time.Hour, RequestTimeout: 30 * time.Second, MaxBytesPerCollect: 64 << 10, BufferSize: 256 << 10,
	}
	if mut != nil {
		mut(&r.cfg)
	}
	t.Cleanup(func() {
		if r.e != nil {
			r.stop()
		}
		// The acceptance rule for every test: the key never reaches a log line.
		if strings.Contains(r.log.String(), testKey) {
			t.Errorf("a log line contains the API key")
		}
	})
	r.open()
}

// fixedClock stands still unless advanced; After fires at once.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fixedClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// client builds a DigiCert client for the simulator with a clock that never sleeps.
func (r *rig) client() source {
	c, err := digicert.New(digicert.Options{
		BaseURL: r.srv.URL, APIKey: r.key, HTTPClient: r.srv.Client(), Clock: r.cc,
		RateLimit: digicert.NoRateLimit, TempDir: r.t.TempDir(),
		Logger:          slog.New(slogHandler(r.log)),
		DownloadTimeout: r.cfg.DownloadTimeout, MaxInflatedSize: r.cfg.MaxInflatedSize, MaxZipMembers: r.cfg.MaxZipMembers,
		MaxRowSize: r.maxRow,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return clientSource{c}
}

// open starts a new Engine on the rig's state file (a process start).
func (r *rig) open() {
	r.t.Helper()
	e, err := newEngine(r.cfg, r.log, r.mkSource(), r.clk)
	if err != nil {
		r.t.Fatal(err)
	}
	r.e = e
	r.ctx, r.cancel = context.WithCancel(context.Background())
}

// poll runs one poll cycle while playing Fluent Bit, then drains the buffer.
// It returns the wait the engine chose before the next poll.
func (r *rig) poll() time.Duration {
	r.t.Helper()
	done := make(chan time.Duration, 1)
	go func() { done <- r.e.safeCycle(r.ctx) }()
	for {
		if r.collect() > 0 {
			continue
		}
		select {
		case d := <-done:
			for r.collect() > 0 {
			}
			for _, id := range r.held {
				r.e.Release(id)
			}
			r.held = nil
			// The next callback commits what was released (see Release).
			for r.collect() > 0 {
			}
			return d
		case <-time.After(200 * time.Microsecond):
		}
	}
}

// collect takes one batch like Fluent Bit's collect callback, decodes it and
// releases it like the cleanup callback (unless noRelease). It returns the
// number of records.
func (r *rig) collect() int {
	r.t.Helper()
	data, id := collect(r.e)
	if id == 0 {
		if data != nil {
			r.t.Fatal("data without a batch id")
		}
		return 0
	}
	r.batches++
	r.maxBatch = max(r.maxBatch, len(data))
	n := 0
	err := secopsout.DecodeChunk(data, func(ts time.Time, meta, body secopsout.RawMap) error {
		bj, err := secopsout.AppendJSON(nil, body)
		if err != nil {
			return err
		}
		mj, err := secopsout.AppendJSON(nil, meta)
		if err != nil {
			return err
		}
		r.recs = append(r.recs, record{ts: ts, meta: string(mj), body: canonical(r.t, bj)})
		n++
		return nil
	})
	if err != nil {
		r.t.Fatalf("Fluent Bit could not decode a batch: %v", err)
	}
	if n > 1 && len(data) > r.cfg.MaxBytesPerCollect {
		r.t.Fatalf("a batch of %d records has %d bytes, over max_bytes_per_collect %d", n, len(data), r.cfg.MaxBytesPerCollect)
	}
	switch {
	case r.noRelease:
		r.lastUnrel = n
	case r.releaseAfterCycle:
		r.held = append(r.held, id)
	default:
		r.e.Release(id)
	}
	return n
}

// crash ends the engine as kill -9 would: no Stop, no snapshot; only what
// was already written and fsynced survives. The lock goes with the file.
func (r *rig) crash() {
	r.cancel()
	r.e.buf.close()
	r.e.cp.mu.Lock()
	r.e.cp.closed = true
	r.e.cp.jr.f.Close()
	r.e.cp.mu.Unlock()
	r.e = nil
}

func (r *rig) stop() {
	r.t.Helper()
	r.cancel()
	if err := r.e.Stop(5 * time.Second); err != nil {
		r.t.Errorf("Stop: %v", err)
	}
	r.e = nil
}

func (r *rig) restart() {
	r.stop()
	r.open()
}

func canonical(t testing.TB, js []byte) string {
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, js)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// multiset counts canonical rows.
type multiset map[string]int

func (r *rig) got() multiset {
	m := multiset{}
	for _, rec := range r.recs {
		m[rec.body]++
	}
	return m
}

func (r *rig) truth() multiset { return eventsSet(r.t, r.sim.GroundTruth()) }

func eventsSet(t testing.TB, evs []digicertsim.Event) multiset {
	m := multiset{}
	for _, ev := range evs {
		m[canonical(t, ev.JSON)]++
	}
	return m
}

// diff describes how got differs from want: missing and extra occurrences.
func diff(got, want multiset) (missing, extra int, sample string) {
	for k, w := range want {
		if g := got[k]; g < w {
			missing += w - g
			if sample == "" {
				sample = fmt.Sprintf("missing %d× %s", w-g, k)
			}
		}
	}
	for k, g := range got {
		if w := want[k]; g > w {
			extra += g - w
			if sample == "" {
				sample = fmt.Sprintf("extra %d× %s", g-w, k)
			}
		}
	}
	return missing, extra, sample
}

// assertExactlyOnce fails unless Fluent Bit got every event exactly as often
// as it happened, with the record time equal to the row's own time (plus, for a
// later occurrence of an identical row, its occurrence's nanoseconds).
func (r *rig) assertExactlyOnce() {
	r.t.Helper()
	want := r.truth()
	if len(want) == 0 {
		r.t.Fatal("the simulator produced no events; the test proves nothing")
	}
	if missing, extra, sample := diff(r.got(), want); missing != 0 || extra != 0 {
		r.t.Fatalf("not exactly once: %d missing, %d extra of %d events (%s)", missing, extra, len(r.recs), sample)
	}
	r.assertRecordTimes()
}

func (r *rig) assertRecordTimes() {
	r.t.Helper()
	for _, rec := range r.recs {
		var m map[string]any
		json.Unmarshal([]byte(rec.body), &m)
		want, err := digicert.ParseEventTime(fmt.Sprint(m[digicert.EventTimeField]))
		if err != nil {
			continue // untimed rows are checked by their own test
		}
		// A later occurrence of an identical row carries occurrence-1
		// extra nanoseconds (see TestTwinEventsInLaterBatchGetAnotherKey).
		if d := rec.ts.Sub(want); d < 0 || d >= time.Microsecond {
			r.t.Fatalf("record time %v, row says %v", rec.ts, want)
		}
	}
}

// dupEvents reports whether the truth holds identical events (so the test
// exercises occurrence counting).
func dupEvents(m multiset) int {
	n := 0
	for _, c := range m {
		if c > 1 {
			n++
		}
	}
	return n
}

// logLines returns the log lines containing s, oldest first.
func (r *rig) logLines(s string) []string {
	var out []string
	for _, l := range r.log.Lines() {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// logSum adds up the values of key=N over the log lines that contain msg.
func (r *rig) logSum(msg, key string) int {
	n := 0
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `=(\d+)`)
	for _, l := range r.logLines(msg) {
		for _, m := range re.FindAllStringSubmatch(l, -1) {
			v, _ := strconv.Atoi(m[1])
			n += v
		}
	}
	return n
}
