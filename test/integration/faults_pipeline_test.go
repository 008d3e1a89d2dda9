package integration

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// The pipeline without a Fluent Bit binary: the input engine and the output
// in this process, driven as Fluent Bit drives them. Each period the input's
// collect callback is called once and its records appended to an open chunk,
// then the cleanup callback (Release) follows at once, as in Fluent Bit,
// where the input's checkpoint advances as soon as Fluent Bit holds the rows.
// Each period the open chunk is closed and every due chunk is flushed in
// order by one worker; RETRY re-queues the chunk with a doubling back-off
// (Fluent Bit's scheduler, scaled down), ERROR drops it as Fluent Bit does.
// retry_limit is no_limits, as in the shipped fluent-bit.yaml.

const (
	faultPeriod    = 100 * time.Millisecond // collect and flush period (Fluent Bit: 1 s)
	faultRetryBase = 200 * time.Millisecond
	faultRetryMax  = 2 * time.Second
	faultTag       = "digicert.audit"
	// faultQuiet ends a wait that stopped making progress: longer than the
	// polls (1 s) and retries (≤ 2 s) a fixed build needs to get there.
	faultQuiet = 3 * time.Second
)

type faultPipe struct {
	t      *testing.T
	eng    *digicertin.Engine
	out    *secopsout.Output
	inLog  *flbtest.MemoryLogger
	outLog *flbtest.MemoryLogger
	mangle func([]byte) []byte
	hold   atomic.Bool // true: no collect callbacks (chunks still flushed)

	mu      sync.Mutex
	queued  int // chunks waiting
	dropped int // records of chunks the output dropped (ERROR)
	stored  int // chunks stored (OK)

	stop chan struct{}
	done chan struct{}
}

type faultChunk struct {
	data  []byte
	due   time.Time
	tries int
}

// faultSetup is what one in-process case needs.
type faultSetup struct {
	sim    *digicertsim.Server
	dc     *dcProxy // in front of the simulator
	s3     *s3Proxy // in front of versitygw
	env    s3outEnv
	client *s3.Client
	bucket string
	state  string        // state_file
	quiet  time.Duration // settle gives up after this long without progress

	downloadTimeout time.Duration // download_timeout, when set
	outExtra        flb.MapConfig // extra output keys
	// mangle, when set, alters each chunk before it is queued for the
	// output (records a broken or foreign producer could add).
	mangle func([]byte) []byte
}

// newFaultSetup starts a simulator behind a fault proxy, and a bucket on
// versitygw behind another.
func newFaultSetup(t *testing.T, mod func(*digicertsim.Config)) *faultSetup {
	t.Helper()
	cfg := digicertsim.Config{
		APIKey: dcAPIKey, Seed: 11, Backlog: 2 * time.Hour, EventsPerHour: 120,
		Reports: []string{dcReportA}, NoScheduledEntries: true,
	}
	if mod != nil {
		mod(&cfg)
	}
	sim := digicertsim.New(cfg)
	dc := &dcProxy{hooked: hooked{next: sim}, sim: sim}
	srv := httptest.NewServer(dc)
	t.Cleanup(srv.Close)
	dc.url = srv.URL
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	sp := newS3Proxy(t, env.endpoint)
	return &faultSetup{sim: sim, dc: dc, s3: sp, env: env, client: env.s3Client(t), bucket: bucket,
		state: filepath.Join(t.TempDir(), "in_digicert.state"), quiet: faultQuiet}
}

// start builds the input (through LoadConfig, with extra keys) and the
// output (writing through the S3 proxy) and starts the pipeline. The poll
// interval is set to every, below the 1-minute floor of the key, so that
// cases see several polls in seconds.
func (s *faultSetup) start(t *testing.T, every time.Duration, extra flb.MapConfig) *faultPipe {
	t.Helper()
	p, err := s.tryStart(t, every, extra)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tryStart is start returning the error a configuration or start-up check
// refuses the pipeline with (as the plugins' init would log it).
func (s *faultSetup) tryStart(t *testing.T, every time.Duration, extra flb.MapConfig) (*faultPipe, error) {
	t.Helper()
	set := flb.MapConfig{
		"api_key": dcAPIKey, "report_id": dcReportA, "api_base": s.dc.url,
		"state_file": s.state, "poll_interval": "1s", "request_timeout": "5s",
		"max_bytes_per_collect": "64000",
	}
	for k, v := range extra {
		set[k] = v
	}
	cfg, err := digicertin.LoadConfig(set)
	if err != nil {
		return nil, err
	}
	cfg.Interval = every
	// download_timeout has a floor of a minute as a key; the trickle case
	// sets the field below it.
	if s.downloadTimeout > 0 {
		cfg.DownloadTimeout = s.downloadTimeout
	}
	p := &faultPipe{t: t, inLog: &flbtest.MemoryLogger{}, outLog: &flbtest.MemoryLogger{}, mangle: s.mangle, stop: make(chan struct{}), done: make(chan struct{})}
	oset := flb.MapConfig{"bucket": s.bucket, "endpoint": s.s3.url, "region": "us-east-1", "upload_timeout": "10s"}
	for k, v := range s.outExtra {
		oset[k] = v
	}
	ocfg, err := secopsout.LoadConfig(oset)
	if err != nil {
		return nil, err
	}
	if p.out, err = secopsout.New(context.Background(), ocfg, p.outLog); err != nil {
		return nil, err
	}
	if p.eng, err = digicertin.New(cfg, p.inLog); err != nil {
		p.out.Close()
		return nil, err
	}
	p.eng.Start()
	go p.loop()
	t.Cleanup(p.close)
	return p, nil
}

func (p *faultPipe) loop() {
	defer close(p.done)
	tick := time.NewTicker(faultPeriod)
	defer tick.Stop()
	var queue []*faultChunk
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		if !p.hold.Load() {
			p.collect(&queue)
		}
		now := time.Now()
		kept := queue[:0]
		for _, c := range queue {
			if c.due.After(now) {
				kept = append(kept, c)
				continue
			}
			r := p.out.Flush(context.Background(), c.data, faultTag)
			switch r.Status {
			case secopsout.StatusOK:
				p.mu.Lock()
				p.stored++
				p.mu.Unlock()
			case secopsout.StatusRetry:
				c.tries++
				c.due = now.Add(min(faultRetryBase<<min(c.tries-1, 10), faultRetryMax))
				kept = append(kept, c)
			default:
				p.mu.Lock()
				p.dropped += r.Records
				p.mu.Unlock()
			}
		}
		queue = kept
		p.mu.Lock()
		p.queued = len(queue)
		p.mu.Unlock()
	}
}

// collect calls the input's collect callback once and queues its records
// as a chunk, then the cleanup callback.
func (p *faultPipe) collect(queue *[]*faultChunk) {
	recs, batch := p.eng.Collect()
	if batch == 0 {
		return
	}
	data := bytes.Clone(recs) // Fluent Bit's copy; Release frees recs
	if p.mangle != nil {
		data = p.mangle(data)
	}
	*queue = append(*queue, &faultChunk{data: data})
	p.eng.Release(batch)
}

// idle reports whether no chunk waits in the emulated Fluent Bit.
func (p *faultPipe) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued == 0
}

func (p *faultPipe) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	_ = p.eng.Stop(5 * time.Second)
	close(p.stop)
	<-p.done
	p.out.Close()
}

// settle waits until the bucket holds want rows and the pipeline is idle,
// or budget passes; then a short quiet period lets late duplicates arrive.
// It returns the bucket's rows.
func (s *faultSetup) settle(t *testing.T, p *faultPipe, want int, budget time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(budget)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		got, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/")
		n := total(got)
		if n >= want && (p == nil || p.idle()) {
			break
		}
		if n != last {
			last, since = n, time.Now()
		}
		// Stuck short of want: nothing arrived for faultQuiet and nothing
		// waits in the emulated Fluent Bit (a lost row, reported as such).
		if time.Since(since) > s.quiet && (p == nil || p.idle()) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond)
	got, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/")
	return got
}

// result compares the bucket with want and records the row.
func (s *faultSetup) result(t *testing.T, scenario string, got, want map[string]int, bound int, note string) {
	t.Helper()
	found, dups, lost := faultCompare(got, want)
	faultRecord(t, faultResult{Scenario: scenario, Expected: total(want), Found: found, Dups: dups, Lost: lost, Bound: bound, Note: note})
}

// hooked serves next, unless the hook a case set answers the request first.
type hooked struct {
	next http.Handler

	mu   sync.Mutex
	hook func(w http.ResponseWriter, r *http.Request) bool // true: answered
}

// setHook sets (nil: clears) the hook.
func (h *hooked) setHook(f func(w http.ResponseWriter, r *http.Request) bool) {
	h.mu.Lock()
	h.hook = f
	h.mu.Unlock()
}

func (h *hooked) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	f := h.hook
	h.mu.Unlock()
	if f != nil && f(w, r) {
		return
	}
	h.next.ServeHTTP(w, r)
}

// dcProxy serves the simulator, letting a case replace or alter answers.
type dcProxy struct {
	hooked
	sim *digicertsim.Server
	url string
}

// simAnswer is the simulator's answer to r, in full.
func (d *dcProxy) simAnswer(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	d.sim.ServeHTTP(rec, r)
	return rec
}

// writeAnswer sends rec with body instead of its own.
func writeAnswer(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// isBody reports whether r downloads a run's rows, and which run.
func isBody(r *http.Request) (runID string, ok bool) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// reports/v1/report/{report}/{run}/json|download
	if len(p) == 6 && p[2] == "report" && (p[5] == "json" || p[5] == "download") {
		return p[4], true
	}
	return "", false
}

// s3Proxy forwards to versitygw unless a case's hook answers.
type s3Proxy struct {
	hooked
	url string
	rp  *httputil.ReverseProxy
}

func newS3Proxy(t *testing.T, endpoint string) *s3Proxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{rp: httputil.NewSingleHostReverseProxy(u)}
	p.next = p.rp
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// s3Error answers as S3 does: an XML error body with code.
func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>injected by the fault suite</Message><RequestId>FAULT</RequestId></Error>`))
}

// hangUp closes the connection without an answer (S3 unreachable).
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
			return
		}
	}
	w.WriteHeader(http.StatusBadGateway)
}

// truthOf turns events into the row multiset the bucket is compared with.
func truthOf(t *testing.T, events []digicertsim.Event) map[string]int {
	t.Helper()
	m, _ := truthRows(t, events)
	return m
}

// replaceRow returns body with the first occurrence of row replaced.
func replaceRow(body, row, with []byte) []byte {
	i := bytes.Index(body, row)
	if i < 0 {
		return body
	}
	return append(append(append([]byte(nil), body[:i]...), with...), body[i+len(row):]...)
}

// onFirstBody is a dcProxy hook that lets handle answer the first request
// for a run's rows; every later request reaches the simulator.
func onFirstBody(handle func(w http.ResponseWriter, r *http.Request)) func(w http.ResponseWriter, r *http.Request) bool {
	var once sync.Once
	return func(w http.ResponseWriter, r *http.Request) bool {
		if _, ok := isBody(r); !ok {
			return false
		}
		first := false
		once.Do(func() { first = true })
		if first {
			handle(w, r)
		}
		return first
	}
}
