package digicertsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestBadRowFault: the malformed row lands after AfterRows rows, in a plain
// body and in a ZIP's first member, and the true rows are all still there.
func TestBadRowFault(t *testing.T) {
	for _, zipped := range []bool{false, true} {
		for _, kind := range BadRowKinds {
			t.Run(fmt.Sprintf("%s/zip=%v", kind, zipped), func(t *testing.T) {
				cfg := Config{Seed: 2, EventsPerHour: 100, Backlog: 24 * time.Hour}
				if zipped {
					cfg.ZipThreshold = 1
				}
				h := newHarness(t, cfg)
				id := h.post(DefaultReportID)
				path := fmt.Sprintf("/reports/v1/report/%s/%s/json", DefaultReportID, id)
				_, _, clean := h.get(path)
				h.sim.Inject(Fault{Kind: FaultBadRow, Row: kind, AfterRows: 3, Size: 4096})
				h.sim.Inject(Fault{Kind: FaultBadRow, Path: "/history"}) // never a history body
				_, _, body := h.get(path)
				if zipped {
					clean, body = unzipFirst(t, clean), unzipFirst(t, body)
				}
				at := bytes.Index(body, []byte(`{"Date and time (UTC)":"`+endTime(h, id)+`","Action":"`+BadRowAction))
				rows := rowsOf(t, clean)
				if len(rows) < 4 || at < 0 {
					t.Fatalf("%d rows, bad row at %d", len(rows), at)
				}
				prefix := 1 + len(rows[0]) + len(rows[1]) + len(rows[2]) + 3
				if at != prefix {
					t.Fatalf("bad row at %d, want after 3 rows (%d)", at, prefix)
				}
				end := at + 1 + bytes.Index(body[at+1:], []byte(`,{"Account ID":"`))
				if end <= at || !bytes.Equal(append(append([]byte{}, body[:at]...), body[end+1:]...), clean) {
					t.Fatalf("the body without the bad row is not the clean body:\n%.300s\n%.300s", append(append([]byte{}, body[:at]...), body[end+1:]...), clean)
				}
				bad := body[at:end]
				switch kind {
				case BadRowUTF8:
					if utf8.Valid(bad) {
						t.Fatal("utf8 row is valid UTF-8")
					}
				case BadRowControl:
					if !bytes.ContainsAny(bad, "\x07\x1f\n") {
						t.Fatal("no raw control character")
					}
				case BadRowOversize:
					if len(bad) != 4096 {
						t.Fatalf("oversize row of %d bytes, want 4096", len(bad))
					}
				case BadRowDeep:
					if !bytes.Contains(bad, []byte(strings.Repeat("[", 1100))) {
						t.Fatal("not deep")
					}
				case BadRowGarbage:
					if !bytes.Contains(bad, []byte("not-json")) {
						t.Fatal("no garbage")
					}
				}
				if h.sim.PendingFaults() != 1 {
					t.Fatal("the download fault was not consumed, or the history one was")
				}
			})
		}
	}
}

func endTime(h *harness, runID string) string {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	return time.Unix(h.sim.runByID[runID].to, 0).UTC().Format(h.sim.gen.layout)
}

func unzipFirst(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zipReader(b)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTrickleFault: the body comes at the configured rate.
func TestTrickleFault(t *testing.T) {
	h := newHarness(t, Config{Seed: 2, EventsPerHour: 100, Backlog: 24 * time.Hour})
	id := h.post(DefaultReportID)
	h.sim.Inject(Fault{Kind: FaultTrickle, Rate: 100})
	start := time.Now()
	_, b, err := h.rawGet(fmt.Sprintf("/reports/v1/report/%s/%s/json", DefaultReportID, id), 450*time.Millisecond)
	if err == nil || len(b) > 100 || time.Since(start) < 400*time.Millisecond {
		t.Fatalf("got %d bytes, err %v after %v; want a trickle cut by the client", len(b), err, time.Since(start))
	}
}

// TestOverlapZipFault: every directory entry points at the same data.
func TestOverlapZipFault(t *testing.T) {
	h := newHarness(t, Config{Seed: 2, EventsPerHour: 100, Backlog: 24 * time.Hour})
	id := h.post(DefaultReportID)
	h.sim.Inject(Fault{Kind: FaultOverlapZip, Members: 7})
	_, _, b := h.get(fmt.Sprintf("/reports/v1/report/%s/%s/json", DefaultReportID, id))
	zr, err := zipReader(b)
	if err != nil || len(zr.File) != 7 {
		t.Fatalf("zip: %v", err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		off, err := f.DataOffset()
		if err != nil || off != 44 { // the one local header: 30 bytes + "part_0000.json"
			t.Fatalf("%s at %d: %v", f.Name, off, err)
		}
		names[f.Name] = true
	}
	if len(names) != 7 || len(rowsOf(t, unzipFirst(t, b))) == 0 {
		t.Fatalf("names %v", names)
	}
}

// TestRepeatPageFault: history ignores offset while the fault lasts.
func TestRepeatPageFault(t *testing.T) {
	h := newHarness(t, Config{Seed: 2})
	first := h.history("offset=0&limit=1")
	h.sim.Inject(Fault{Kind: FaultRepeatPage, Times: 2})
	for range 2 {
		again := h.history("offset=1&limit=1")
		if jsonOf(again.ReportHistory) != jsonOf(first.ReportHistory) || again.Page.Total != 1000000 {
			t.Fatalf("page %+v, want the first again", again)
		}
	}
	if after := h.history("offset=1&limit=1"); jsonOf(after.ReportHistory) == jsonOf(first.ReportHistory) {
		t.Fatal("fault outlived Times")
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestParseFault(t *testing.T) {
	for spec, want := range map[string]Fault{
		"bad-row,row=garbage,after-rows=5,times=3": {Kind: FaultBadRow, Row: BadRowGarbage, AfterRows: 5, Times: 3},
		"trickle,rate=32":                          {Kind: FaultTrickle, Rate: 32},
		"status,status=502,path=/history":          {Kind: FaultStatus, Status: 502, Path: "/history"},
		"truncate,after=100,abort=true":            {Kind: FaultTruncate, After: 100, Abort: true},
		"slow-body,delay=50ms":                     {Kind: FaultSlowBody, Delay: 50 * time.Millisecond},
		"overlap-zip,members=40":                   {Kind: FaultOverlapZip, Members: 40},
		"repeat-page":                              {Kind: FaultRepeatPage},
	} {
		got, err := ParseFault(spec)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, bad := range []string{"nope", "bad-row,row=weird", "trickle,rate", "trickle,speed=1"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
}
