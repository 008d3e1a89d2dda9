package digicert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// These tests run the client against the independent simulator
// (digicertsim) over real HTTP. The client runs on a fake clock; the
// simulator's runs progress by history polls (ReadyAfterPolls), so nothing
// sleeps.

const viewOnlyKey = "VIEWONLY-5ecr3t-0a1b2c3d"

var simWait = WaitOptions{PollInterval: 5 * time.Second, Timeout: 2 * time.Minute}

func newSim(t *testing.T, cfg digicertsim.Config, tweak ...func(*Options)) (*digicertsim.Server, *env) {
	t.Helper()
	cfg.APIKey = testKey
	cfg.ViewOnlyKeys = []string{viewOnlyKey}
	if cfg.Backlog == 0 {
		cfg.Backlog = 24 * time.Hour
	}
	sim := digicertsim.New(cfg)
	return sim, newEnv(t, sim, tweak...)
}

// readAll reads every row of run, checking each against encoding/json.
func readAllRun(t *testing.T, c *Client, run Run) ([][]byte, error) {
	t.Helper()
	rs, err := c.Open(context.Background(), run)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var rows [][]byte
	for rs.Next() {
		rows = append(rows, bytes.Clone(rs.Row()))
	}
	return rows, rs.Err()
}

// checkRunRows compares the rows of run with the simulator's ground truth:
// same bytes, same order, same event times.
func checkRunRows(t *testing.T, sim *digicertsim.Server, c *Client, run Run) int {
	t.Helper()
	rows, err := readAllRun(t, c, run)
	if err != nil {
		t.Fatalf("reading run %s: %v", run.RunID, err)
	}
	want := sim.RunEvents(run.RunID)
	if len(want) == 0 {
		t.Fatalf("the simulator has no rows for run %s", run.RunID)
	}
	if len(rows) != len(want) {
		t.Fatalf("read %d rows, the run has %d", len(rows), len(want))
	}
	for i := range rows {
		if !bytes.Equal(rows[i], want[i].JSON) {
			t.Fatalf("row %d differs:\n got %s\nwant %s", i, rows[i], want[i].JSON)
		}
		ts, err := Row(rows[i]).EventTime()
		if err != nil || !ts.Equal(want[i].Time) {
			t.Fatalf("row %d event time %v, %v; want %v", i, ts, err, want[i].Time)
		}
	}
	return len(rows)
}

func TestSimRunReport(t *testing.T) {
	tests := []struct {
		name      string
		cfg       digicertsim.Config
		wantParts int
	}{
		{"plain body, id in the POST answer", digicertsim.Config{Seed: 1, EventsPerHour: 40, ReturnRunIDOnPost: true, ReadyAfterPolls: 2}, 1},
		{"zipped, id only by set difference, lagging history", digicertsim.Config{Seed: 2, EventsPerHour: 200, ZipThreshold: 16 << 10, HistoryLag: 2, ReadyAfterPolls: 3, PostStatus: 200}, 1},
		{"split into parts of ZIPs with several members, sniffed", digicertsim.Config{
			Seed: 3, EventsPerHour: 150, SplitRows: 1000, ZipMembers: 3, ZipReadme: true, ZipContentType: "application/octet-stream",
			DateFormat: digicertsim.DateFormatNumeric, HistoryOrder: digicertsim.OrderShuffled, HistoryMaxLimit: 7, ReadyAfterPolls: 1,
		}, 4},
		{"oldest-first history without scheduled records", digicertsim.Config{Seed: 4, EventsPerHour: 30, HistoryOrder: digicertsim.OrderOldestFirst, NoScheduledEntries: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, e := newSim(t, tt.cfg)
			ctx := context.Background()
			info, err := e.c.Report(ctx, digicertsim.DefaultReportID)
			if err != nil || !info.HasFormat("JSON") || info.ReportType != "audit-logs" {
				t.Fatalf("Report = %+v, %v", info, err)
			}
			runs, err := e.c.RunReport(ctx, digicertsim.DefaultReportID, simWait)
			if err != nil || len(runs) != 1 {
				t.Fatalf("RunReport = %+v, %v", runs, err)
			}
			if runs[0].Parts() != tt.wantParts {
				t.Errorf("run has %d parts, want %d", runs[0].Parts(), tt.wantParts)
			}
			n := checkRunRows(t, sim, e.c, runs[0])
			t.Logf("run %s: %d rows in %d parts", runs[0].RunID, n, runs[0].Parts())
			if tt.wantParts > 1 {
				var seqs []string
				for _, r := range sim.Requests() {
					if strings.HasSuffix(r.Path, "/download") {
						seqs = append(seqs, r.Query)
					}
				}
				if len(seqs) != tt.wantParts || !strings.Contains(seqs[tt.wantParts-1], fmt.Sprintf("split_report_sequence=%d", tt.wantParts-1)) {
					t.Errorf("downloads %v, want one per part", seqs)
				}
			}
			// The next poll starts another run (the simulator's clock moved
			// on) and the first one is not reported again.
			sim.Advance(time.Hour)
			again, err := e.c.RunReport(ctx, digicertsim.DefaultReportID, simWait)
			if err != nil || len(again) != 1 || again[0].RunID == runs[0].RunID {
				t.Fatalf("second RunReport = %+v, %v", again, err)
			}
			for _, r := range sim.Requests() {
				if r.KeyKind != "full" {
					t.Fatalf("request %s %s sent key kind %q", r.Method, r.Path, r.KeyKind)
				}
			}
		})
	}
}

func TestSimFollowMode(t *testing.T) {
	sim, e := newSim(t, digicertsim.Config{Seed: 5, EventsPerHour: 20}, func(o *Options) { o.APIKey = viewOnlyKey })
	ctx := context.Background()
	rep := digicertsim.DefaultReportID

	_, err := e.c.StartRun(ctx, rep)
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "mode follow") {
		t.Fatalf("StartRun with a View Only key = %v, want ErrPermission naming mode follow", err)
	}
	seen, err := e.c.ReadyRunsAfter(ctx, rep, "")
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	if len(seen) > 0 {
		last = seen[len(seen)-1].RunID
	}
	sim.Advance(time.Hour)
	first := sim.Schedule(rep)
	sim.Advance(time.Hour)
	second := sim.Schedule(rep)
	runs, err := e.c.ReadyRunsAfter(ctx, rep, last)
	if err != nil {
		t.Fatal(err)
	}
	if got := runIDs(runs); len(got) != 2 || got[0] != first || got[1] != second {
		t.Fatalf("ReadyRunsAfter(%q) = %v, want [%s %s]", last, got, first, second)
	}
	for _, r := range runs {
		checkRunRows(t, sim, e.c, r)
	}
	if runs, _ := e.c.ReadyRunsAfter(ctx, rep, second); len(runs) != 0 {
		t.Fatalf("runs after the newest: %v", runIDs(runs))
	}
}

func TestSimConfigErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong key", func(t *testing.T) {
		_, e := newSim(t, digicertsim.Config{Seed: 6}, func(o *Options) { o.APIKey = "WRONG-key-123" })
		_, err := e.c.Report(ctx, digicertsim.DefaultReportID)
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "DigiCert rejected the API key (access_denied_invalid_key): check api_key/api_key_file") {
			t.Fatalf("err = %v", err)
		}
	})
	_, e := newSim(t, digicertsim.Config{Seed: 6})
	t.Run("unknown report", func(t *testing.T) {
		_, err := e.c.Report(ctx, "00000000-0000-0000-0000-000000000000")
		if !errors.Is(err, ErrReportNotFound) || !strings.Contains(err.Error(), "report 00000000-0000-0000-0000-000000000000 not found: check report_id") {
			t.Fatalf("Report: %v", err)
		}
		_, err = e.c.RunReport(ctx, "00000000-0000-0000-0000-000000000000", simWait)
		if !errors.Is(err, ErrReportNotFound) {
			t.Fatalf("RunReport: %v", err)
		}
	})
	t.Run("unknown run", func(t *testing.T) {
		_, err := e.c.Open(ctx, Run{ReportID: digicertsim.DefaultReportID, RunID: "gone"})
		if !errors.Is(err, ErrRunNotFound) {
			t.Fatalf("Open: %v", err)
		}
	})
}

func TestSimFaults(t *testing.T) {
	rep := digicertsim.DefaultReportID
	tests := []struct {
		name    string
		cfg     digicertsim.Config
		faults  []digicertsim.Fault
		minWait time.Duration // the client slept at least this long in total
		wantErr error
		posts   int
	}{
		{"429 without Retry-After on history", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultRateLimit, Path: "/history", Times: 2}}, 15 * time.Second, nil, 1},
		{"429 with Retry-After on the POST", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultRateLimit, Method: "POST", RetryAfter: "3"}}, 3 * time.Second, nil, 1},
		{"5xx burst on the body", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultStatus, Path: "/json", Status: 502, Times: 3}}, 0, nil, 1},
		{"500 with a JSON body on history", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultStatus, Path: "/history", Status: 500, Times: 2}}, 0, nil, 1},
		{"connection resets on history", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultReset, Path: "/history", Times: 3}}, 0, nil, 1},
		{"body dropped mid-way", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultTruncate, Path: "/json", After: 500, Abort: true}}, 0, nil, 1},
		{"well-formed but truncated ZIP", digicertsim.Config{ZipThreshold: 8 << 10}, []digicertsim.Fault{{Kind: digicertsim.FaultTruncate, Path: "/json", After: 4000}}, 0, nil, 1},
		{"503 on the POST: history read, POST resent", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultStatus, Method: "POST", Status: 503}}, 0, nil, 1},
		{"run FAILED", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultFailRun}}, 0, &RunFailedError{}, 1},
		{"run stuck GENERATING", digicertsim.Config{}, []digicertsim.Fault{{Kind: digicertsim.FaultStuckRun}}, 2 * time.Minute, ErrWaitTimeout, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Seed, cfg.EventsPerHour, cfg.ReadyAfterPolls = 7, 60, 2
			sim, e := newSim(t, cfg)
			for _, f := range tt.faults {
				sim.Inject(f)
			}
			runs, err := e.c.RunReport(context.Background(), rep, simWait)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil || len(runs) != 1 {
					t.Fatalf("RunReport = %v, %v", runIDs(runs), err)
				}
				checkRunRows(t, sim, e.c, runs[0])
			case *RunFailedError:
				if !errors.As(err, &want) {
					t.Fatalf("err = %v, want *RunFailedError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			if sim.PendingFaults() != 0 {
				t.Errorf("%d injected faults were never hit", sim.PendingFaults())
			}
			var total time.Duration
			for _, d := range e.clock.Sleeps() {
				total += d
			}
			if total < tt.minWait {
				t.Errorf("slept %s in total, want at least %s", total, tt.minWait)
			}
			manual := 0
			for _, r := range sim.Runs() {
				if r.ManuallyTriggered && r.ReportID == rep {
					manual++
				}
			}
			if manual != tt.posts {
				t.Errorf("%d runs started, want %d", manual, tt.posts)
			}
		})
	}
}

func TestSimRejectsPostWhileGenerating(t *testing.T) {
	rep := digicertsim.DefaultReportID
	sim, e := newSim(t, digicertsim.Config{Seed: 8, EventsPerHour: 30, RejectPostWhileGenerating: true, ReadyAfterPolls: 3})
	scheduled := sim.Schedule(rep) // GENERATING for the next 3 history polls
	t.Run("StartRun follows the generating run", func(t *testing.T) {
		got, err := e.c.StartRun(context.Background(), rep)
		if err != nil || len(got.RunIDs) != 1 || got.RunIDs[0] != scheduled {
			t.Fatalf("StartRun = %+v, %v; want the scheduled run %s", got, err, scheduled)
		}
	})
	t.Run("RunReport waits for it instead of starting one", func(t *testing.T) {
		sim.Advance(time.Hour)
		next := sim.Schedule(rep)
		runs, err := e.c.RunReport(context.Background(), rep, simWait)
		if err != nil || len(runs) != 1 || runs[0].RunID != next {
			t.Fatalf("RunReport = %v, %v; want [%s]", runIDs(runs), err, next)
		}
		checkRunRows(t, sim, e.c, runs[0])
		for _, r := range sim.Requests() {
			if r.Method == "POST" && r.Status < 300 {
				t.Fatalf("a run was started: %+v", r)
			}
		}
	})
}
