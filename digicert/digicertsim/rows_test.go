package digicertsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRowsOverlapAndGroundTruth(t *testing.T) {
	h := newHarness(t, Config{Seed: 7, EventsPerHour: 120, Window: 3 * time.Hour, Backlog: 2 * time.Hour})
	served := map[string]int{} // row → max multiplicity in one run
	var prev []string
	for i := 0; i < 4; i++ {
		h.sim.Advance(time.Hour)
		id := h.post(DefaultReportID)
		path := fmt.Sprintf("/reports/v1/report/%s/%s/", DefaultReportID, id)
		st, hdr, b := h.get(path + "json")
		if st != 200 || hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("json: %d %q", st, hdr.Get("Content-Type"))
		}
		rows := jsonStrings(rowsOf(t, b))
		if want := eventStrings(h.sim.RunEvents(id)); !slices.Equal(rows, want) {
			t.Fatalf("run %d: /json rows differ from RunEvents (%d vs %d)", i, len(rows), len(want))
		}
		st, _, b2 := h.get(path + "download?report_format=JSON")
		if st != 200 || string(b2) != string(b) {
			t.Fatalf("download differs from /json: %d", st)
		}
		if len(rows) == 0 {
			t.Fatalf("run %d has no rows", i)
		}
		if prev != nil && !overlaps(prev, rows) {
			t.Fatalf("run %d does not overlap run %d", i, i-1)
		}
		prev = rows
		counts := map[string]int{}
		for _, r := range rows {
			counts[r]++
		}
		for r, c := range counts {
			served[r] = max(served[r], c)
		}
	}
	truth := h.sim.GroundTruth()
	want := map[string]int{}
	for i, e := range truth {
		want[string(e.JSON)]++
		if i > 0 && e.Time.Before(truth[i-1].Time) {
			t.Fatalf("ground truth out of order at %d", i)
		}
	}
	// Every event lies in some run's window (windows 3h, runs hourly, backlog 2h).
	if len(served) != len(want) {
		t.Fatalf("%d distinct served rows, %d distinct events", len(served), len(want))
	}
	dups := 0
	for r, c := range want {
		if served[r] != c {
			t.Fatalf("row multiplicity %d served, %d true: %s", served[r], c, r)
		}
		if c > 1 {
			dups++
		}
	}
	if dups == 0 {
		t.Fatal("no exact duplicate events generated")
	}
}

func overlaps(a, b []string) bool {
	set := map[string]bool{}
	for _, r := range a {
		set[r] = true
	}
	for _, r := range b {
		if set[r] {
			return true
		}
	}
	return false
}

func TestRowShape(t *testing.T) {
	for _, format := range []string{DateFormatName, DateFormatNumeric} {
		t.Run(format, func(t *testing.T) {
			sim := New(Config{APIKey: testKey, DateFormat: format, Backlog: 48 * time.Hour, EventsPerHour: 100})
			layout := map[string]string{DateFormatName: "02-Jan-2006 15:04:05", DateFormatNumeric: "02-01-2006 15:04:05"}[format]
			truth := sim.GroundTruth()
			if len(truth) < 3000 {
				t.Fatalf("only %d events", len(truth))
			}
			seen := map[string]bool{}
			for _, e := range truth {
				var m map[string]any
				if err := json.Unmarshal(e.JSON, &m); err != nil {
					t.Fatal(err)
				}
				if len(m) != len(Columns) {
					t.Fatalf("%d keys", len(m))
				}
				for _, k := range Columns {
					if _, ok := m[k].(string); !ok {
						t.Fatalf("key %q missing or not a string", k)
					}
				}
				ts, err := time.Parse(layout, m["Date and time (UTC)"].(string))
				if err != nil || !ts.Equal(e.Time) {
					t.Fatalf("date %q: %v (event time %v)", m["Date and time (UTC)"], err, e.Time)
				}
				s := string(e.JSON)
				for _, probe := range []string{`\n`, `\"`, `\\`, "李雷", `""`} {
					if strings.Contains(s, probe) {
						seen[probe] = true
					}
				}
			}
			if len(seen) != 5 {
				t.Fatalf("rows lack some hard characters: saw %v", seen)
			}
		})
	}
}
