package digicertin

import (
	"fmt"
	"os"
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
	// Only emitted rows were encoded to msgpack: a row shipped before
	// costs its identity and a ledger lookup.
	if r.e.p.encoded != len(r.recs) {
		t.Errorf("%d rows encoded for %d emitted", r.e.p.encoded, len(r.recs))
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

// Several READY runs are shipped in one poll while Fluent Bit is paused, so
// the rows of the first run are still queued (not released) when the next
// run is read: the ledger must count queued rows too, or they go out twice.
func TestFollowRunsQueuedBeforeRelease(t *testing.T) {
	sc := defaultSim()
	sc.ViewOnlyKeys = []string{"VIEWONLY-k3y-1234"}
	r := newRig(t, sc, func(c *Config) { c.Mode = ModeFollow; c.BufferSize = 16 << 20 })
	r.key = "VIEWONLY-k3y-1234"
	r.restart() // a client with the View Only key
	for range 3 {
		r.sim.Advance(2 * time.Hour)
		if r.sim.Schedule(digicertsim.DefaultReportID) == "" {
			t.Fatal("Schedule failed")
		}
	}
	r.e.Pause()
	r.poll()
	if len(r.recs) != 0 {
		t.Fatal("Collect handed out rows while paused")
	}
	r.e.Resume()
	for r.collect() > 0 {
	}
	if n := len(r.logLines("run shipped")); n != 3 {
		t.Fatalf("%d runs shipped, want 3", n)
	}
	r.assertExactlyOnce()
	for _, q := range r.sim.Requests() {
		if q.Method != "GET" {
			t.Fatalf("follow mode sent %s %s", q.Method, q.Path)
		}
	}
}

// Follow mode through the real client: a proxy's HTML 404 page on a freshly
// listed READY run's download is retried at the next poll, not taken for a
// run aged out of retention.
func TestFollowProxy404Retried(t *testing.T) {
	sc := defaultSim()
	r := newRig(t, sc, func(c *Config) { c.Mode = ModeFollow })
	r.sim.Advance(2 * time.Hour)
	r.sim.Schedule(digicertsim.DefaultReportID)
	r.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultStatus, Status: 404, Path: "/json", Times: 1})
	r.poll()
	if len(r.recs) != 0 || r.sim.PendingFaults() != 0 {
		t.Fatalf("the 404 was not served: %d rows shipped", len(r.recs))
	}
	r.poll()
	r.assertExactlyOnce()
}

// Restarting from the checkpoint (a new Engine on the same state file)
// neither repeats nor skips rows, in both modes.
func TestRestartFromCheckpoint(t *testing.T) {
	for _, mode := range []Mode{ModeRun, ModeFollow} {
		t.Run(string(mode), func(t *testing.T) {
			r := newRig(t, defaultSim(), func(c *Config) { c.Mode = mode })
			step := func() {
				r.sim.Advance(2 * time.Hour)
				if mode == ModeFollow {
					r.sim.Schedule(digicertsim.DefaultReportID)
				}
				r.poll()
			}
			for range 3 {
				step()
			}
			r.restart()
			if l := r.logLines("checkpoint loaded"); !strings.Contains(l[len(l)-1], "watermark=2025-02-06T0") {
				t.Errorf("restart did not load the watermark: %v", l)
			}
			for range 3 {
				step()
			}
			r.assertExactlyOnce()
		})
	}
}

// pollThenStop runs a poll, lets Fluent Bit take `batches` batches, then
// stops the engine while the poller is still queueing the run.
func (r *rig) pollThenStop(batches int) {
	r.t.Helper()
	done := make(chan time.Duration, 1)
	go func() { done <- r.e.safeCycle(r.ctx) }()
	for got := 0; got < batches; {
		if r.collect() > 0 {
			got++
			continue
		}
		select {
		case <-done:
			r.t.Fatal("the run ended before the stop; make it larger")
		case <-time.After(200 * time.Microsecond):
		}
	}
	r.stop()
	<-done
}

// A stop in the middle of a run: run mode resumes the same READY run, follow
// mode lists it again (its last run stays the previous one); nothing is
// repeated or skipped.
func TestStopMidRunResumes(t *testing.T) {
	for _, mode := range []Mode{ModeRun, ModeFollow} {
		t.Run(string(mode), func(t *testing.T) {
			sc := defaultSim()
			sc.EventsPerHour = 600
			r := newRig(t, sc, func(c *Config) { c.Mode = mode; c.MaxBytesPerCollect = 32 << 10; c.BufferSize = 64 << 10 })
			r.sim.Advance(3 * time.Hour)
			if mode == ModeFollow {
				r.sim.Schedule(digicertsim.DefaultReportID)
			}
			r.poll()
			r.sim.Advance(2 * time.Hour)
			if mode == ModeFollow {
				r.sim.Schedule(digicertsim.DefaultReportID)
			}
			r.pollThenStop(3)
			r.open()
			r.poll()
			if mode == ModeRun && len(r.logLines("resuming the run the last stop interrupted")) != 1 {
				t.Errorf("run mode did not resume the interrupted run:\n%s", r.log)
			}
			r.assertExactlyOnce()
		})
	}
}

// A crash (no Stop, no snapshot) after Fluent Bit took a batch but before its
// Release: after the restart nothing is missing and exactly that one batch
// is repeated — the documented bound. A torn journal tail (the crash hit a
// write) is dropped with a warning.
func TestCrashRepeatsAtMostOneBatch(t *testing.T) {
	sc := defaultSim()
	sc.EventsPerHour = 600
	r := newRig(t, sc, func(c *Config) { c.MaxBytesPerCollect = 32 << 10; c.BufferSize = 64 << 10 })
	r.sim.Advance(3 * time.Hour)
	r.poll()
	r.sim.Advance(2 * time.Hour)

	done := make(chan time.Duration, 1)
	go func() { done <- r.e.safeCycle(r.ctx) }()
	for released := 0; released < 3; {
		if r.collect() > 0 {
			released++
		}
	}
	r.noRelease = true
	for r.collect() == 0 {
	}
	r.noRelease = false
	inFlight := r.lastUnrel
	maxRows := r.cfg.MaxBytesPerCollect / 500 // audit rows are > 500 B of msgpack
	if inFlight == 0 || inFlight > maxRows {
		t.Fatalf("unreleased batch of %d rows", inFlight)
	}
	state := r.cfg.StateFile
	r.crash()
	<-done
	// A torn frame: length says 4 KiB, the crash left 10 bytes.
	f, err := os.OpenFile(state+".journal", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 16, 0, 1, 2, 3, 4, 5, 6})
	f.Close()

	r.open()
	if len(r.logLines("partly written record")) != 1 {
		t.Errorf("torn journal tail not reported:\n%s", r.log)
	}
	r.poll()
	missing, extra, sample := diff(r.got(), r.truth())
	if missing != 0 {
		t.Fatalf("%d rows lost after the crash (%s)", missing, sample)
	}
	// The unreleased batch is the only thing Fluent Bit may see twice.
	if extra != inFlight {
		t.Fatalf("%d rows repeated after the crash; the bound is the %d rows of the unreleased batch (%s)", extra, inFlight, sample)
	}
}

// Failures of every kind abandon the poll without losing rows; the next
// poll (a new run) covers them, and nothing is shipped twice.
func TestFaultsRetriedNothingLost(t *testing.T) {
	cases := []struct {
		name  string
		sim   func(*digicertsim.Config)
		fault digicertsim.Fault
		warn  string // the warning the failed poll logs ("" = the poll recovers by itself)
		cfg   func(*Config)
	}{
		{"failed run", nil, digicertsim.Fault{Kind: digicertsim.FaultFailRun}, "FAILED in DigiCert", nil},
		{"stuck generating", nil, digicertsim.Fault{Kind: digicertsim.FaultStuckRun}, "not READY within wait_timeout", nil},
		{"429 storm", nil, digicertsim.Fault{Kind: digicertsim.FaultRateLimit, Times: 8}, "rate-limiting", nil},
		{"429 with Retry-After", nil, digicertsim.Fault{Kind: digicertsim.FaultRateLimit, Times: 3, RetryAfter: "2"}, "", nil},
		{"5xx burst absorbed", nil, digicertsim.Fault{Kind: digicertsim.FaultStatus, Status: 503, Times: 3}, "", nil},
		{"5xx burst", nil, digicertsim.Fault{Kind: digicertsim.FaultStatus, Status: 502, Times: 9}, "poll failed", nil},
		{"truncated zip", nil, digicertsim.Fault{Kind: digicertsim.FaultTruncate, Path: "/json", Times: 10}, "poll failed", nil},
		{"zip cut mid-body", nil, digicertsim.Fault{Kind: digicertsim.FaultTruncate, Path: "/json", Abort: true, Times: 10}, "poll failed", nil},
		{"json cut mid-stream", func(c *digicertsim.Config) { c.ZipThreshold = 8 << 20 }, digicertsim.Fault{Kind: digicertsim.FaultTruncate, Path: "/json", Times: 2}, "run interrupted", nil},
		{"trickled body", nil, digicertsim.Fault{Kind: digicertsim.FaultTrickle, Rate: 100}, "download_timeout",
			func(c *Config) { c.DownloadTimeout = 300 * time.Millisecond }},
		{"zip bomb of overlapping entries", nil, digicertsim.Fault{Kind: digicertsim.FaultOverlapZip}, "overlap", nil},
		{"history ignoring offset", nil, digicertsim.Fault{Kind: digicertsim.FaultRepeatPage, Times: 4}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := defaultSim()
			if c.sim != nil {
				c.sim(&sc)
			}
			r := newRig(t, sc, c.cfg)
			r.sim.Advance(2 * time.Hour)
			r.poll()
			r.sim.Advance(2 * time.Hour)
			r.sim.Inject(c.fault)
			// A failed poll waits the interval; one the client's retries
			// saved still starts an interval after the previous start.
			if d := r.poll(); d > time.Hour || d < 50*time.Minute {
				t.Errorf("next poll in %v, want about the interval", d)
			}
			if c.warn != "" && len(r.logLines(c.warn)) == 0 {
				t.Fatalf("no %q warning:\n%s", c.warn, r.log)
			}
			if c.warn == "" && len(r.logLines("[warn]")) > 0 && len(r.logLines("run shipped")) != 2 {
				t.Fatalf("the client should have absorbed the fault:\n%s", r.log)
			}
			// Later polls use up what is left of the fault, then succeed.
			for i := 0; ; i++ {
				r.sim.Advance(2 * time.Hour)
				shipped := len(r.logLines("run shipped"))
				r.poll()
				if r.sim.PendingFaults() == 0 && len(r.logLines("run shipped")) > shipped {
					break
				}
				if i == 3 {
					t.Fatalf("polls keep failing:\n%s", r.log)
				}
			}
			r.assertExactlyOnce()
		})
	}
}

// When no memory can be had for a batch in the middle of a run, the poll
// fails with a message saying what to do; the rows queued before ship, and
// the row that could not be queued ships with the rest at the next poll,
// none twice.
func TestNoBatchMemoryNothingLost(t *testing.T) {
	r := newRig(t, defaultSim(), nil)
	mem := newCountingMemory()
	mem.failAfter = 2
	r.e.buf.mem = mem
	r.sim.Advance(2 * time.Hour)
	r.poll()
	if len(r.logLines("no memory for the next batch")) != 1 {
		t.Fatalf("no warning about the batch memory:\n%s", r.log)
	}
	if n, all := len(r.recs), len(r.sim.GroundTruth()); n == 0 || n >= all {
		t.Fatalf("the failed poll shipped %d of %d rows; the test needs a run cut short", n, all)
	}
	mem.failAfter = 0
	r.poll()
	r.assertExactlyOnce()
	if len(mem.live) != 0 {
		t.Errorf("%d batches never freed", len(mem.live))
	}
}

// Split runs are read part by part; every part's rows arrive.
func TestSplitRunsAllParts(t *testing.T) {
	sc := defaultSim()
	sc.SplitRows = 100
	r := newRig(t, sc, nil)
	for range 3 {
		r.sim.Advance(2 * time.Hour)
		r.poll()
	}
	l := r.logLines("run shipped")
	if len(l) != 3 || strings.Contains(l[len(l)-1], "parts=1 ") {
		t.Fatalf("runs were not split: %v", l)
	}
	r.assertExactlyOnce()
}

// start_time bounds the first run: older rows never ship, the rest once.
func TestStartTime(t *testing.T) {
	start := digicertsim.DefaultStart.Add(90 * time.Minute)
	r := newRig(t, defaultSim(), func(c *Config) { c.StartTime = start })
	for range 3 {
		r.sim.Advance(2 * time.Hour)
		r.poll()
	}
	var after []digicertsim.Event
	for _, ev := range r.sim.GroundTruth() {
		if !ev.Time.Before(start) {
			after = append(after, ev)
		}
	}
	if len(after) == len(r.sim.GroundTruth()) {
		t.Fatal("start_time excludes nothing; the test proves nothing")
	}
	if missing, extra, sample := diff(r.got(), eventsSet(t, after)); missing != 0 || extra != 0 {
		t.Fatalf("%d missing, %d extra (%s)", missing, extra, sample)
	}
}

// With a dedup window shorter than the report window, rows below the cutoff
// are skipped without a lookup (and without computing their identity) and
// the ledger forgets them, yet every event still ships exactly once.
func TestDedupWindowPrunes(t *testing.T) {
	r := newRig(t, defaultSim(), func(c *Config) { c.DedupWindow = 2 * time.Hour })
	for range 6 {
		r.sim.Advance(2 * time.Hour)
		r.poll()
	}
	r.assertExactlyOnce()
	if seen, old := r.logSum("run shipped", "rows"), r.logSum("run shipped", "skipped_old"); old == 0 || r.e.p.hashed != seen-old {
		t.Errorf("%d row identities computed for %d rows, %d of them older than the window", r.e.p.hashed, seen, old)
	}
	r.stop() // the final snapshot prunes with everything released
	r.open()
	r.e.cp.mu.Lock()
	known, wm := r.e.cp.led.len(), r.e.cp.led.wm
	var oldest uint32 = 0xFFFFFFFF
	r.e.cp.led.each(func(_ rowHash, e *entry, _ uint8) {
		oldest = min(oldest, e.sec)
	})
	r.e.cp.mu.Unlock()
	if known >= len(r.recs) {
		t.Fatalf("ledger keeps %d of %d rows: nothing pruned", known, len(r.recs))
	}
	if floor := wm - 2*3600; oldest < floor {
		t.Fatalf("ledger keeps a row from %s, older than watermark-window %s", formatSec(oldest), formatSec(floor))
	}
	if l := r.logLines("run shipped"); !strings.Contains(l[0], "skipped_old=") || strings.Contains(strings.Join(l, ""), "skipped_old=0 rows") {
		t.Errorf("run lines: %v", l)
	}
	if len(r.logLines("skipped_old=0 ")) == 6 {
		t.Errorf("no run skipped rows as older than the window:\n%s", r.log)
	}
}

// TestBadRowShipsEveryOtherRow: a malformed row in a run (every kind the
// simulator makes, in plain and zipped bodies) costs at most itself: every
// true event is shipped exactly once, a repaired row once more, and the
// run's log line counts it.
func TestBadRowShipsEveryOtherRow(t *testing.T) {
	for _, zipped := range []bool{false, true} {
		for _, kind := range digicertsim.BadRowKinds {
			t.Run(fmt.Sprintf("%s/zip=%v", kind, zipped), func(t *testing.T) {
				sc := defaultSim()
				if !zipped {
					sc.ZipThreshold = 64 << 20
				}
				r := newRig(t, sc, nil)
				r.maxRow = 1 << 20
				r.restart() // a client with the smaller row cap
				r.sim.Advance(2 * time.Hour)
				r.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultBadRow, Row: kind, AfterRows: 5, Size: 2 << 20})
				r.poll()
				r.sim.Advance(2 * time.Hour)
				r.poll()
				repairable := kind == digicertsim.BadRowUTF8 || kind == digicertsim.BadRowControl
				bad := r.count(digicertsim.BadRowAction)
				if (repairable && bad != 1) || (!repairable && bad != 0) {
					t.Fatalf("%d malformed rows shipped", bad)
				}
				var kept []record
				for _, rec := range r.recs {
					if !strings.Contains(rec.body, digicertsim.BadRowAction) {
						kept = append(kept, rec)
					}
				}
				r.recs = kept
				r.assertExactlyOnce()
				counter := map[string]string{
					digicertsim.BadRowUTF8: "repaired_utf8=1", digicertsim.BadRowControl: "repaired_control=1",
					digicertsim.BadRowOversize: "skipped_oversize=1", digicertsim.BadRowDeep: "skipped_depth=1",
					digicertsim.BadRowGarbage: "skipped_unparseable=1",
				}[kind]
				if n := len(r.logLines(counter)); n != 1 {
					t.Fatalf("%d run lines with %s:\n%s", n, counter, r.log)
				}
				if n := len(r.logLines("malformed rows in the report")); n != 1 {
					t.Fatalf("%d warnings:\n%s", n, r.log)
				}
				if m := r.e.MalformedRows(); m.Repaired()+m.Skipped() != 1 || m.First == nil || !strings.Contains(counter, m.First.Kind.String()) {
					t.Fatalf("engine counts %+v, want one %s", m, counter)
				}
			})
		}
	}
}

// Release does not commit: Fluent Bit may still hold a released batch only
// in its ring buffer (moved into a chunk every 250 ms), so a kill right after
// the cleanup callback must re-send the batch rather than lose it. The next
// Collect, a second later, commits it; so does a clean Stop.
func TestReleasedBatchCommitsAtNextCollect(t *testing.T) {
	for _, c := range []struct {
		name       string
		afterRel   func(r *rig)
		wantResent bool
	}{
		{"kill right after the cleanup callback", func(r *rig) {}, true},
		{"kill after the next collect", func(r *rig) { r.collect() }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := newFakeSource()
			src.add("r1", row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:00:01", "B"))
			r := newFakeRig(t, src, nil)
			r.releaseAfterCycle = true // the rig releases once the cycle is over...
			done := make(chan time.Duration, 1)
			go func() { done <- r.e.safeCycle(r.ctx) }()
			<-done
			data, id := collect(r.e)
			if id == 0 || len(data) == 0 {
				t.Fatal("nothing to collect after the run")
			}
			r.e.Release(id) // ...here, as Fluent Bit's cleanup callback does
			c.afterRel(r)
			r.crash()
			r.open()
			r.releaseAfterCycle = false
			r.recs = nil
			src.add("r2", row("06-Feb-2025 10:00:02", "C"))
			r.poll()
			resent := 0
			for _, rec := range r.recs {
				if !strings.Contains(rec.body, `"C"`) {
					resent++
				}
			}
			if c.wantResent && resent != 2 {
				t.Errorf("after a kill right after Release: %d of 2 rows sent again, want 2 (a lost batch would be 0)", resent)
			}
			if !c.wantResent && resent != 0 {
				t.Errorf("after the next Collect committed the batch: %d rows sent again, want 0", resent)
			}
		})
	}
}
