package digicert

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// step is one scripted answer.
type step func(w http.ResponseWriter, r *http.Request)

func status(code int, header ...string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if code == 429 {
			dcError(w, 429, "request_limit_exceeded", "Service unavailable, please limit request volume")
			return
		}
		w.WriteHeader(code)
	}
}

var (
	okReport step = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"report": map[string]any{"report_identifier": "rep", "format": []string{"JSON"}}})
	}
	reset step = func(w http.ResponseWriter, r *http.Request) { resetConn(w) }
	cut   step = func(w http.ResponseWriter, r *http.Request) {
		cutBody(w, []byte(`{"report":{"report_identifier":"rep","format":["JSON"]}}`), 10)
	}
)

// script answers requests with steps in order; the last step repeats.
type script struct {
	mu    sync.Mutex
	steps []step
	n     int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.mu.Unlock()
	st(w, r)
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

type span struct{ lo, hi time.Duration } // [lo, hi)

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		maxTime  time.Duration
		sleeps   []span
		wantErr  string
		is       error
		attempts int
	}{
		{"5xx burst then success", []step{status(500), status(502), status(503), okReport}, 0,
			[]span{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}, {2 * time.Second, 4 * time.Second}}, "", nil, 4},
		{"429 with Retry-After", []step{status(429, "Retry-After", "7"), okReport}, 0,
			[]span{{7 * time.Second, 7*time.Second + 1}}, "", nil, 2},
		{"429 with Retry-After 0 waits a second", []step{status(429, "Retry-After", "0"), okReport}, 0,
			[]span{{time.Second, time.Second + 1}}, "", nil, 2},
		{"429 without Retry-After backs off from 5s", []step{status(429), status(429), status(429), okReport}, 0,
			[]span{{5 * time.Second, 6 * time.Second}, {10 * time.Second, 12 * time.Second}, {20 * time.Second, 24 * time.Second}}, "", nil, 4},
		{"429 with a date Retry-After", []step{status(429, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"), okReport}, 0,
			[]span{{5 * time.Second, 6 * time.Second}}, "", nil, 2},
		{"connection reset", []step{reset, reset, okReport}, 0,
			[]span{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}}, "", nil, 3},
		{"body cut short", []step{cut, okReport}, 0,
			[]span{{500 * time.Millisecond, time.Second}}, "", nil, 2},
		{"Retry-After beyond the retry budget", []step{status(429, "Retry-After", "600")}, 0,
			nil, "rate limit exceeded", ErrRateLimited, 1},
		{"5xx until attempts run out", []step{status(500)}, 0,
			[]span{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}, {2 * time.Second, 4 * time.Second}, {4 * time.Second, 8 * time.Second}, {8 * time.Second, 16 * time.Second}},
			"gave up after 6 attempts", nil, 6},
		{"5xx until the retry time runs out", []step{status(500)}, 1500 * time.Millisecond,
			[]span{{500 * time.Millisecond, time.Second}}, "gave up after 2 attempts", nil, 2},
		{"resets until attempts run out", []step{reset}, 0,
			[]span{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}, {2 * time.Second, 4 * time.Second}, {4 * time.Second, 8 * time.Second}, {8 * time.Second, 16 * time.Second}},
			"gave up after 6 attempts", nil, 6},
		{"backoff is capped", []step{status(500)}, time.Hour,
			nil, "gave up after 9 attempts", nil, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{steps: tt.steps}
			e := newEnv(t, s, func(o *Options) {
				if tt.maxTime > 0 {
					o.MaxRetryTime = tt.maxTime
				}
				if strings.Contains(tt.name, "capped") {
					o.MaxAttempts = 9
				}
			})
			_, err := e.c.Report(context.Background(), "rep")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if s.count() != tt.attempts {
				t.Errorf("%d attempts, want %d", s.count(), tt.attempts)
			}
			sleeps := e.clock.Sleeps()
			if strings.Contains(tt.name, "capped") {
				for _, d := range sleeps {
					if d > backoffMax {
						t.Errorf("slept %s, over the cap %s", d, backoffMax)
					}
				}
				return
			}
			if len(sleeps) != len(tt.sleeps) {
				t.Fatalf("sleeps %v, want %d of them", sleeps, len(tt.sleeps))
			}
			for i, d := range sleeps {
				if d < tt.sleeps[i].lo || d >= tt.sleeps[i].hi {
					t.Errorf("sleep %d = %s, want in [%s, %s)", i, d, tt.sleeps[i].lo, tt.sleeps[i].hi)
				}
			}
			if len(sleeps) > 0 && !strings.Contains(e.logs.String(), "digicert: retrying request") {
				t.Errorf("retries were not logged: %s", e.logs.String())
			}
		})
	}
}

func TestRateBackoffCap(t *testing.T) {
	c := &Client{jitter: func(d time.Duration) time.Duration { return d - 1 }}
	for n := 0; n < 20; n++ {
		d := c.rateBackoff(n)
		if d < rateBackoffBase || d >= rateBackoffMax*6/5 {
			t.Fatalf("rateBackoff(%d) = %s, want in [5s, 3m36s)", n, d)
		}
	}
	if d := c.rateBackoff(10); d < rateBackoffMax {
		t.Fatalf("rateBackoff(10) = %s, want the 3m cap (plus jitter)", d)
	}
}

func TestRequestTimeoutIsRetried(t *testing.T) {
	first := true
	var mu sync.Mutex
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		stall := first
		first = false
		mu.Unlock()
		if stall {
			<-r.Context().Done() // never answers; the client gives up
			return
		}
		okReport(w, r)
	}), func(o *Options) { o.RequestTimeout = 100 * time.Millisecond })
	if _, err := e.c.Report(context.Background(), "rep"); err != nil {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(e.logs.String(), "no answer within 100ms (request_timeout)") {
		t.Errorf("the timeout was not logged as such: %s", e.logs.String())
	}
}

func TestContextCancel(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
		h     http.HandlerFunc
	}{
		{"during backoff", nil, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }},
		{"during a 429 wait", nil, func(w http.ResponseWriter, r *http.Request) { status(429, "Retry-After", "60")(w, r) }},
		{"during the request", nil, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n counter
			started := make(chan struct{}, 10)
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.add(r)
				started <- struct{}{}
				tt.h(w, r)
			}))
			e.clock.block = true
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() {
				_, err := e.c.Report(ctx, "rep")
				done <- err
			}()
			<-started
			if tt.name != "during the request" {
				<-e.clock.sleeping // the client is now waiting to retry
			}
			cancel()
			err := <-done
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if got := n.get("GET /reports/v1/report/rep"); got != 1 {
				t.Errorf("%d requests, want 1", got)
			}
		})
	}
}

func TestContextCancelDuringRateLimitWait(t *testing.T) {
	var n counter
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.add(r)
		okReport(w, r)
	}), func(o *Options) { o.RateLimit = &RateLimit{Windows: []RateWindow{{Requests: 1, Per: time.Hour}}} })
	if _, err := e.c.Report(context.Background(), "rep"); err != nil {
		t.Fatal(err)
	}
	e.clock.block = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := e.c.Report(ctx, "rep")
		done <- err
	}()
	if d := <-e.clock.sleeping; d != time.Hour {
		t.Errorf("limiter waits %s, want 1h", d)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("err = %v, want context.Canceled while waiting for the rate limit", err)
	}
	if got := n.get("GET /reports/v1/report/rep"); got != 1 {
		t.Errorf("%d requests reached the server, want 1", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"7", 7 * time.Second, true}, {" 12 ", 12 * time.Second, true}, {"0", time.Second, true},
		{"-3", 0, false}, {"1.5", 0, false}, {"Wed, 21 Oct 2015 07:28:00 GMT", 0, false}, {"99999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// A retry warning must not claim that retries ran out while they go on:
// an operator reading "retries ran out" on attempt 1 of 6 looks for a
// failure that has not happened.
func TestRateLimitRetryWarningDoesNotClaimGivingUp(t *testing.T) {
	s := &script{steps: []step{status(429, "Retry-After", "1"), okReport}}
	e := newEnv(t, s)
	if _, err := e.c.Report(context.Background(), "rep"); err != nil {
		t.Fatalf("err = %v", err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "digicert: retrying request") {
		t.Fatalf("the retry was not logged: %s", logs)
	}
	if strings.Contains(logs, "ran out") || strings.Contains(logs, "gave up") {
		t.Errorf("a retry that is still going on is logged as given up: %s", logs)
	}
}
