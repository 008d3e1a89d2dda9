package digicertin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// manualClock lets the test decide when the poller's next poll starts.
type manualClock struct {
	simClock
	waits chan time.Duration // the poller waits for its next poll
	fire  chan time.Time
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.fire
}

// The real loop: Start polls at once, waits the interval, polls again when
// the clock fires; Stop ends it, saves the checkpoint, and later callbacks
// (Fluent Bit may call after exit) are harmless.
func TestStartLoopStop(t *testing.T) {
	r := newRig(t, defaultSim(), nil)
	clk := &manualClock{simClock: simClock{sim: r.sim}, waits: make(chan time.Duration), fire: make(chan time.Time)}
	r.clk = clk
	r.restart()
	r.sim.Advance(2 * time.Hour)

	var mu sync.Mutex
	stopDrain := make(chan struct{})
	drained := make(chan struct{})
	go func() { // Fluent Bit's input thread
		defer close(drained)
		for {
			mu.Lock()
			n := r.collect()
			mu.Unlock()
			if n == 0 {
				select {
				case <-stopDrain:
					return
				case <-time.After(200 * time.Microsecond):
				}
			}
		}
	}()
	r.e.Start()
	if d := <-clk.waits; d != time.Hour {
		t.Fatalf("first wait %v, want the interval", d)
	}
	r.sim.Advance(2 * time.Hour)
	clk.fire <- r.sim.Now()
	<-clk.waits
	if err := r.e.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	close(stopDrain)
	<-drained
	mu.Lock()
	defer mu.Unlock()
	if n := len(r.logLines("run shipped")); n != 2 {
		t.Fatalf("%d runs shipped, want 2", n)
	}
	// Rows still queued at Stop are not lost: they ship after a restart.
	e := r.e
	if data, id := collect(e); data != nil || id != 0 {
		t.Fatal("Collect after Stop handed out data")
	}
	e.Release(12345)
	e.Pause()
	e.Resume()
	r.e = nil
	r.open()
	r.poll()
	r.assertExactlyOnce()
}

// Stop cancels a request in flight instead of waiting for it.
func TestStopCancelsInFlightRequest(t *testing.T) {
	sim := digicertsim.New(digicertsim.Config{APIKey: testKey})
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		select { // a DigiCert that never answers
		case <-q.Context().Done():
		case <-time.After(time.Minute):
		}
	}))
	defer srv.Close()
	client, err := digicert.New(digicert.Options{BaseURL: srv.URL, APIKey: testKey, HTTPClient: srv.Client(), RateLimit: digicert.NoRateLimit})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, key: testKey, clk: &simClock{sim: sim}}
	r.mkSource = func() source { return clientSource{client} }
	r.setup(srv.URL, nil)
	e := r.e
	r.e = nil
	e.Start()
	<-started
	if err := e.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop with a request in flight: %v", err)
	}
	if strings.Contains(r.log.String(), "[error]") {
		t.Errorf("a stop is not an error:\n%s", r.log)
	}
}

// The simulator's answers to a wrong key and to a View Only key in run mode
// become one error line with the fix; neither key is ever logged.
func TestKeyProblemsAgainstSimulator(t *testing.T) {
	cases := []struct {
		key, want string
	}{
		{"WRONG-k3y-000111", "DigiCert rejected the API key"},
		{"VIEWONLY-k3y-1234", "set mode follow"},
	}
	for _, c := range cases {
		sc := defaultSim()
		sc.ViewOnlyKeys = []string{"VIEWONLY-k3y-1234"}
		r := newRig(t, sc, nil)
		r.key = c.key
		r.restart()
		r.sim.Advance(time.Hour)
		if d := r.poll(); d < time.Hour {
			t.Errorf("%s: next poll in %v", c.want, d)
		}
		l := r.logLines("[error]")
		if len(l) != 1 || !strings.Contains(l[0], c.want) {
			t.Errorf("want one error line with %q:\n%s", c.want, r.log)
		}
		if strings.Contains(r.log.String(), c.key) {
			t.Errorf("the key %s was logged", c.key)
		}
	}
}

// New builds the real client from the configuration without touching the
// network and refuses a bad CA file with a clear error.
func TestNewFromConfig(t *testing.T) {
	g := baseConfig(t)
	cfg, err := LoadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	log := &flbtest.MemoryLogger{}
	e, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	cfg.TLSCAFile = g["state_file"] // exists now, but is no PEM bundle
	if _, err := New(cfg, log); err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("bad CA file: %v", err)
	}
	if strings.Contains(log.String(), testKey) {
		t.Error("key logged")
	}
}
