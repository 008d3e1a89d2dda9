package digicert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// simRun starts a READY run of the default report on the simulator.
func simRun(t *testing.T, sim *digicertsim.Server, c *Client) Run {
	t.Helper()
	id := sim.Schedule(digicertsim.DefaultReportID)
	run, ok, err := c.findRun(context.Background(), digicertsim.DefaultReportID, id)
	if err != nil || !ok {
		t.Fatalf("run %s not in history: %v", id, err)
	}
	return run
}

// TestSimBadRowsCostOnlyThemselves: each kind of malformed row the
// simulator can insert, in a plain body and in a ZIP, leaves every true row
// of the run readable; repairable rows come out repaired and valid.
func TestSimBadRowsCostOnlyThemselves(t *testing.T) {
	for _, zipped := range []bool{false, true} {
		for _, kind := range digicertsim.BadRowKinds {
			name := kind
			if zipped {
				name += "/zip"
			}
			t.Run(name, func(t *testing.T) {
				cfg := digicertsim.Config{Seed: 3, EventsPerHour: 200}
				if zipped {
					cfg.ZipThreshold = 1
				}
				sim, e := newSim(t, cfg, func(o *Options) { o.MaxRowSize = 1 << 20 })
				run := simRun(t, sim, e.c)
				sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultBadRow, Row: kind, AfterRows: 7, Size: 2 << 20})
				rs, err := e.c.Open(context.Background(), run)
				if err != nil {
					t.Fatal(err)
				}
				defer rs.Close()
				var rows [][]byte
				bad := 0
				for rs.Next() {
					if bytes.Contains(rs.Row(), []byte(digicertsim.BadRowAction)) {
						bad++
						checkRow(t, rs.Row())
						continue
					}
					rows = append(rows, bytes.Clone(rs.Row()))
				}
				if err := rs.Err(); err != nil {
					t.Fatal(err)
				}
				want := sim.RunEvents(run.RunID)
				if len(rows) != len(want) || len(want) < 10 {
					t.Fatalf("read %d true rows, the run has %d", len(rows), len(want))
				}
				for i := range rows {
					if !bytes.Equal(rows[i], want[i].JSON) {
						t.Fatalf("row %d differs", i)
					}
				}
				st := rs.Stats()
				repairable := kind == digicertsim.BadRowUTF8 || kind == digicertsim.BadRowControl
				if (repairable && (bad != 1 || st.Repaired() != 1)) || (!repairable && (bad != 0 || st.Skipped() != 1)) {
					t.Fatalf("bad rows shipped %d, stats %+v", bad, st)
				}
				if n := strings.Count(e.logs.String(), "malformed rows in the report"); n != 1 {
					t.Fatalf("%d warnings, want 1:\n%s", n, e.logs)
				}
			})
		}
	}
}

// TestDownloadTimeout: a server trickling the body keeps every read within
// request_timeout, but the whole download is cut at download_timeout and the
// attempt fails with a message naming the key.
func TestDownloadTimeout(t *testing.T) {
	sim, e := newSim(t, digicertsim.Config{Seed: 3, EventsPerHour: 200}, func(o *Options) {
		o.DownloadTimeout = 400 * time.Millisecond
		o.RequestTimeout = 5 * time.Second
	})
	run := simRun(t, sim, e.c)
	sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultTrickle, Rate: 200})
	start := time.Now()
	_, err := e.c.Open(context.Background(), run)
	if !errors.Is(err, ErrDownloadTimeout) || !strings.Contains(err.Error(), "download_timeout") {
		t.Fatalf("err = %v, want a download timeout naming download_timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	// The next attempt, without the fault, reads the run.
	checkRunRows(t, sim, e.c, run)
}

// TestZipOverlapRefused: a ZIP listing one deflated member 40 times is
// refused, not read 40 times.
func TestZipOverlapRefused(t *testing.T) {
	sim, e := newSim(t, digicertsim.Config{Seed: 3, EventsPerHour: 200})
	run := simRun(t, sim, e.c)
	sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultOverlapZip, Members: 40})
	rows, err := readAllRun(t, e.c, run)
	if err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("read %d rows, err %v; want the archive refused for overlapping entries", len(rows), err)
	}
}

// manyMembers returns name/content pairs of n one-row members.
func manyMembers(n int) []string {
	var files []string
	for i := range n {
		files = append(files, fmt.Sprintf("m%03d.json", i), rowsJSON("x", 1))
	}
	return files
}

// TestCapReaderPartBudget: members share one budget for the part.
func TestCapReaderPartBudget(t *testing.T) {
	budget := int64(150)
	for i, want := range []error{nil, errPartTooLarge} {
		r := &capReader{r: strings.NewReader(strings.Repeat("a", 100)), left: 1000, budget: &budget}
		_, err := io.ReadAll(r)
		if err != want {
			t.Fatalf("member %d: err %v, want %v", i, err, want)
		}
	}
}

// TestHistoryRepeatedPageStops: a server that ignores offset and claims a
// huge total is read once more, not page after page.
func TestHistoryRepeatedPageStops(t *testing.T) {
	for _, withRuns := range []bool{true, false} {
		var c counter
		recs := []map[string]any{}
		for i := range 5 {
			r := rec("rep", "", StatusScheduled, "")
			if withRuns {
				r = rec("rep", "run-"+string(rune('a'+i)), StatusReady, "2025-02-06 10:00:0"+string(rune('0'+i)))
			}
			r["report_display_name"] = "r" + string(rune('a'+i))
			recs = append(recs, r)
		}
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.add(r)
			writeJSON(w, 200, map[string]any{"page": map[string]int{"total": 1000000, "limit": 5, "offset": 0}, "report_history": recs})
		}))
		runs, err := e.c.History(context.Background(), HistoryQuery{ReportID: "rep"})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(c.requests()); n != 2 || (withRuns && len(runs) != 5) {
			t.Fatalf("with runs %v: %d requests, %d runs; want 2 requests", withRuns, n, len(runs))
		}
	}
	// Through the simulator: the listing is still complete.
	sim, e := newSim(t, digicertsim.Config{Seed: 3})
	run := simRun(t, sim, e.c)
	sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultRepeatPage, Times: 1000})
	runs, err := e.c.History(context.Background(), HistoryQuery{ReportID: digicertsim.DefaultReportID})
	if err != nil || len(runs) == 0 || runs[len(runs)-1].RunID != run.RunID {
		t.Fatalf("runs %v, err %v", runIDs(runs), err)
	}
	if n := sim.PendingFaults(); n != 1 {
		t.Fatalf("fault left: %d", n)
	}
}

// TestPlainHTTPRefused: plain http is accepted on loopback only, unless
// AllowInsecureHTTP, which warns.
func TestPlainHTTPRefused(t *testing.T) {
	for _, tt := range []struct {
		base  string
		allow bool
		ok    bool
		warn  bool
	}{
		{"http://digicert-sim:8080", false, false, false},
		{"http://10.0.0.5", false, false, false},
		{"http://digicert-sim:8080", true, true, true},
		{"http://127.0.0.1:8080", false, true, false},
		{"http://[::1]:8080", false, true, false},
		{"http://localhost:8080", false, true, false},
		{"https://api.digicert.com", false, true, false},
	} {
		var logs syncBuffer
		_, err := New(Options{APIKey: testKey, BaseURL: tt.base, AllowInsecureHTTP: tt.allow, Logger: slogTo(&logs)})
		if (err == nil) != tt.ok {
			t.Errorf("%s allow %v: err %v", tt.base, tt.allow, err)
		}
		if err != nil && !strings.Contains(err.Error(), "allow_insecure_http") {
			t.Errorf("%s: error %q does not name allow_insecure_http", tt.base, err)
		}
		if warned := strings.Contains(logs.String(), "unencrypted"); warned != tt.warn {
			t.Errorf("%s allow %v: warned %v, want %v", tt.base, tt.allow, warned, tt.warn)
		}
	}
}

func slogTo(w *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
