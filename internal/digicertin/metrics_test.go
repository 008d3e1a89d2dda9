package digicertin

import (
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// The engine's counters match what it handed to Fluent Bit, across a
// second, overlapping run whose rows are skipped as already shipped.
func TestEngineMetricsMatchWhatWasShipped(t *testing.T) {
	rec := metrics.NewRecording(MetricDescs())
	obs := &apiObserver{m: metrics.Nop{}}
	sc := defaultSim()
	sc.Backlog = 2 * time.Hour
	r := newRig(t, sc, nil)
	r.stop()
	r.mkSource = func() source {
		c, err := digicert.New(digicert.Options{
			BaseURL: r.srv.URL, APIKey: r.key, HTTPClient: r.srv.Client(), Clock: r.cc,
			RateLimit: digicert.NoRateLimit, TempDir: t.TempDir(), Observer: obs,
		})
		if err != nil {
			t.Fatal(err)
		}
		return clientSource{c}
	}
	r.open()
	r.e.obs = obs
	r.e.SetMetrics(rec)

	r.poll()
	first := len(r.recs)
	r.clk.After(r.cfg.Interval) // the next interval: its run overlaps the first
	r.sim.Advance(r.cfg.Interval)
	r.poll()
	if errs := rec.Errors(); len(errs) > 0 {
		t.Fatalf("undeclared updates: %v", errs)
	}
	t.Logf("metrics:\n%s", rec)
	if got := rec.Value(MetricRows, RowsEmitted); int(got) != len(r.recs) || first == 0 {
		t.Errorf("rows emitted %v, records handed over %d", got, len(r.recs))
	}
	if got := rec.Value(MetricRuns, RunShipped); got != 2 {
		t.Errorf("runs shipped %v, want 2", got)
	}
	if rec.Value(MetricRows, RowsSkippedShipped) == 0 {
		t.Error("the overlapping run skipped nothing as shipped")
	}
	if rec.Value(MetricRuns, RunFailed) != 0 || rec.Value(MetricCheckpointErrs, "") != 0 {
		t.Errorf("failures counted:\n%s", rec)
	}
	if rec.Value(MetricRequests, "2xx") < 4 || rec.Value(MetricDownloadedBytes, "") <= 0 {
		t.Errorf("requests/bytes:\n%s", rec)
	}
	if got, want := rec.Value(MetricLastSuccess, ""), float64(r.clk.Now().Unix()); got != want {
		t.Errorf("last success %v, want %v", got, want)
	}
	var newest int64
	for _, x := range r.recs {
		newest = max(newest, x.ts.Unix())
	}
	if got := rec.Value(MetricNewestEvent, ""); int64(got) != newest {
		t.Errorf("newest event %v, want %d", got, newest)
	}
	// The engine's own Collect (the rig's bypasses it) updates the gauge.
	if recs, _ := r.e.Collect(); len(recs) != 0 {
		t.Fatalf("%d bytes left", len(recs))
	}
	if got := rec.Value(MetricBufferedBytes, ""); got != 0 {
		t.Errorf("buffered bytes %v after everything was collected", got)
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 301: "3xx", 403: "4xx", 429: "429", 503: "5xx"} {
		if got := statusClass(status); got != want {
			t.Errorf("%d → %s, want %s", status, got, want)
		}
	}
	if err := metrics.Check(MetricDescs()); err != nil {
		t.Error(err)
	}
}

// Rows the client repaired or skipped are counted under their outcome.
func TestEngineMetricsCountMalformedRows(t *testing.T) {
	for kind, outcome := range map[string]string{
		digicertsim.BadRowUTF8: RowsRepaired, digicertsim.BadRowControl: RowsRepaired,
		digicertsim.BadRowGarbage: RowsSkippedInvalid, digicertsim.BadRowOversize: RowsSkippedInvalid,
	} {
		t.Run(kind, func(t *testing.T) {
			r := newRig(t, defaultSim(), nil)
			r.maxRow = 1 << 20
			r.restart()
			rec := metrics.NewRecording(MetricDescs())
			r.e.SetMetrics(rec)
			r.sim.Advance(2 * time.Hour)
			r.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultBadRow, Row: kind, AfterRows: 5, Size: 2 << 20})
			r.poll()
			if got := rec.Value(MetricRows, outcome); got != 1 {
				t.Errorf("%s = %v, want 1\n%s", outcome, got, rec)
			}
			if got := rec.Value(MetricRows, RowsEmitted); int(got) != len(r.recs) {
				t.Errorf("emitted %v, records %d", got, len(r.recs))
			}
		})
	}
}
