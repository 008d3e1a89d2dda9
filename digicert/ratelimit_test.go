package digicert

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestLimiterWindows(t *testing.T) {
	clk := newFakeClock()
	t0 := clk.Now()
	l := newLimiter(&RateLimit{Windows: []RateWindow{{Requests: 3, Per: 10 * time.Second}, {Requests: 5, Per: time.Minute}}}, clk)
	steps := []struct {
		at   time.Duration
		wait time.Duration
	}{
		{0, 0}, {0, 0}, {time.Second, 0}, // three in the first window
		{2 * time.Second, 8 * time.Second}, // fourth waits until the first is 10 s old
		{10 * time.Second, 0},              // one slot free again
		{10 * time.Second, 0},              // both sent at 0 s have aged out
		{10 * time.Second, 50 * time.Second},
		{time.Minute, 0},
	}
	for i, s := range steps {
		if got := l.reserve(t0.Add(s.at)); got != s.wait {
			t.Fatalf("step %d at %s: wait %s, want %s", i, s.at, got, s.wait)
		}
	}
}

func TestLimiterPause(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(NoRateLimit, clk)
	now := clk.Now()
	l.pause(now.Add(30 * time.Second))
	l.pause(now.Add(10 * time.Second)) // an earlier pause does not shorten it
	if got := l.reserve(now); got != 30*time.Second {
		t.Fatalf("wait %s, want 30s", got)
	}
	if got := l.reserve(now.Add(30 * time.Second)); got != 0 {
		t.Fatalf("wait %s after the pause, want 0", got)
	}
}

func TestDefaultRateLimitKeepsUnderPublishedLimits(t *testing.T) {
	// 1,200 requests through the client with the default limiter: the
	// server-side times (fake clock) never exceed 100 in any 5 s or 1000
	// in any 3 min.
	var mu sync.Mutex
	var times []time.Time
	var clk *fakeClock
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, clk.Now())
		mu.Unlock()
		okReport(w, r)
	}))
	clk = e.clock
	for i := 0; i < 1200; i++ {
		if _, err := e.c.Report(context.Background(), "rep"); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range DefaultRateLimit().Windows {
		j := 0
		for i := range times {
			for times[i].Sub(times[j]) >= w.Per {
				j++
			}
			if n := i - j + 1; n > w.Requests {
				t.Fatalf("%d requests within %s, limit %d", n, w.Per, w.Requests)
			}
		}
	}
	// The limiter should not be slower than needed: 1,200 requests need
	// just over one 3-minute window.
	if span := times[len(times)-1].Sub(times[0]); span < 3*time.Minute || span > 4*time.Minute {
		t.Errorf("1200 requests took %s of fake time, want between 3 and 4 minutes", span)
	}
	if len(times) != 1200 {
		t.Fatalf("%d requests", len(times))
	}
}

func TestRateLimit429PausesOtherCalls(t *testing.T) {
	s := &script{steps: []step{status(429, "Retry-After", "20"), okReport}}
	e := newEnv(t, s)
	if _, err := e.c.Report(context.Background(), "rep"); err != nil {
		t.Fatal(err)
	}
	// The retry slept 20 s; the limiter was paused until then, so
	// nothing else waits now.
	if got := e.c.lim.reserve(e.clock.Now()); got != 0 {
		t.Fatalf("limiter still waits %s after the pause", got)
	}
	e.c.lim.pause(e.clock.Now().Add(time.Minute))
	if got := e.c.lim.reserve(e.clock.Now()); got != time.Minute {
		t.Fatalf("wait %s, want 1m", got)
	}
}

func TestSharedLimiterPerKey(t *testing.T) {
	a, err := New(Options{APIKey: "key-a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(Options{APIKey: "key-a", BaseURL: "https://example.test"})
	c, _ := New(Options{APIKey: "key-b"})
	d, _ := New(Options{APIKey: "key-a", RateLimit: NoRateLimit})
	if a.lim != b.lim {
		t.Error("clients with the same key do not share a limiter")
	}
	if a.lim == c.lim || a.lim == d.lim {
		t.Error("a different key or an explicit limit shares the default limiter")
	}
	if got := d.lim.reserve(time.Now()); got != 0 || len(d.lim.windows) != 0 {
		t.Error("NoRateLimit still limits")
	}
}

func TestLimiterWaitReturnsOnCancel(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(&RateLimit{Windows: []RateWindow{{Requests: 1, Per: time.Hour}}}, clk)
	if _, err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.wait(ctx); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	waited, err := l.wait(context.Background())
	if err != nil || waited != time.Hour {
		t.Fatalf("waited %s, %v; want 1h", waited, err)
	}
}
