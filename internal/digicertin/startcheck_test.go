package digicertin

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// TestStartChecked: what only a person can fix stops the start with a
// message naming the fix; what DigiCert or the network may fix by itself
// only warns, within the time bound.
func TestStartChecked(t *testing.T) {
	const viewOnly = "VIEWONLY-in-5ecr3t-99"
	cases := []struct {
		name    string
		mut     func(r *rig)
		wantErr string // "" = the start goes on
		warn    string
		posts   int // POST …/run requests seen by the end of the check (-1: any)
	}{
		{"good key, run mode", nil, "", "", 1},
		{"good key, follow mode", func(r *rig) { r.cfg.Mode = ModeFollow }, "", "", 0},
		{"wrong key", func(r *rig) { r.key = "WRONG-key-123" }, "DigiCert rejected the API key: check api_key/api_key_file", "", 0},
		{"unknown report", func(r *rig) { r.cfg.ReportID = "00000000-0000-0000-0000-000000000000" }, "report not found: check report_id", "", 0},
		{"not an audit-log JSON report", func(r *rig) { r.cfg.ReportID = r.sim.ReportIDs("orders")[0] }, "not JSON: change its format to JSON", "", 0},
		{"view-only key, run mode", func(r *rig) { r.key = viewOnly }, "may not start report runs", "", 1},
		{"view-only key, follow mode", func(r *rig) { r.key = viewOnly; r.cfg.Mode = ModeFollow }, "", "", 0},
		{"DigiCert down", func(r *rig) { r.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultStatus, Status: 503, Times: 100}) },
			"", "start-up check could not reach DigiCert", -1},
		{"network down", func(r *rig) { r.srv.Close() }, "", "start-up check could not reach DigiCert", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := defaultSim()
			sc.ViewOnlyKeys = []string{viewOnly}
			r := newRig(t, sc, nil)
			if c.mut != nil {
				c.mut(r)
				r.stop()
				r.cfg.StateFile = filepath.Join(t.TempDir(), "dc.state")
				r.open()
			}
			start := time.Now()
			err := r.e.StartChecked(3 * time.Second)
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("the check took %v", d)
			}
			posts := 0
			for _, l := range r.sim.Requests() {
				if l.Method == "POST" {
					posts++
				}
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("StartChecked: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("StartChecked = %v, want %q", err, c.wantErr)
			}
			if c.warn != "" && len(r.logLines(c.warn)) == 0 {
				t.Fatalf("no %q warning:\n%s", c.warn, r.log)
			}
			if c.posts >= 0 && posts < c.posts || (c.posts == 0 && posts != 0) {
				t.Fatalf("%d POST …/run requests, want %d", posts, c.posts)
			}
			if err != nil {
				r.e = nil // StartChecked stopped it
			}
		})
	}
}

// An https:// api_base that reaches a plain-HTTP server is a configuration
// mistake: the start fails at once with a message naming api_base, instead
// of a warning and a poller retrying for ever.
func TestStartCheckedHTTPSOnPlainServer(t *testing.T) {
	sim := digicertsim.New(digicertsim.Config{APIKey: testKey})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	g := baseConfig(t)
	g["report_id"] = digicertsim.DefaultReportID
	g["api_base"] = strings.Replace(srv.URL, "http://", "https://", 1)
	cfg, err := LoadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	log := &flbtest.MemoryLogger{}
	e, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = e.StartChecked(3 * time.Second)
	if err == nil {
		_ = e.Stop(time.Second)
		t.Fatalf("StartChecked passed; log:\n%s", log)
	}
	if !strings.Contains(err.Error(), "api_base "+g["api_base"]+" uses https:// but the server there answered in plain HTTP") {
		t.Fatalf("StartChecked = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the check took %v", d)
	}
}

// The type of a report that is not an audit-log report is named in
// grammatical English whatever its first letter.
func TestReportTypeMessage(t *testing.T) {
	e := &Engine{cfg: Config{ReportID: "r1"}}
	err := e.reportUnusable(digicert.ReportInfo{ReportType: "orders", Format: []string{"JSON"}})
	if err == nil || !strings.Contains(err.Error(), "report r1 is of type orders, not an audit-log report") {
		t.Fatalf("reportUnusable = %v", err)
	}
}

// A start refused for a wrong report_id (here the API key pasted there)
// neither writes that id into state_file nor binds the file to it: after
// the fix the next start ships the right report from the same state_file.
func TestWrongReportIDDoesNotBindStateFile(t *testing.T) {
	r := newRig(t, defaultSim(), nil)
	good := r.cfg.ReportID
	r.stop()
	r.cfg.StateFile = filepath.Join(t.TempDir(), "fresh.state")
	r.cfg.ReportID = "key-pasted-" + testKey[len(testKey)-6:]
	r.open()
	if err := r.e.StartChecked(3 * time.Second); err == nil || !strings.Contains(err.Error(), "report not found") {
		t.Fatalf("StartChecked with a wrong report_id = %v", err)
	}
	r.e = nil // StartChecked stopped it
	if b, err := os.ReadFile(r.cfg.StateFile); err == nil && strings.Contains(string(b), r.cfg.ReportID) {
		t.Errorf("state_file holds the wrong report_id:\n%s", b)
	}
	r.cfg.ReportID = good
	r.open()
	r.sim.Advance(2 * time.Hour)
	r.poll()
	r.assertExactlyOnce()
	r.restart() // now bound to the right report
	r.sim.Advance(time.Hour)
	r.poll()
	r.assertExactlyOnce()
}

// A restart with a run still to download (it failed before the stop): the
// poller downloads it before it POSTs a new run, and the rows fill the
// buffer, which nothing drains before init returns. The start-up check
// must not wait for that POST (it held Fluent Bit's start for the whole
// timeout), and the pending run is shipped once collects begin.
func TestStartCheckedDoesNotWaitBehindPendingRuns(t *testing.T) {
	sc := defaultSim()
	sc.EventsPerHour, sc.Backlog, sc.ZipThreshold = 3000, 6*time.Hour, 1000
	r := newRig(t, sc, func(c *Config) {
		c.Interval = time.Minute
		c.MaxBytesPerCollect, c.BufferSize = 64_000, 64_000
	})
	r.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultOverlapZip, Members: 40, Times: 1})
	r.poll()
	if len(r.e.cp.pending()) != 1 {
		t.Fatalf("the refused run is not pending:\n%s", r.log)
	}
	r.stop()
	r.open()
	start := time.Now()
	if err := r.e.StartChecked(3 * time.Second); err != nil {
		t.Fatalf("StartChecked: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the start-up check waited %v behind the pending run's download", d)
	}
	// Collect like Fluent Bit until the run is in (the poller paces its
	// batches to the collects, so it is not all queued at once).
	want := len(r.sim.GroundTruth())
	for deadline := time.Now().Add(10 * time.Second); len(r.recs) < want && time.Now().Before(deadline); {
		if r.collect() == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	r.e.Stop(5 * time.Second)
	r.e = nil
	missing, _, sample := diff(r.got(), r.truth())
	if missing != 0 {
		t.Errorf("%d rows of the pending run missing (%s)", missing, sample)
	}
}
