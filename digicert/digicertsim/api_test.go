package digicertsim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAuthAndRouteErrors(t *testing.T) {
	h := newHarness(t, Config{ViewOnlyKeys: []string{"view-only"}})
	rid := DefaultReportID
	tests := []struct {
		name, method, path, key string
		status                  int
		body                    string
	}{
		{"missing key", "GET", "/reports/v1/report/history", "", 403,
			`{"errors":[{"code":"access_denied|access_denied_invalid_key","message":"Access denied due to access_denied_invalid_key."}]}`},
		{"wrong key", "GET", "/reports/v1/report/" + rid, "nope", 403,
			`{"errors":[{"code":"access_denied|access_denied_invalid_key","message":"Access denied due to access_denied_invalid_key."}]}`},
		{"view-only POST", "POST", "/reports/v1/report/" + rid + "/run", "view-only", 403,
			`{"errors":[{"code":"access_denied|missing_permission","message":"Access denied due to missing_permission."}]}`},
		{"unknown route", "GET", "/reports/v1/nothing", testKey, 404,
			`{"errors":[{"code":"not_found|route","message":"The requested route was not found."}]}`},
		{"unknown report", "GET", "/reports/v1/report/00000000-0000-0000-0000-000000000000", testKey, 404,
			`{"errors":[{"code":"not_found|report","message":"Report not found."}]}`},
		{"unknown run", "GET", "/reports/v1/report/" + rid + "/no-such-run/json", testKey, 404,
			`{"errors":[{"code":"not_found|report_run","message":"Report run not found."}]}`},
		{"view-only GET", "GET", "/reports/v1/report/" + rid, "view-only", 200, ""},
		{"healthz without key", "GET", "/healthz", "", 200, "ok\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, hdr, b := h.do(tc.method, tc.path, tc.key)
			if st != tc.status {
				t.Fatalf("status %d, want %d (%s)", st, tc.status, b)
			}
			if tc.body != "" && string(b) != tc.body {
				t.Fatalf("body %s\nwant %s", b, tc.body)
			}
			if st >= 400 && hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("error Content-Type %q", hdr.Get("Content-Type"))
			}
		})
	}
	for _, l := range h.sim.Requests() {
		if strings.Contains(l.Path+l.Query, testKey) || strings.Contains(l.Path+l.Query, "view-only") {
			t.Fatalf("request log holds a key: %+v", l)
		}
	}
	if n := len(h.sim.Runs()); n != 6 {
		t.Fatalf("the rejected POST created a run: %d runs", n)
	}
}

func TestReportDetails(t *testing.T) {
	h := newHarness(t, Config{})
	st, _, b := h.get("/reports/v1/report/" + DefaultReportID)
	if st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	var d struct {
		Report struct {
			ID       string   `json:"report_identifier"`
			Name     string   `json:"report_display_name"`
			Format   []string `json:"format"`
			Status   string   `json:"status"`
			Created  string   `json:"created_date"`
			Metadata struct {
				Type string `json:"report_type"`
			} `json:"report_metadata"`
		} `json:"report"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	r := d.Report
	if r.ID != DefaultReportID || r.Name == "" || len(r.Format) != 1 || r.Format[0] != "JSON" ||
		r.Status != "ACTIVE" || r.Metadata.Type != "audit-logs" {
		t.Fatalf("details %+v", r)
	}
	if _, err := time.Parse(histTime, r.Created); err != nil {
		t.Fatalf("created_date: %v", err)
	}
}

func TestPostRunForms(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		status     int
		wantBodyID bool
	}{
		{"run id in body", Config{ReturnRunIDOnPost: true}, 201, true},
		{"empty body 201", Config{}, 201, false},
		{"empty body 200", Config{PostStatus: 200}, 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			st, _, b := h.do("POST", "/reports/v1/report/"+DefaultReportID+"/run", testKey)
			if st != tc.status {
				t.Fatalf("status %d want %d", st, tc.status)
			}
			runs := h.sim.Runs()
			last := runs[len(runs)-1]
			if last.ReportID != DefaultReportID || !last.ManuallyTriggered {
				t.Fatalf("new run %+v", last)
			}
			var body map[string]string
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			if got := body["report_run_identifier"]; tc.wantBodyID && got != last.RunID {
				t.Fatalf("body id %q, run %q", got, last.RunID)
			} else if !tc.wantBodyID && string(b) != "{}" {
				t.Fatalf("body %q, want {}", b)
			}
		})
	}
}

func TestRunLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		fault FaultKind
		steps []func(h *harness) // between status checks
		want  []string           // status after each step
	}{
		{"ready after delay", Config{GenerateDelay: time.Minute}, 0,
			[]func(*harness){nil, func(h *harness) { h.sim.Advance(59 * time.Second) }, func(h *harness) { h.sim.Advance(time.Second) }},
			[]string{StatusGenerating, StatusGenerating, StatusReady}},
		{"ready after polls", Config{ReadyAfterPolls: 3}, 0,
			[]func(*harness){nil, nil, nil, nil},
			[]string{StatusGenerating, StatusGenerating, StatusReady, StatusReady}},
		{"failed", Config{GenerateDelay: time.Minute}, FaultFailRun,
			[]func(*harness){nil, func(h *harness) { h.sim.Advance(time.Minute) }},
			[]string{StatusGenerating, StatusFailed}},
		{"stuck", Config{}, FaultStuckRun,
			[]func(*harness){nil, func(h *harness) { h.sim.Advance(240 * time.Hour) }},
			[]string{StatusGenerating, StatusGenerating}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			if tc.fault != 0 {
				h.sim.Inject(Fault{Kind: tc.fault, Path: DefaultReportID})
			}
			id := h.post(DefaultReportID)
			for i, step := range tc.steps {
				if step != nil {
					step(h)
				}
				if got := h.statusOf(id); got != tc.want[i] {
					t.Fatalf("step %d: status %q, want %q", i, got, tc.want[i])
				}
			}
			// A second run is not affected by the consumed fault.
			if tc.fault != 0 {
				h.sim.Advance(time.Hour)
				id2 := h.post(DefaultReportID)
				h.sim.Advance(time.Hour)
				if got := h.statusOf(id2); got != StatusReady {
					t.Fatalf("second run %s", got)
				}
			}
		})
	}
}

func TestNotReadyRunIsNotDownloadable(t *testing.T) {
	h := newHarness(t, Config{GenerateDelay: time.Minute})
	id := h.post(DefaultReportID)
	st, _, b := h.get("/reports/v1/report/" + DefaultReportID + "/" + id + "/json")
	if st != 400 || !strings.Contains(string(b), "report_not_ready") {
		t.Fatalf("%d %s", st, b)
	}
}
