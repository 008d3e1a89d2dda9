package digicertsim

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestHistoryPaging(t *testing.T) {
	for _, order := range []string{OrderNewestFirst, OrderOldestFirst, OrderShuffled} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, Config{HistoryOrder: order, Seed: 3})
			for i := 0; i < 20; i++ {
				h.post(DefaultReportID)
				h.sim.Advance(time.Minute)
			}
			all := h.history("limit=200")
			// 20 posted + 6 seeded runs + 4 SCHEDULED records.
			if all.Page.Total != 30 || len(all.ReportHistory) != 30 {
				t.Fatalf("total %d, got %d", all.Page.Total, len(all.ReportHistory))
			}
			for _, limit := range []int{1, 7, 30} {
				var paged []histRun
				for off := 0; ; off += limit {
					p := h.history(fmt.Sprintf("offset=%d&limit=%d", off, limit))
					if p.Page.Offset != off || p.Page.Limit != limit || p.Page.Total != 30 {
						t.Fatalf("page %+v at offset %d limit %d", p.Page, off, limit)
					}
					if len(p.ReportHistory) == 0 {
						break
					}
					paged = append(paged, p.ReportHistory...)
				}
				if len(paged) != 30 {
					t.Fatalf("limit %d: %d entries", limit, len(paged))
				}
				for i := range paged {
					if key(paged[i]) != key(all.ReportHistory[i]) {
						t.Fatalf("limit %d: entry %d differs from the single page", limit, i)
					}
				}
			}
		})
	}
}

func key(e histRun) string {
	id := "<none>"
	if e.RunID != nil {
		id = *e.RunID
	}
	return e.ReportID + "/" + id + "/" + e.Status
}

func TestHistoryParams(t *testing.T) {
	h := newHarness(t, Config{HistoryMaxLimit: 50})
	if p := h.history("limit=1000"); p.Page.Limit != 50 {
		t.Fatalf("limit not capped: %+v", p.Page)
	}
	if p := h.history("offset=500"); len(p.ReportHistory) != 0 || p.Page.Total == 0 {
		t.Fatalf("offset past the end: %+v, %d entries", p.Page, len(p.ReportHistory))
	}
	for _, q := range []string{"offset=-1", "limit=0", "limit=abc", "offset=x"} {
		if st, _, b := h.get("/reports/v1/report/history?" + q); st != 400 {
			t.Fatalf("%s: %d %s", q, st, b)
		}
	}
}

func TestHistoryContent(t *testing.T) {
	h := newHarness(t, Config{GenerateDelay: time.Minute})
	h.sim.Advance(time.Hour)
	gen := h.post(DefaultReportID)
	tests := []struct {
		name, query string
		check       func(e histRun) bool
		min         int
	}{
		{"status list", "status=READY,FAILED", func(e histRun) bool { return e.Status == StatusReady || e.Status == StatusFailed }, 5},
		{"generating", "status=GENERATING", func(e histRun) bool { return e.Status == StatusGenerating && *e.RunID == gen }, 1},
		{"type", "report_type=orders", func(e histRun) bool { return e.ReportType == "orders" }, 2},
		{"type list", "report_type=orders,domains", func(e histRun) bool { return e.ReportType == "orders" || e.ReportType == "domains" }, 4},
		{"scheduled", "status=SCHEDULED", func(e histRun) bool { return e.RunID == nil || *e.RunID == "" }, 4},
		{"search", "search=SECURITY", func(e histRun) bool { return e.ReportType == "audit-logs" }, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := h.history(tc.query)
			if len(p.ReportHistory) < tc.min || p.Page.Total != len(p.ReportHistory) {
				t.Fatalf("%d entries (total %d), want at least %d", len(p.ReportHistory), p.Page.Total, tc.min)
			}
			for _, e := range p.ReportHistory {
				if !tc.check(e) {
					t.Fatalf("unexpected entry %+v", e)
				}
			}
		})
	}
	all := h.history("")
	types, odd, noID := map[string]bool{}, 0, 0
	last := "9999"
	for _, e := range all.ReportHistory {
		if e.StartDate != nil {
			if *e.StartDate > last {
				t.Fatalf("default order is not newest first: %s after %s", *e.StartDate, last)
			}
			last = *e.StartDate
		}
		types[e.ReportType] = true
		if e.RunID == nil || *e.RunID == "" {
			noID++
			continue
		}
		if !uuidRE.MatchString(*e.RunID) {
			odd++
		}
		start, err := time.Parse(histTime, *e.StartDate)
		if err != nil {
			t.Fatal(err)
		}
		if created, _ := time.Parse(histTime, e.CreatedDate); start.Sub(created) != 7*time.Hour {
			t.Fatalf("created_date %s vs start %s", e.CreatedDate, *e.StartDate)
		}
		if (e.EndDate == nil) != (e.Status == StatusGenerating) {
			t.Fatalf("end date %v with status %s", e.EndDate, e.Status)
		}
	}
	if len(types) < 3 || odd == 0 || noID == 0 {
		t.Fatalf("history lacks variety: types %v, odd ids %d, entries without id %d", types, odd, noID)
	}
}

func TestHistoryLagAndSchedule(t *testing.T) {
	h := newHarness(t, Config{HistoryLag: 2})
	id := h.sim.Schedule(DefaultReportID)
	if id == "" || h.sim.Schedule("unknown") != "" {
		t.Fatal("Schedule: unexpected ids")
	}
	for i, want := range []string{"", "", StatusReady} {
		if got := h.statusOf(id); got != want {
			t.Fatalf("poll %d: status %q, want %q", i, got, want)
		}
	}
	for _, e := range h.history("").ReportHistory {
		if e.RunID != nil && *e.RunID == id && e.ManuallyTriggered {
			t.Fatal("scheduled run marked manually_triggered")
		}
	}
}

func TestRejectPostWhileGenerating(t *testing.T) {
	h := newHarness(t, Config{GenerateDelay: time.Minute, RejectPostWhileGenerating: true})
	h.post(DefaultReportID)
	st, _, b := h.do("POST", "/reports/v1/report/"+DefaultReportID+"/run", testKey)
	if st != 400 {
		t.Fatalf("second POST while generating: %d %s", st, b)
	}
	h.sim.Advance(time.Minute)
	h.post(DefaultReportID)
}
