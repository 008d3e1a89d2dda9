package input

import (
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// Runs every 2 h over a 6 h window: each event appears in three runs, and
// identical events occur (DuplicateEvery). Every event must arrive exactly once.
func TestOverlappingRunsExactlyOnce(t *testing.T) {
	r := newRig(t, defaultSim(), nil)
	for range 6 {
		r.sim.Advance(2 * time.Hour)
		if d := r.poll(); d != time.Hour {
			t.Fatalf("next poll in %v, want the interval", d)
		}
	}
	r.assertExactlyOnce()
	if dupEvents(r.truth()) == 0 {
		t.Fatal("no identical events in the truth: occurrence counting is not exercised")
	}
	lines := r.logLines("run shipped")
	if len(lines) != 6 {
		t.Fatalf("want one log line per run, got %d:\n%s", len(lines), r.log)
	}
	// Later runs overlap earlier ones: they must report skipped rows.
	if !strings.Contains(r.log.String(), "skipped_shipped=") || strings.Contains(lines[len(lines)-1], "skipped_shipped=0 ") {
		t.Errorf("overlap not visible in the run lines:\n%s", strings.Join(lines, "\n"))
	}
	for _, k := range []string{"report_id=", "run_id=", "rows=", "emitted=", "skipped_old=", "unparseable_time=", "parts=", "duration=", "next_poll="} {
		if !strings.Contains(lines[0], k) {
			t.Errorf("run line lacks %s: %s", k, lines[0])
		}
	}
	for _, rec := range r.recs {
		if rec.meta != "{}" {
			t.Fatalf("metadata must be empty without add_metadata, got %s", rec.meta)
		}
	}
}

func TestAddMetadata(t *testing.T) {
	r := newRig(t, defaultSim(), func(c *Config) { c.AddMetadata = true })
	r.sim.Advance(time.Hour)
	r.poll()
	if len(r.recs) == 0 {
		t.Fatal("no records")
	}
	runs := r.sim.Runs()
	var runID string
	for _, ri := range runs {
		if ri.ReportID == digicertsim.DefaultReportID && ri.ManuallyTriggered {
			runID = ri.RunID
		}
	}
	want := `{"report_id":"` + digicertsim.DefaultReportID + `","run_id":"` + runID + `"}`
	for _, rec := range r.recs {
		if rec.meta != want {
			t.Fatalf("metadata %s, want %s", rec.meta, want)
		}
		if strings.Contains(rec.body, "run_id") {
			t.Fatal("run_id leaked into the body")
		}
	}
}
