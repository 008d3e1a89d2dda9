package digicert

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// manyRuns builds n READY records of report "rep", oldest first, plus one
// record of another report and one scheduled record without a run id
// after every tenth.
func manyRuns(n int) []map[string]any {
	var recs []map[string]any
	for i := 0; i < n; i++ {
		recs = append(recs, rec("rep", fmt.Sprintf("run-%03d", i), StatusReady, fmt.Sprintf("2025-01-01 00:%02d:%02d", i/60, i%60)))
		if i%10 == 0 {
			recs = append(recs, rec("other", fmt.Sprintf("other-%03d", i), StatusReady, "2025-01-01 00:00:00"))
			sched := rec("rep", "", StatusScheduled, "")
			delete(sched, "report_run_identifier")
			recs = append(recs, sched)
		}
	}
	return recs
}

func TestHistoryPaging(t *testing.T) {
	all := manyRuns(250)
	tests := []struct {
		name    string
		serve   func(w http.ResponseWriter, r *http.Request)
		want    int
		maxReqs int
	}{
		{"server honours limit 100", func(w http.ResponseWriter, r *http.Request) { servePage(w, r, all, 0) }, 250, 4},
		{"server caps pages at 30", func(w http.ResponseWriter, r *http.Request) { servePage(w, r, all, 30) }, 250, 11},
		{"server ignores offset", func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			q.Set("offset", "0")
			r.URL.RawQuery = q.Encode()
			servePage(w, r, all, 0)
		}, 82, 2},
		{"no page.total: stop at the empty page", func(w http.ResponseWriter, r *http.Request) {
			rec := httptestRecorder(func(w http.ResponseWriter) { servePage(w, r, all, 0) })
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(strings.Replace(rec, `"total":`, `"ignored":`, 1)))
		}, 250, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n counter
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.add(r)
				tt.serve(w, r)
			}))
			runs, err := e.c.History(context.Background(), HistoryQuery{ReportID: "rep"})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != tt.want {
				t.Fatalf("%d runs, want %d", len(runs), tt.want)
			}
			for i, r := range runs {
				if r.ReportID != "rep" || r.RunID == "" {
					t.Fatalf("run %d = %+v: wrong report or no run id", i, r)
				}
				if i > 0 && runs[i-1].StartDate > r.StartDate {
					t.Fatalf("runs not oldest first at %d", i)
				}
			}
			if got := n.get("GET /reports/v1/report/history"); got > tt.maxReqs {
				t.Errorf("%d requests, want at most %d", got, tt.maxReqs)
			}
			for _, req := range n.requests() {
				if !strings.Contains(req, "limit=100") {
					t.Errorf("request %s does not ask for 100 per page", req)
				}
			}
		})
	}
}

// httptestRecorder captures what f writes as a body.
func httptestRecorder(f func(w http.ResponseWriter)) string {
	rec := &bodyRecorder{h: http.Header{}}
	f(rec)
	return rec.b.String()
}

type bodyRecorder struct {
	h http.Header
	b strings.Builder
}

func (r *bodyRecorder) Header() http.Header         { return r.h }
func (r *bodyRecorder) Write(p []byte) (int, error) { return r.b.Write(p) }
func (r *bodyRecorder) WriteHeader(int)             {}

func TestHistoryFiltersAndFields(t *testing.T) {
	var n counter
	recs := []map[string]any{
		rec("rep", "a", StatusReady, "2025-01-01 10:00:00"),
		rec("rep", "b", "generating", "2025-01-01 11:00:00"),
		rec("rep", "c", StatusFailed, "2025-01-01 12:00:00"),
		rec("other", "d", StatusReady, "2025-01-01 13:00:00"),
	}
	recs[0]["split_report_count"] = "3"
	recs[0]["manually_triggered"] = "false"
	recs[0]["format"] = "JSON"
	recs[1]["report_type"] = "orders"
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.add(r)
		servePage(w, r, recs, 0) // ignores the status filter: the client re-checks
	}))
	runs, err := e.c.History(context.Background(), HistoryQuery{ReportID: "rep", Statuses: []string{StatusReady, StatusGenerating}, ReportType: "audit-logs", PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{{ReportID: "rep", RunID: "a", DisplayName: "Audit", ReportType: "audit-logs", Status: StatusReady, Schedule: "ON_DEMAND",
		CreatedDate: "2025-01-01 10:00:00", StartDate: "2025-01-01 10:00:00", EndDate: "2025-01-01 10:00:00",
		Format: []string{"JSON"}, SplitReportCount: 3}}
	if !reflect.DeepEqual(runs, want) {
		t.Fatalf("runs = %+v\nwant   %+v", runs, want)
	}
	if runs[0].Parts() != 3 || (Run{}).Parts() != 1 {
		t.Error("Parts() is wrong")
	}
	req := n.requests()[0]
	for _, p := range []string{"status=READY%2CGENERATING", "report_type=audit-logs", "limit=100", "offset=0"} {
		if !strings.Contains(req, p) {
			t.Errorf("request %s lacks %s", req, p)
		}
	}
}

func TestHistorySortRejected(t *testing.T) {
	var n counter
	recs := []map[string]any{rec("rep", "a", StatusReady, "2025-01-01 10:00:00")}
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.add(r)
		if r.URL.Query().Has("sort_by") {
			dcError(w, 400, "invalid_sort", "sort_by is not allowed")
			return
		}
		servePage(w, r, recs, 0)
	}))
	for i := 0; i < 2; i++ {
		runs, err := e.c.History(context.Background(), HistoryQuery{ReportID: "rep"})
		if err != nil || len(runs) != 1 {
			t.Fatalf("call %d: %v, %v", i, runs, err)
		}
	}
	reqs := n.requests()
	if len(reqs) != 3 || !strings.Contains(reqs[0], "sort_by=report_start_date") || strings.Contains(reqs[1], "sort") || strings.Contains(reqs[2], "sort") {
		t.Fatalf("requests %q: want one sorted attempt, then unsorted ones only", reqs)
	}
}

func TestSortRuns(t *testing.T) {
	r := func(id, start, created string) Run { return Run{RunID: id, StartDate: start, CreatedDate: created} }
	tests := []struct {
		name string
		in   []Run
		want []string
	}{
		{"ascending stays", []Run{r("a", "2025-01-01 01:00:00", ""), r("b", "2025-01-01 02:00:00", "")}, []string{"a", "b"}},
		{"newest first is reversed", []Run{r("c", "2025-01-03 00:00:00", ""), r("b", "2025-01-02 00:00:00", ""), r("a", "2025-01-01 00:00:00", "")}, []string{"a", "b", "c"}},
		{"ties keep listing order (ascending listing)", []Run{r("a", "2025-01-01 00:00:00", ""), r("b", "2025-01-02 00:00:00", ""), r("c", "2025-01-02 00:00:00", "")}, []string{"a", "b", "c"}},
		{"ties follow a newest-first listing", []Run{r("z", "2025-01-03 00:00:00", ""), r("y", "2025-01-02 00:00:00", ""), r("x", "2025-01-02 00:00:00", ""), r("w", "2025-01-01 00:00:00", "")}, []string{"w", "x", "y", "z"}},
		{"created date when no start date", []Run{r("b", "", "2025-01-02 00:00:00"), r("a", "2025-01-01 00:00:00", "")}, []string{"a", "b"}},
		{"no dates go last", []Run{r("n", "", ""), r("a", "2025-01-01 00:00:00", "")}, []string{"a", "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sortRuns(tt.in)
			if got := runIDs(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("order %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReport(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/reports/v1/report/rep%2F1" && r.URL.RawPath != "/reports/v1/report/rep%2F1" {
			t.Errorf("path %q (raw %q): the report id is not escaped", r.URL.Path, r.URL.RawPath)
		}
		writeJSON(w, 200, map[string]any{"report": map[string]any{
			"report_display_name": "Audit log", "report_identifier": "rep/1", "format": []string{"json"}, "status": "ACTIVE",
			"report_metadata": map[string]any{"report_type": "audit-logs"},
		}})
	}))
	info, err := e.c.Report(context.Background(), "rep/1")
	if err != nil {
		t.Fatal(err)
	}
	want := ReportInfo{ID: "rep/1", DisplayName: "Audit log", ReportType: "audit-logs", Format: []string{"json"}, Status: "ACTIVE"}
	if !reflect.DeepEqual(info, want) || !info.HasFormat("JSON") || info.HasFormat("CSV") {
		t.Fatalf("info = %+v, want %+v with JSON format", info, want)
	}
	if _, err := e.c.Report(context.Background(), ""); err == nil {
		t.Error("an empty report id is accepted")
	}
}

func TestReportNotJSON(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>captive portal</html>"))
	}))
	_, err := e.c.Report(context.Background(), "rep")
	if err == nil || !strings.Contains(err.Error(), `answer is not the expected JSON (Content-Type "text/html")`) {
		t.Fatalf("err = %v", err)
	}
}
