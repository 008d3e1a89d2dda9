package digicertin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// setOpenErr makes every download of run id fail with err (nil: succeed).
func (f *fakeSource) setOpenErr(id string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.openErr, id)
	} else {
		f.openErr[id] = err
	}
}

var errRefused = errors.New("fake: ZIP entries overlap (refused)")

// Run mode: a READY run whose download failed is downloaded again at the
// next poll, along with the new run, even across a restart; its rows ship.
func TestRunModeRetriesFailedDownload(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:30:00", "B"))
	src.add("r2", row("06-Feb-2025 10:30:00", "B"), row("06-Feb-2025 13:00:00", "C"))
	src.add("r3", row("06-Feb-2025 14:00:00", "D"))
	src.setOpenErr("r1", errRefused)
	r := newFakeRig(t, src, func(c *Config) { c.DedupWindow = time.Hour })
	r.poll() // r1 refused
	if r.count("A") != 0 || len(r.logLines("poll failed; retrying at the next poll")) != 1 {
		t.Fatalf("first poll: A=%d\n%s", r.count("A"), r.log)
	}
	r.poll() // r1 fails again; r2 ships and moves the watermark past r1's rows' cutoff
	if r.count("C") != 1 || r.count("A") != 0 {
		t.Fatalf("second poll: C=%d A=%d", r.count("C"), r.count("A"))
	}
	r.restart() // the failed run is in the checkpoint
	src.setOpenErr("r1", nil)
	r.poll() // r1 again, then r3
	for _, a := range []string{"A", "B", "C", "D"} {
		if n := r.count(a); n != 1 {
			t.Errorf("%s shipped %d times, want 1\n%s", a, n, r.log)
		}
	}
	if p := r.e.cp.pending(); len(p) != 0 {
		t.Errorf("runs still pending: %+v", p)
	}
}

// A run that fails at every poll is given up after maxRunFailures attempts,
// at error level with its id, and counted; the new runs keep shipping.
func TestRunModeGivesUpFailingRun(t *testing.T) {
	src := newFakeSource()
	src.add("bad", row("06-Feb-2025 10:00:00", "A"))
	for i := range maxRunFailures + 1 {
		src.add(string(rune('a'+i)), row("06-Feb-2025 11:00:00", "X"+string(rune('a'+i))))
	}
	src.setOpenErr("bad", errRefused)
	rec := metrics.NewRecording(MetricDescs())
	r := newFakeRig(t, src, nil)
	r.e.SetMetrics(rec)
	for range maxRunFailures + 1 {
		r.poll()
	}
	bad := 0
	for _, id := range src.opened {
		if id == "bad" {
			bad++
		}
	}
	if bad != maxRunFailures {
		t.Errorf("the failing run was downloaded %d times, want %d", bad, maxRunFailures)
	}
	l := r.logLines("giving up on a run that failed at every poll")
	if len(l) != 1 || !strings.Contains(l[0], "[error]") || !strings.Contains(l[0], "run_id=bad") {
		t.Errorf("give-up line: %q\n%s", l, r.log)
	}
	if got := rec.Value(MetricRuns, RunGivenUp); got != 1 {
		t.Errorf("runs given up %v, want 1", got)
	}
	for i := range maxRunFailures {
		if a := "X" + string(rune('a'+i)); r.count(a) != 1 {
			t.Errorf("%s shipped %d times", a, r.count(a))
		}
	}
	if p := r.e.cp.pending(); len(p) != 0 {
		t.Errorf("runs still pending: %+v", p)
	}
}

// Follow mode: a failing run does not hold back newer READY runs, and when
// it succeeds later its rows still ship although the newer runs moved the
// watermark more than dedup_window past them; rows it shares with the newer
// runs ship once.
func TestFollowFailingRunDoesNotBlockNewer(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:30:00", "B"))
	src.add("r2", row("06-Feb-2025 10:30:00", "B"), row("06-Feb-2025 13:00:00", "C"))
	src.setOpenErr("r1", errRefused)
	r := newFakeRig(t, src, func(c *Config) { c.Mode = ModeFollow; c.DedupWindow = time.Hour })
	r.poll()
	if r.count("B") != 1 || r.count("C") != 1 {
		t.Fatalf("r2 held back by the failing r1: B=%d C=%d", r.count("B"), r.count("C"))
	}
	r.poll()
	src.add("r3", row("06-Feb-2025 16:00:00", "D"))
	r.poll() // r1 fails a third time, r3 ships
	r.restart()
	src.setOpenErr("r1", nil)
	r.poll()
	for _, a := range []string{"A", "B", "C", "D"} {
		if n := r.count(a); n != 1 {
			t.Errorf("%s shipped %d times, want 1\n%s", a, n, r.log)
		}
	}
	r.e.cp.mu.Lock()
	done := len(r.e.cp.runsDone)
	r.e.cp.mu.Unlock()
	if done != 3 {
		t.Errorf("%d runs done, want 3", done)
	}
}

// The reported case against the simulator: the first run's download is
// refused as a ZIP bomb; the next poll downloads it again, so rows that
// left the report's window meanwhile are not lost.
func TestRunModeZipBombRunRetried(t *testing.T) {
	sc := defaultSim()
	sc.EventsPerHour, sc.Backlog, sc.ZipThreshold = 300, 6*time.Hour, 1000
	r := newRig(t, sc, func(c *Config) { c.Interval = time.Minute })
	r.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultOverlapZip, Members: 40, Times: 1})
	r.poll()
	if len(r.logLines("poll failed")) != 1 {
		t.Fatalf("the first download was not refused:\n%s", r.log)
	}
	r.sim.Advance(5 * time.Minute) // the oldest rows of the first run leave the window
	r.poll()
	r.assertExactlyOnce()
}

// Follow mode: a failing run that history stops listing cannot be
// downloaded any more; it is given up at once, not kept pending (it would
// hold the ledger's prune floor down for ever).
func TestFollowPendingRunUnlistedIsGivenUp(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 10:00:00", "A"))
	src.add("r2", row("06-Feb-2025 11:00:00", "B"))
	src.setOpenErr("r1", errRefused)
	r := newFakeRig(t, src, func(c *Config) { c.Mode = ModeFollow })
	r.poll()
	src.mu.Lock()
	src.runs = src.runs[1:]
	src.mu.Unlock()
	r.poll()
	if l := r.logLines("giving up on a run"); len(l) != 1 || !strings.Contains(l[0], "run_id=r1") {
		t.Errorf("give-up lines: %q", l)
	}
	if p := r.e.cp.pending(); len(p) != 0 {
		t.Errorf("runs still pending: %+v", p)
	}
	if r.count("B") != 1 {
		t.Errorf("B shipped %d times", r.count("B"))
	}
}
