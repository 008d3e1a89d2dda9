package digicertsim

import (
	"archive/zip"
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"
)

func zipNames(t *testing.T, body []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	return names
}

func TestBodyFormats(t *testing.T) {
	base := Config{Seed: 11, EventsPerHour: 200, Backlog: 6 * time.Hour, Window: 6 * time.Hour}
	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	tests := []struct {
		name     string
		cfg      Config
		path     string // after /{report}/{run}/
		ctype    string
		members  string // regexp every member name matches; "" for plain JSON
		nMembers int
	}{
		{"small json", base, "json", "application/json", "", 0},
		{"small download", base, "download?report_format=JSON", "application/json", "", 0},
		{"format ZIP", base, "download?report_format=ZIP", "application/zip", `^Audit_log_report_0\.json$`, 1},
		{"over threshold json", with(func(c *Config) { c.ZipThreshold = 4096 }), "json", "application/zip", `^Audit_log_report_0\.json$`, 1},
		{"over threshold download", with(func(c *Config) { c.ZipThreshold = 4096 }), "download?report_format=JSON", "application/zip", `^Audit_log_report_0\.json$`, 1},
		{"members and readme", with(func(c *Config) { c.ZipMembers = 3; c.ZipReadme = true }), "download?report_format=ZIP", "application/zip",
			`^(README\.txt|Audit_log_report_0_00[0-2]\.json)$`, 4},
		{"octet-stream zip", with(func(c *Config) { c.ZipThreshold = 1; c.ZipContentType = "application/octet-stream" }), "json", "application/octet-stream", `\.json$`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			id := h.post(DefaultReportID)
			st, hdr, b := h.get(fmt.Sprintf("/reports/v1/report/%s/%s/%s", DefaultReportID, id, tc.path))
			if st != 200 || hdr.Get("Content-Type") != tc.ctype {
				t.Fatalf("%d %q: %s", st, hdr.Get("Content-Type"), head(b))
			}
			isZip := bytes.HasPrefix(b, []byte("PK\x03\x04"))
			if isZip != (tc.members != "") {
				t.Fatalf("zip %v, want %v", isZip, tc.members != "")
			}
			if isZip {
				names := zipNames(t, b)
				re := regexp.MustCompile(tc.members)
				for _, n := range names {
					if !re.MatchString(n) {
						t.Fatalf("member %q", n)
					}
				}
				if len(names) != tc.nMembers {
					t.Fatalf("members %v", names)
				}
			}
			want := eventStrings(h.sim.RunEvents(id))
			if got := jsonStrings(rowsOf(t, b)); len(want) < 1000 || !slices.Equal(got, want) {
				t.Fatalf("%d rows served, %d in the run", len(got), len(want))
			}
		})
	}
}

func TestSplitRun(t *testing.T) {
	for _, allParts := range []bool{false, true} {
		t.Run(fmt.Sprintf("json-all-parts=%v", allParts), func(t *testing.T) {
			h := newHarness(t, Config{EventsPerHour: 100, Backlog: 3 * time.Hour, Window: 3 * time.Hour,
				SplitRows: 40, JSONAllParts: allParts})
			id := h.post(DefaultReportID)
			want := eventStrings(h.sim.RunEvents(id))
			parts := (len(want) + 39) / 40
			var hist *histRun
			for _, e := range h.history("").ReportHistory {
				if e.RunID != nil && *e.RunID == id {
					hist = &e
				}
			}
			if hist == nil || hist.SplitReportCount != parts || parts < 3 {
				t.Fatalf("history entry %+v, want split_report_count %d", hist, parts)
			}
			prefix := fmt.Sprintf("/reports/v1/report/%s/%s/", DefaultReportID, id)
			var got []string
			for seq := 0; seq < parts; seq++ {
				st, hdr, b := h.get(fmt.Sprintf("%sdownload?report_format=JSON&split_report_sequence=%d", prefix, seq))
				if st != 200 || hdr.Get("Content-Type") != "application/zip" {
					t.Fatalf("part %d: %d %q", seq, st, hdr.Get("Content-Type"))
				}
				if names := zipNames(t, b); len(names) != 1 || names[0] != fmt.Sprintf("Audit_log_report_%d.json", seq) {
					t.Fatalf("part %d members %v", seq, names)
				}
				rows := jsonStrings(rowsOf(t, b))
				if len(rows) > 40 {
					t.Fatalf("part %d has %d rows", seq, len(rows))
				}
				got = append(got, rows...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("parts hold %d rows, run %d", len(got), len(want))
			}
			if st, _, _ := h.get(fmt.Sprintf("%sdownload?report_format=JSON&split_report_sequence=%d", prefix, parts)); st != 404 {
				t.Fatalf("sequence past the end: %d", st)
			}
			_, _, b := h.get(prefix + "json")
			jsonRows := jsonStrings(rowsOf(t, b))
			wantJSON := want[:40]
			if allParts {
				wantJSON = want
			}
			if !slices.Equal(jsonRows, wantJSON) {
				t.Fatalf("/json gave %d rows, want %d", len(jsonRows), len(wantJSON))
			}
		})
	}
}

func TestDownloadErrors(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.post(DefaultReportID)
	var other RunInfo
	for _, r := range h.sim.Runs() {
		if r.ReportID != DefaultReportID {
			other = r
			break
		}
	}
	prefix := fmt.Sprintf("/reports/v1/report/%s/%s/", DefaultReportID, id)
	tests := []struct {
		path   string
		status int
	}{
		{prefix + "download", 400},
		{prefix + "download?report_format=CSV", 400},
		{prefix + "download?report_format=JSON&split_report_sequence=1", 404},
		{prefix + "download?report_format=JSON&split_report_sequence=x", 400},
		{fmt.Sprintf("/reports/v1/report/%s/%s/json", DefaultReportID, other.RunID), 404}, // run of another report
		{fmt.Sprintf("/reports/v1/report/%s/%s/json", other.ReportID, other.RunID), 400},  // CSV report
	}
	for _, tc := range tests {
		if st, _, b := h.get(tc.path); st != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.path, st, b, tc.status)
		}
	}
}
