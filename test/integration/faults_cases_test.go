package integration

import (
	"archive/zip"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// faultCases lists every case, fast and soak.
func faultCases() []faultCase {
	cs := []faultCase{
		{name: "baseline/run-mode", run: caseBaseline},
		{name: "bad-row/invalid-utf8", run: caseBadRow("\xff", "\uFFFD", false)},
		{name: "bad-row/control-char", run: caseBadRow("\x01", `\u0001`, false)},
		{name: "bad-row/too-deep", run: caseBadRow("", "", true)},
		{name: "follow/404-then-ok", run: caseFollowOnce(answer404JSON, 1)},
		{name: "follow/html-404-then-ok", run: caseFollowOnce(answer404HTML, 1)},
		{name: "follow/empty-200-then-ok", run: caseFollowOnce(answerEmpty200, 1)},
		{name: "follow/404-on-later-part", run: caseFollowOnce(answer404JSON, 100)},
		{name: "follow/out-of-order-ready", run: caseOutOfOrder},
	}
	for _, e := range s3Faults {
		cs = append(cs, faultCase{name: "s3/" + e.name, soak: !e.fast, run: caseS3Fault(e, time.Second)})
	}
	cs = append(cs,
		faultCase{name: "s3/unreachable-5s", run: caseS3Down(5 * time.Second)},
		faultCase{name: "s3/unreachable-5min", soak: true, run: caseS3Down(5 * time.Minute)},
		faultCase{name: "clock/host-behind-events", run: caseClock(72 * time.Hour)},
		faultCase{name: "clock/host-ahead-of-events", run: caseClock(-72 * time.Hour)},
		faultCase{name: "download/trickle", run: caseTrickle},
		faultCase{name: "zip/overlapping-entries", run: caseZipOverlap},
		faultCase{name: "twin-event/across-chunks", run: caseTwins},
	)
	cs = append(cs, configFaultCases()...)
	return append(cs, sigkillFBCases()...)
}

// runEvery is the poll interval of in-process cases.
const runEvery = time.Second

// runsTruth is every row of the report's runs so far: per row the largest
// count any run has (runs overlap; a row in two runs is one event).
func runsTruth(t *testing.T, sim *digicertsim.Server) map[string]int {
	t.Helper()
	want := map[string]int{}
	for _, r := range sim.Runs() {
		if r.ReportID != dcReportA {
			continue
		}
		for k, n := range truthOf(t, sim.RunEvents(r.RunID)) {
			want[k] = max(want[k], n)
		}
	}
	return want
}

func caseBaseline(t *testing.T) {
	s := newFaultSetup(t, nil)
	p := s.start(t, runEvery, nil)
	want := truthOf(t, s.sim.GroundTruth())
	got := s.settle(t, p, total(want), 20*time.Second)
	s.result(t, "baseline/run-mode", got, want, 0, "")
}

// caseBadRow damages one row in the middle of the report, in every run:
// inserting bad at the start of its first value (expecting repaired there),
// or, with deep, appending a member nested past the decoder's depth cap
// (that row cannot be parsed and is skipped; every other row must arrive).
func caseBadRow(bad, repaired string, deep bool) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, nil)
		truth := s.sim.GroundTruth()
		target := truth[len(truth)/2].JSON
		i := bytes.Index(target, []byte(`":"`)) + 3
		var damaged, fixed []byte
		if deep {
			damaged = append(append([]byte(nil), target[:len(target)-1]...), `,"deep":`+string(bytes.Repeat([]byte("["), 1100))+string(bytes.Repeat([]byte("]"), 1100))+"}"...)
		} else {
			damaged = append(append(append([]byte(nil), target[:i]...), bad...), target[i:]...)
			fixed = append(append(append([]byte(nil), target[:i]...), repaired...), target[i:]...)
		}
		s.dc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if _, ok := isBody(r); !ok {
				return false
			}
			rec := s.dc.simAnswer(r)
			writeAnswer(w, rec, replaceRow(rec.Body.Bytes(), target, damaged))
			return true
		})
		want := truthOf(t, truth)
		note := "the damaged row arrives repaired"
		if k := rowKey(t, target); deep {
			want[k]--
			note = "the unparseable row is skipped (counted); all others arrive"
		} else {
			want[k]--
			want[rowKey(t, fixed)]++
		}
		p := s.start(t, runEvery, nil)
		got := s.settle(t, p, total(want), 10*time.Second)
		s.result(t, faultName(t), got, want, 0, note)
	}
}

func answer404JSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"errors":[{"code":"not_found|report_run","message":"Report file not found."}]}`))
}

func answer404HTML(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>proxy</p></body></html>"))
}

func answerEmpty200(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

// caseFollowOnce: follow mode, one scheduled READY run; its first body
// request (of part 1 when splitRows makes a split run) gets a bad answer.
func caseFollowOnce(bad func(http.ResponseWriter), splitRows int) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) {
			c.Window = 2 * time.Hour
			if splitRows > 1 {
				c.SplitRows = splitRows
			}
		})
		run := s.sim.Schedule(dcReportA)
		var once sync.Once
		s.dc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if _, ok := isBody(r); !ok || (splitRows > 1 && r.URL.Query().Get("split_report_sequence") != "1") {
				return false
			}
			hit := false
			once.Do(func() { hit = true })
			if hit {
				bad(w)
			}
			return hit
		})
		want := truthOf(t, s.sim.RunEvents(run))
		p := s.start(t, runEvery, flb.MapConfig{"mode": "follow"})
		got := s.settle(t, p, total(want), 10*time.Second)
		s.result(t, faultName(t), got, want, 0, "")
	}
}

// caseOutOfOrder: two runs with disjoint windows; the older one is hidden
// from history until the newer one has been downloaded, as when runs
// finish out of order.
func caseOutOfOrder(t *testing.T) {
	s := newFaultSetup(t, func(c *digicertsim.Config) { c.Window = time.Hour; c.Backlog = time.Hour })
	r1 := s.sim.Schedule(dcReportA)
	s.sim.Advance(time.Hour)
	r2 := s.sim.Schedule(dcReportA)
	var mu sync.Mutex
	r2Read := false
	s.dc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if run, ok := isBody(r); ok {
			if run == r2 {
				mu.Lock()
				r2Read = true
				mu.Unlock()
			}
			return false
		}
		mu.Lock()
		hide := !r2Read
		mu.Unlock()
		if !hide || !bytes.Contains([]byte(r.URL.Path), []byte("history")) {
			return false
		}
		rec := s.dc.simAnswer(r)
		writeAnswer(w, rec, withoutRun(t, rec.Body.Bytes(), r1))
		return true
	})
	want := truthOf(t, s.sim.GroundTruth())
	p := s.start(t, runEvery, flb.MapConfig{"mode": "follow"})
	got := s.settle(t, p, total(want), 10*time.Second)
	s.result(t, "follow/out-of-order-ready", got, want, 0, "")
}

// withoutRun removes run from a history page.
func withoutRun(t *testing.T, body []byte, run string) []byte {
	var page map[string]any
	if err := json.Unmarshal(body, &page); err != nil {
		return body
	}
	list, _ := page["report_history"].([]any)
	kept := list[:0]
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["report_run_identifier"] == run {
			if pg, ok := page["page"].(map[string]any); ok {
				if n, ok := pg["total"].(float64); ok {
					pg["total"] = n - 1
				}
			}
			continue
		}
		kept = append(kept, e)
	}
	page["report_history"] = kept
	out, err := json.Marshal(page)
	if err != nil {
		t.Error(err)
		return body
	}
	return out
}

// s3Fault is an error S3 (or a proxy in front of it) answers that the
// operator can fix: credentials, bucket, KMS key, region, proxy.
type s3Fault struct {
	name   string
	status int
	code   string // S3 error code; "" = an HTML page
	region string // x-amz-bucket-region of a 301
	fast   bool   // in every run; the others only in the soak (same code path)
}

var s3Faults = []s3Fault{
	{"AccessDenied", 403, "AccessDenied", "", true},
	{"InvalidAccessKeyId", 403, "InvalidAccessKeyId", "", false},
	{"SignatureDoesNotMatch", 403, "SignatureDoesNotMatch", "", false},
	{"ExpiredToken", 400, "ExpiredToken", "", false},
	{"InvalidToken", 400, "InvalidToken", "", false},
	{"NoSuchBucket", 404, "NoSuchBucket", "", false},
	{"KMS.DisabledException", 400, "KMS.DisabledException", "", true},
	{"KMS.KMSInvalidStateException", 400, "KMS.KMSInvalidStateException", "", false},
	{"301-wrong-region", 301, "PermanentRedirect", "eu-west-1", true},
	{"proxy-401-page", 401, "", "", false},
	{"proxy-403-page", 403, "", "", true},
}

// caseS3Fault: every S3 request fails with f for window after start, as
// when the credentials are rotated or the bucket policy changed, then the
// operator fixes it.
func caseS3Fault(f s3Fault, window time.Duration) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) { c.Backlog = time.Hour })
		var mu sync.Mutex
		var until time.Time
		s.s3.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			on := !until.IsZero() && time.Now().Before(until)
			mu.Unlock()
			if !on {
				return false
			}
			switch {
			case f.code == "":
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(f.status)
				_, _ = fmt.Fprintf(w, "<html><body><h1>%d</h1><p>proxy authentication required</p></body></html>", f.status)
			case f.region != "":
				w.Header().Set("x-amz-bucket-region", f.region)
				s3Error(w, f.status, f.code)
			default:
				s3Error(w, f.status, f.code)
			}
			return true
		})
		// The output's start-up check passes; the fault begins with the first upload.
		p := s.start(t, runEvery, nil)
		mu.Lock()
		until = time.Now().Add(window)
		mu.Unlock()
		want := truthOf(t, s.sim.GroundTruth())
		got := s.settle(t, p, total(want), 8*time.Second)
		s.result(t, "s3/"+f.name, got, want, 0, fmt.Sprintf("%d %s for %v", f.status, cmp.Or(f.code, "HTML page"), window))
	}
}

// caseS3Down: S3 unreachable (connections closed) for d, new events keep
// coming; then it is back.
func caseS3Down(d time.Duration) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) { c.Backlog = time.Hour })
		s.quiet = 5 * time.Second // retries back off up to 2 s
		var mu sync.Mutex
		down := false
		s.s3.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			if down {
				hangUp(w)
			}
			return down
		})
		p := s.start(t, runEvery, nil)
		mu.Lock()
		down = true
		mu.Unlock()
		// New events while S3 is away: later runs bring them.
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(min(d/5, 30*time.Second)) {
			s.sim.Advance(5 * time.Minute)
		}
		mu.Lock()
		down = false
		mu.Unlock()
		// Each run covers 24 hours, more than the backlog and the time
		// advanced: the next run brings every event.
		want := truthOf(t, s.sim.GroundTruth())
		got := s.settle(t, p, total(want), 30*time.Second)
		s.result(t, faultName(t), got, want, 0, fmt.Sprintf("S3 down %v", d))
	}
}

// caseClock: the host clock off DigiCert's by skew (positive: the host is
// behind, as after a jump back; negative: ahead, as after a jump forward),
// far more than dedup_window, while runs overlap.
func caseClock(skew time.Duration) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) {
			c.Start = time.Now().Add(skew)
			c.Backlog = time.Hour
			c.Window = time.Hour
		})
		p := s.start(t, runEvery, flb.MapConfig{"dedup_window": "1h"})
		s.settle(t, p, total(truthOf(t, s.sim.GroundTruth())), 5*time.Second)
		s.sim.Advance(10 * time.Minute) // the next runs overlap the first by 50 minutes
		time.Sleep(2 * runEvery)
		got := s.settle(t, p, total(runsTruth(t, s.sim)), 5*time.Second)
		s.result(t, faultName(t), got, runsTruth(t, s.sim), 0, clockNote(skew))
	}
}

// caseTrickle: the first download sends one byte every 20 ms (each gap well
// inside request_timeout), so it would take minutes.
func caseTrickle(t *testing.T) {
	s := newFaultSetup(t, func(c *digicertsim.Config) { c.Backlog = time.Hour })
	s.dc.setHook(onFirstBody(func(w http.ResponseWriter, r *http.Request) {
		rec := s.dc.simAnswer(r)
		trickle(w, r, rec, rec.Body.Len(), 20*time.Millisecond)
	}))
	want := truthOf(t, s.sim.GroundTruth())
	// download_timeout is the whole-download deadline of issue 9.6.
	s.quiet = 8 * time.Second // the first attempt ends after download_timeout
	s.downloadTimeout = 3 * time.Second
	p := s.start(t, runEvery, nil)
	got := s.settle(t, p, total(want), 12*time.Second)
	s.result(t, "download/trickle", got, want, 0, "1 byte / 20 ms; download_timeout 3s")
}

// caseZipOverlap: the first download is a ZIP whose directory lists one
// member 40 times (overlapping entries: a 40× amplification).
func caseZipOverlap(t *testing.T) {
	s := newFaultSetup(t, func(c *digicertsim.Config) { c.Backlog = time.Hour })
	s.dc.setHook(onFirstBody(func(w http.ResponseWriter, r *http.Request) {
		rec := s.dc.simAnswer(r)
		w.Header().Set("Content-Type", "application/zip")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(overlappingZip(t, rec.Body.Bytes(), 40))
	}))
	want := truthOf(t, s.sim.GroundTruth())
	p := s.start(t, runEvery, nil)
	got := s.settle(t, p, total(want), 8*time.Second)
	s.result(t, "zip/overlapping-entries", got, want, 0, "40 directory entries → one member")
}

// overlappingZip returns a ZIP of body as one member whose central
// directory entry is repeated n times under different names.
func overlappingZip(t *testing.T, body []byte, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "m00.json", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	eocd := append([]byte(nil), data[len(data)-22:]...)
	size, off := binary.LittleEndian.Uint32(eocd[12:]), binary.LittleEndian.Uint32(eocd[16:])
	entry := data[off : off+size]
	out := append([]byte(nil), data[:off]...)
	for i := 0; i < n; i++ {
		e := append([]byte(nil), entry...)
		copy(e[46+1:], fmt.Sprintf("%02d", i))
		out = append(out, e...)
	}
	binary.LittleEndian.PutUint16(eocd[8:], uint16(n))
	binary.LittleEndian.PutUint16(eocd[10:], uint16(n))
	binary.LittleEndian.PutUint32(eocd[12:], uint32(n)*size)
	return append(out, eocd...)
}

// caseTwins: an event happens twice in the same second; the first run has
// one copy, the next both. The second copy alone makes a chunk
// byte-identical to the first one's.
func caseTwins(t *testing.T) {
	s := newFaultSetup(t, nil)
	ev := s.sim.GroundTruth()[0].JSON
	s.dc.setHook(bodyPerDownload(func(n int) string {
		if n > 1 {
			return "[" + string(ev) + "," + string(ev) + "]"
		}
		return "[" + string(ev) + "]"
	}))
	want := map[string]int{rowKey(t, ev): 2}
	p := s.start(t, runEvery, nil)
	got := s.settle(t, p, total(want), 6*time.Second)
	s.result(t, "twin-event/across-chunks", got, want, 0, "second copy in a later run")
}

// bodyPerDownload is a dcProxy hook answering the n-th request for a run's
// rows (from 1) with the JSON array body(n).
func bodyPerDownload(body func(n int) string) func(w http.ResponseWriter, r *http.Request) bool {
	var mu sync.Mutex
	bodies := 0
	return func(w http.ResponseWriter, r *http.Request) bool {
		if _, ok := isBody(r); !ok {
			return false
		}
		mu.Lock()
		bodies++
		n := bodies
		mu.Unlock()
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "application/json")
		writeAnswer(w, rec, []byte(body(n)))
		return true
	}
}

func clockNote(skew time.Duration) string {
	if skew > 0 {
		return fmt.Sprintf("host clock %v behind the events; dedup_window 1h", skew)
	}
	return fmt.Sprintf("host clock %v ahead of the events; dedup_window 1h", -skew)
}
