package integration

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The product in real Fluent Bit against a second Reports API, written here
// from DigiCert's documented API only and sharing no code or assumptions with
// digicert/digicertsim, so that the client is not tested only against its
// own simulator. It answers as the documentation allows but differently from
// digicertsim: history pages of one entry whatever limit is asked, entries of
// other reports and scheduled-report records without a run id, timestamps in
// another zone, a POST …/run answered 200 with no body, a rate-limited
// (429, Retry-After) first history request, runs GENERATING for a while, and
// a split run whose parts are ZIPs of several .json members plus a README,
// with twin rows (the same event twice) and a row with invalid UTF-8 in the
// middle of a member.

const otherSimKey = "other-sim-key-7f3e9a1c5b2d"

type otherRun struct {
	id      string
	created time.Time
	parts   [][][]byte // rows of each split part
}

type otherSim struct {
	t       *testing.T
	report  string
	mu      sync.Mutex
	events  [][]byte
	runs    []*otherRun
	limited bool // the first history request was answered 429
	reqs    []string
}

func (s *otherSim) addEvents(n int) {
	base := time.Now().UTC().Add(-time.Hour)
	for i := 0; i < n; i++ {
		k := len(s.events)
		row := map[string]string{
			"Account ID": "0000000", "Action": "User SSO login", "Action taken via": "CertCentral",
			"Activity":                fmt.Sprintf("User SSO login #%d\nLogged through SAML SSO", k),
			"Date and time (UTC)":     base.Add(time.Duration(k) * time.Second).Format("02-Jan-2006 15:04:05"),
			"Division/Container name": "Global_Internal_Division", "IP address": "192.0.2." + strconv.Itoa(k%250),
			"Message": `quoted "text", ünïcödé`, "Result": "Successful", "User ID": strconv.Itoa(9000000 + k), "User name": "Jane Doe",
		}
		b, err := json.Marshal(row)
		if err != nil {
			s.t.Fatal(err)
		}
		s.events = append(s.events, b)
		if k%17 == 5 {
			s.events = append(s.events, b) // a twin: the same event twice in the report
		}
	}
}

func (s *otherSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r.Method+" "+r.URL.Path)
	fail := func(code int, c string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"error"}]}`, c)
	}
	if r.Header.Get("X-DC-DEVKEY") != otherSimKey {
		fail(403, "access_denied|access_denied_invalid_key")
		return
	}
	p := strings.Split(strings.TrimPrefix(r.URL.Path, "/reports/v1/report"), "/")
	switch {
	case r.Method == "GET" && len(p) == 2 && p[1] == "history":
		if !s.limited {
			s.limited = true
			w.Header().Set("Retry-After", "1")
			fail(429, "request_limit_exceeded")
			return
		}
		s.history(w, r)
	case r.Method == "GET" && len(p) == 2 && p[1] == s.report:
		fmt.Fprintf(w, `{"report":{"report_display_name":"Audit","report_identifier":%q,"created_date":"2021-02-18 20:16:53",`+
			`"report_metadata":{"report_type":"audit-logs","columns":[]},"schedule":{"frequency":"ON_DEMAND"},"format":["JSON"],"status":"ACTIVE"}}`, s.report)
	case r.Method == "POST" && len(p) == 3 && p[1] == s.report && p[2] == "run":
		s.addEvents(40)
		s.runs = append(s.runs, &otherRun{id: fmt.Sprintf("run-%d", len(s.runs)+1), created: time.Now(), parts: split(s.events, 3)})
		w.WriteHeader(http.StatusOK) // success without a body
	case r.Method == "GET" && len(p) == 4 && p[1] == s.report && p[3] == "download":
		var rn *otherRun
		for _, x := range s.runs {
			if x.id == p[2] && time.Since(x.created) > time.Second {
				rn = x
			}
		}
		seq, err := strconv.Atoi(r.URL.Query().Get("split_report_sequence"))
		if rn == nil || err != nil || seq < 0 || seq >= len(rn.parts) {
			fail(404, "not_found")
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write(s.zipPart(rn.parts[seq], seq, rn.id == "run-1"))
	default:
		fail(404, "not_found|route")
	}
}

func split(rows [][]byte, n int) [][][]byte {
	var out [][][]byte
	per := (len(rows) + n - 1) / n
	for i := 0; i < len(rows); i += per {
		out = append(out, append([][]byte(nil), rows[i:min(i+per, len(rows))]...))
	}
	return out
}

// badRow has an invalid UTF-8 byte in a string; the plugin ships it with
// U+FFFD in its place, and every row after it.
var badRow = []byte(`{"Date and time (UTC)":"01-Dec-2026 00:00:00","User name":"bad` + "\xff" + `byte","Action":"x"}`)

func (s *otherSim) zipPart(rows [][]byte, seq int, withBad bool) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	add := func(name string, data []byte) {
		f, err := z.Create(name)
		if err == nil {
			_, err = f.Write(data)
		}
		if err != nil {
			s.t.Error(err)
		}
	}
	add("README.txt", []byte("CertCentral audit log export\n"))
	for i, m := range split(rows, 2) {
		if withBad && seq == 1 && i == 0 {
			m = append(m[:len(m)/2:len(m)/2], append([][]byte{badRow}, m[len(m)/2:]...)...)
		}
		add(fmt.Sprintf("Audit_Log_%d_%d.json", seq+1, i+1), append(append([]byte("[\n"), bytes.Join(m, []byte(",\n"))...), "\n]"...))
	}
	if err := z.Close(); err != nil {
		s.t.Error(err)
	}
	return b.Bytes()
}

func (s *otherSim) history(w http.ResponseWriter, r *http.Request) {
	mst := time.FixedZone("MST", -7*3600)
	entries := []map[string]any{
		{"report_identifier": "99999999-0000-4000-8000-000000000000", "report_type": "orders", "status": "SCHEDULED", "schedule": "WEEKLY"},
		{"report_identifier": "99999999-0000-4000-8000-000000000000", "report_run_identifier": "11111111-1111-1111-1111-11111111",
			"report_type": "orders", "status": "READY", "format": []string{"CSV"}, "split_report_count": 0},
	}
	for _, rn := range s.runs {
		st := "GENERATING"
		if time.Since(rn.created) > time.Second {
			st = "READY"
		}
		entries = append(entries, map[string]any{
			"report_identifier": s.report, "report_run_identifier": rn.id, "report_type": "audit-logs",
			"created_date":      rn.created.In(mst).Format("2006-01-02 15:04:05"),
			"report_start_date": rn.created.In(mst).Format("2006-01-02 15:04:05"),
			"status":            st, "format": []string{"JSON"}, "schedule": "ON_DEMAND",
			"manually_triggered": true, "split_report_count": len(rn.parts),
		})
	}
	var kept []map[string]any
	for _, e := range entries {
		if st := r.URL.Query().Get("status"); st != "" && !strings.Contains(","+st+",", ","+e["status"].(string)+",") {
			continue
		}
		if rt := r.URL.Query().Get("report_type"); rt != "" && e["report_type"] != rt {
			continue
		}
		kept = append(kept, e)
	}
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	page := []map[string]any{}
	if off >= 0 && off < len(kept) {
		page = kept[off : off+1] // one entry per page, whatever limit was asked
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"page": map[string]int{"total": len(kept), "limit": 1, "offset": off}, "report_history": page})
}

// waitRuns waits until the plugin has started n runs.
func (s *otherSim) waitRuns(t *testing.T, fb *dcFB, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s.mu.Lock()
		got := len(s.runs)
		s.mu.Unlock()
		if got >= n {
			return
		}
		if fb.gone() || time.Now().After(deadline) {
			t.Fatalf("%d runs started, want %d\n%s", got, n, fb.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// truth is every row of the newest run (each run holds every event so far),
// plus the bad row as the plugin repairs it.
func (s *otherSim) truth(t *testing.T) (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, e := range s.events {
		m[rowKey(t, e)]++
	}
	m[rowKey(t, bytes.Replace(badRow, []byte("\xff"), []byte("\uFFFD"), 1))]++
	return m, total(m)
}

func TestFluentBitPipelineAgainstIndependentSimulator(t *testing.T) {
	rig := newPipelineRig(t)
	bin, s3env, bucket, client := rig.bin, rig.s3env, rig.bucket, rig.client
	sim := &otherSim{t: t, report: "3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c"}
	sim.addEvents(30)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	cfg := pipelineConfig(t, dir, rig.inSO, rig.outSO)
	env := []string{
		"DIGICERT_API_KEY=" + otherSimKey, "DIGICERT_REPORT_ID=" + sim.report, "DIGICERT_API_BASE=" + srv.URL,
		"DIGICERT_INTERVAL=1h", "S3_BUCKET=" + bucket, "S3_ENDPOINT=" + s3env.endpoint,
		"AWS_ACCESS_KEY_ID=" + s3env.accessKey, "AWS_SECRET_ACCESS_KEY=" + s3env.secretKey, "AWS_REGION=us-east-1",
	}
	var logs []string
	// Two runs, each at a start of Fluent Bit: the second overlaps the first
	// entirely and brings 40 new events.
	for i := 1; i <= 2; i++ {
		fb := startWithEnv(t, bin, cfg, env)
		sim.waitRuns(t, fb, i)
		want, n := sim.truth(t)
		waitRows(t, fb, client, bucket, n)
		time.Sleep(2 * time.Second) // nothing more may arrive
		got, _ := bucketRows(t, client, bucket, "digicert/logs/")
		compareRows(t, fmt.Sprintf("run %d", i), got, want)
		if code := fb.stop(t); code != 0 {
			t.Errorf("fluent-bit exit code %d", code)
		}
		logs = append(logs, fb.log.String())
	}
	for i, log := range logs {
		if strings.Contains(log, "[error]") || strings.Contains(log, "panic") {
			t.Errorf("Fluent Bit run %d logged an error:\n%s", i+1, log)
		}
		if strings.Contains(log, otherSimKey) || strings.Contains(log, s3env.secretKey) {
			t.Errorf("Fluent Bit run %d logged a secret", i+1)
		}
	}
	if !strings.Contains(logs[0], "parts=3") || !strings.Contains(logs[0], "repaired_utf8=1") {
		t.Errorf("the first run's line does not show 3 parts and 1 repaired row:\n%s", logs[0])
	}
	if !strings.Contains(logs[1], "skipped_shipped=") || strings.Contains(logs[1], "skipped_shipped=0 ") {
		t.Errorf("the second run skipped nothing shipped before:\n%s", logs[1])
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	if !sim.limited {
		t.Error("the rate-limited answer was never served")
	}
	for _, r := range sim.reqs {
		if strings.HasSuffix(r, "/json") {
			t.Errorf("a split run was read through /json, which may return only its first part: %s", r)
		}
	}
}
