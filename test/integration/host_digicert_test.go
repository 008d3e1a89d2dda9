package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// in_digicert.so loaded by test/host/flbhost (called exactly as Fluent Bit
// 5.1.1 calls it) against the DigiCert simulator.

const (
	dcAPIKey  = "dc-host-test-SECRET-7f3a9c1e5b2d4f60"
	dcReportA = "8e5d2c1a-4b3f-4a6e-9c7d-1f2e3a4b5c6d"
	dcReportB = "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
)

// dcSim serves a simulator with both test reports and ~240 backlog events.
func dcSim(t *testing.T, mod func(*digicertsim.Config)) (*digicertsim.Server, string) {
	t.Helper()
	cfg := digicertsim.Config{
		APIKey:        dcAPIKey,
		Seed:          7,
		Backlog:       2 * time.Hour,
		EventsPerHour: 120,
		Reports:       []string{dcReportA, dcReportB},
	}
	if mod != nil {
		mod(&cfg)
	}
	sim := digicertsim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// dcProps is a valid instance configuration for report, with its own state file.
func dcProps(t *testing.T, url, report string, extra ...string) []string {
	return append([]string{
		"api_key=" + dcAPIKey,
		"report_id=" + report,
		"api_base=" + url,
		"state_file=" + filepath.Join(t.TempDir(), "state"),
		"poll_interval=1s",
		"log_level=debug",
	}, extra...)
}

// dcKey identifies a record by event time and exact body (keys, order,
// values), so records compare as a multiset: the simulator has exact
// duplicate events, and each must arrive exactly as often as it occurred.
func dcKey(sec uint32, body []dcKV) string {
	return fmt.Sprintf("%d|%#v", sec, body)
}

// dcTruthKeys turns ground-truth events into keys; every value is a string
// (the report's JSON has only strings).
func dcTruthKeys(t *testing.T, events []digicertsim.Event) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range events {
		dec := json.NewDecoder(bytes.NewReader(e.JSON))
		var body []dcKV
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("ground truth row %s: %v", e.JSON, err)
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var v string
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("ground truth row %s: %v", e.JSON, err)
			}
			body = append(body, dcKV{Key: k.(string), Value: v})
		}
		out[dcKey(uint32(e.Time.Unix()), body)]++
	}
	return out
}

// dcCheckExactlyOnce compares what one instance was handed with the truth:
// every event exactly once, EventTime = the row's time (whole seconds, plus
// k ns on the k+1-th copy of a repeated event), body exact, and metadata as
// given (nil: empty).
func dcCheckExactlyOnce(t *testing.T, name string, recs []dcRecord, truth map[string]int, wantMeta func([]dcKV) error) {
	t.Helper()
	got := map[string]int{}
	nsecs := map[string][]uint32{}
	for i, r := range recs {
		if !r.EventTime {
			t.Errorf("%s record %d: time is not an EventTime", name, i)
		}
		nsecs[dcKey(r.Sec, r.Body)] = append(nsecs[dcKey(r.Sec, r.Body)], r.Nsec)
		if wantMeta == nil && len(r.Meta) != 0 {
			t.Errorf("%s record %d: metadata %v, want empty", name, i, r.Meta)
		}
		if wantMeta != nil {
			if err := wantMeta(r.Meta); err != nil {
				t.Errorf("%s record %d: %v", name, i, err)
			}
		}
		got[dcKey(r.Sec, r.Body)]++
	}
	total := 0
	for k, n := range truth {
		total += n
		if got[k] != n {
			t.Errorf("%s: event %s handed %d times, want %d", name, k, got[k], n)
		}
	}
	for k, n := range got {
		if truth[k] == 0 {
			t.Errorf("%s: %d records not in the ground truth: %s", name, n, k)
		}
	}
	if len(recs) != total {
		t.Errorf("%s: %d records, want %d", name, len(recs), total)
	}
	// The n copies of an event that happened n times carry 0, 1, …, n-1
	// nanoseconds (the input tells them apart for the output's object key).
	for k, ns := range nsecs {
		slices.Sort(ns)
		for i, n := range ns {
			if n != uint32(i) {
				t.Errorf("%s: the copies of %s carry %v ns, want 0, 1, …", name, k, ns)
				break
			}
		}
	}
}

// dcNoSecret fails if the API key appears in anything the host saw.
func dcNoSecret(t *testing.T, h *dcHost, names ...string) {
	t.Helper()
	if strings.Contains(strings.Join(h.events, "\n"), dcAPIKey) || strings.Contains(h.stderr.String(), dcAPIKey) {
		t.Error("the API key was printed")
	}
	for _, n := range names {
		if bytes.Contains(h.file(n, ""), []byte(dcAPIKey)) {
			t.Errorf("the API key is in instance %s's records", n)
		}
	}
}

// dcCheckStdout: every stdout line is a host event (the plugin never
// writes to stdout).
func dcCheckStdout(t *testing.T, events []string) {
	t.Helper()
	for _, e := range events {
		if !dcEventGrammar.MatchString(e) {
			t.Errorf("stdout line not from the host: %q", e)
		}
	}
}

func TestDigicertHostTwoInstances(t *testing.T) {
	sim, url := dcSim(t, nil)
	truth := sim.GroundTruth()
	if len(truth) < 100 {
		t.Fatalf("simulator made only %d events", len(truth))
	}
	want := dcTruthKeys(t, truth)

	h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{
		{"a", dcProps(t, url, dcReportA)},
		{"b", dcProps(t, url, dcReportB, "add_metadata=on")},
	})
	h.next(`^init 1 ret=1$`)
	h.waitRecords("a", len(truth))
	h.waitRecords("b", len(truth))
	// Some more callbacks: nothing else may arrive.
	h.send("wait 0 10")
	h.send("wait 1 10")
	events := h.finish()
	dcCheckStdout(t, events)

	all := strings.Join(events, "\n")
	for _, want := range []string{
		"register ret=0 type=1 proxy=11 flags=0 event_type=0 name=digicert description=DigiCert CertCentral audit logs (Reports API) config_map=set",
		"symbols collect=ctx cleanup=ctx pause=1 resume=1 preexit=1 exit=1",
		"init 0 ret=1", "init 1 ret=1", "exit 0 ret=1", "exit 1 ret=1", "unregister", "done status=0",
	} {
		if dcCount(events, "^"+regexp.QuoteMeta(want)+"$") != 1 {
			t.Errorf("event %q not seen once", want)
		}
	}
	if strings.Contains(all, "freed=no") || strings.Contains(all, "memtrack off") {
		t.Error("a collected buffer was not freed by the cleanup callback (or tracking is off)")
	}
	for i := range 2 {
		if s := dcSummary(t, events, i); s["buffers"] < 1 || s["not_freed"] != 0 || s["dropped"] != 0 {
			t.Errorf("instance %d summary %v", i, s)
		}
	}

	dcCheckExactlyOnce(t, "a", h.records("a"), want, nil)
	runs := map[string]bool{}
	for _, r := range sim.Runs() {
		if r.ReportID == dcReportB {
			runs[r.RunID] = true
		}
	}
	dcCheckExactlyOnce(t, "b", h.records("b"), want, func(meta []dcKV) error {
		if len(meta) != 2 || meta[0].Key != "report_id" || meta[0].Value != dcReportB ||
			meta[1].Key != "run_id" || !runs[fmt.Sprint(meta[1].Value)] {
			return fmt.Errorf("metadata %v, want report_id=%s and one of its run ids", meta, dcReportB)
		}
		return nil
	})

	// Lines carry Fluent Bit's header and the plugin's prefix, and
	// log_level reaches the plugin through input_log_check.
	log := h.stderr.String()
	for _, want := range []string{"] [ info] [in_digicert#1] started report_id=" + dcReportA, "] [ info] [in_digicert#2] started report_id=" + dcReportB, "] [debug] [in_digicert#", "[in_digicert#1] stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	dcNoSecret(t, h, "a", "b")
}

func TestDigicertHostBadConfig(t *testing.T) {
	_, url := dcSim(t, func(c *digicertsim.Config) { c.ViewOnlyKeys = []string{"dc-view-only-key-0123456789"} })
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(dcAPIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(drop string, extra ...string) []string {
		var out []string
		for _, p := range dcProps(t, url, dcReportA) {
			if !strings.HasPrefix(p, drop+"=") {
				out = append(out, p)
			}
		}
		return append(out, extra...)
	}
	cases := []struct {
		name  string
		props []string
		want  string // in the error line
	}{
		{"no report", base("report_id"), "report_id: required"},
		{"no key", base("api_key"), "api_key: required"},
		{"key twice", base("", "api_key_file="+keyFile), "api_key, api_key_file: set only one"},
		{"key with space", base("api_key", "api_key=abc "+dcAPIKey), "api_key: the key contains spaces"},
		{"short interval", base("", "interval=10s"), "interval: 10s is below the minimum"},
		{"bad mode", base("", "mode=sometimes"), "mode: \"sometimes\" is not a mode"},
		{"state dir", base("state_file", "state_file="+filepath.Join(dir, "missing", "x.state")), "state_file: directory"},
		{"per collect", base("", "max_bytes_per_collect=10"), "max_bytes_per_collect: 10 is out of range"},
		{"metadata", base("", "add_metadata=maybe"), "add_metadata: \"maybe\" is not a boolean"},
		{"case-insensitive key", append(base("report_id"), "REPORT_ID=has space"), "report_id: \"has space\" is not a report id"},
		// Checked with DigiCert at start.
		{"wrong key", base("api_key", "api_key=dc-wrong-key-0123456789"), "DigiCert rejected the API key: check api_key/api_key_file"},
		{"unknown report", base("report_id", "report_id=00000000-0000-0000-0000-000000000000"), "report not found: check report_id"},
		{"view-only key, run mode", base("api_key", "api_key=dc-view-only-key-0123456789"), "the API key may not start report runs"},
		{"plain http off loopback", base("api_base", "api_base=http://digicert-sim.invalid:8080"), `api_base: "http://digicert-sim.invalid:8080" is plain http: the API key would cross the network unencrypted: use https`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{{"a", c.props}})
			events := h.finish()
			dcCheckStdout(t, events)
			all := strings.Join(events, "\n")
			if !strings.Contains(all, "init 0 ret=0") || !strings.Contains(all, "done status=3") {
				t.Errorf("init did not fail: %q", events)
			}
			log := h.stderr.String()
			if !regexp.MustCompile(`\] \[error\] \[in_digicert#\d+\] ` + regexp.QuoteMeta(c.want)).MatchString(log) {
				t.Errorf("no error line with %q:\n%s", c.want, log)
			}
			dcNoSecret(t, h)
		})
	}
}

// Fluent Bit 5.1.1 pauses the collector of the last initialised instance
// whatever instance is paused (the host does the same). Here b is paused,
// then a is paused and resumed: b's collector runs again although b is still
// paused, so anything b hands over now would be dropped by Fluent Bit. The
// plugin pauses per instance (by thread), so b hands nothing until its own
// resume, and nothing is lost.
func TestDigicertHostPauseResume(t *testing.T) {
	sim, url := dcSim(t, func(c *digicertsim.Config) { c.GenerateDelay = time.Minute })
	truth := sim.GroundTruth()
	want := dcTruthKeys(t, truth)

	h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{
		{"a", dcProps(t, url, dcReportA)},
		{"b", dcProps(t, url, dcReportB)},
	})
	h.next(`^init 1 ret=1$`)
	h.send("pause 1")
	h.send("pause 0")
	h.send("resume 0")
	// Both runs are GENERATING; they become READY only when the simulated
	// clock moves, then both instances download them.
	dcWaitFor(t, "both runs started", func() bool { return dcStarted(sim, dcReportA) && dcStarted(sim, dcReportB) })
	sim.Advance(2 * time.Minute)
	h.waitRecords("a", len(truth))
	dcWaitFor(t, "b downloaded its run", func() bool { return dcDownloaded(sim, dcReportB) })
	h.send("wait 1 20") // b's collector is running (Fluent Bit's pause bug)
	if n := len(h.file("b", "")) + len(h.file("b", "dropped")); n != 0 {
		t.Fatalf("b handed over %d bytes while paused", n)
	}
	h.send("resume 1")
	h.waitRecords("b", len(truth))
	h.send("wait 0 5")
	h.send("wait 1 5")
	events := h.finish()
	dcCheckStdout(t, events)
	if dcCount(events, `^resume 0 collector_of=1$`) != 1 {
		t.Errorf("host did not model the pause bug: %q", events)
	}
	for i := range 2 {
		if s := dcSummary(t, events, i); s["dropped"] != 0 || s["not_freed"] != 0 {
			t.Errorf("instance %d summary %v", i, s)
		}
	}
	dcCheckExactlyOnce(t, "a", h.records("a"), want, nil)
	dcCheckExactlyOnce(t, "b", h.records("b"), want, nil)
}

// dcWaitFor polls cond for up to a minute.
func dcWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dcStarted reports whether a run of report was triggered.
func dcStarted(sim *digicertsim.Server, report string) bool {
	for _, r := range sim.Runs() {
		if r.ReportID == report && r.ManuallyTriggered {
			return true
		}
	}
	return false
}

// dcDownloaded reports whether a report's run body was served.
func dcDownloaded(sim *digicertsim.Server, report string) bool {
	for _, r := range sim.Requests() {
		if r.Status == 200 && strings.Contains(r.Path, "/"+report+"/") &&
			(strings.HasSuffix(r.Path, "/json") || strings.HasSuffix(r.Path, "/download")) {
			return true
		}
	}
	return false
}

// A hot reload: the Go runtime (and the plugin's globals) stay, the old
// instance exits, the new one starts with the same state file and ships
// only what is new.
func TestDigicertHostReload(t *testing.T) {
	sim, url := dcSim(t, nil)
	first := sim.GroundTruth()
	h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{{"a", dcProps(t, url, dcReportA)}})
	h.waitRecords("a", len(first))
	sim.Advance(30 * time.Minute)
	truth := sim.GroundTruth()
	if len(truth) <= len(first) {
		t.Fatalf("no new events after Advance (%d, %d)", len(first), len(truth))
	}
	h.send("reload")
	h.waitRecords("a", len(truth))
	h.send("wait 0 10")
	events := h.finish()
	dcCheckStdout(t, events)
	if dcCount(events, `^register ret=0 `) != 2 || dcCount(events, `^init 0 ret=1$`) != 2 ||
		dcCount(events, `^exit 0 ret=1$`) != 2 || dcCount(events, `^unregister$`) != 2 {
		t.Errorf("reload sequence: %q", events)
	}
	dcCheckExactlyOnce(t, "a", h.records("a"), dcTruthKeys(t, truth), nil)
	if !strings.Contains(h.stderr.String(), "[in_digicert#2] started") {
		t.Errorf("the reloaded instance did not get a new id:\n%s", h.stderr.String())
	}
	dcNoSecret(t, h, "a")
}

// Under valgrind: every buffer handed to the host is freed by the cleanup
// callback and nothing is definitely lost, with real data flowing.
func TestDigicertHostValgrind(t *testing.T) {
	vg := dcValgrindGo(t)
	sim, url := dcSim(t, func(c *digicertsim.Config) { c.Backlog = 30 * time.Minute })
	truth := sim.GroundTruth()
	h := dcStartHost(t, "input", dcPlugin(t), 100, []dcInstance{
		{"a", dcProps(t, url, dcReportA, "max_bytes_per_collect=64K")},
		{"b", dcProps(t, url, dcReportB)},
	}, dcValgrindArgs(vg)...)
	h.waitRecords("a", len(truth))
	h.waitRecords("b", len(truth))
	events := h.finish()
	// Valgrind replaces free(), so the host cannot see it, but the batches
	// live in mappings the plugin unmaps, which the host sees.
	if n := dcCount(events, `^cleanup \d ret=1 freed=yes$`); n < 2 || dcCount(events, `freed=no`) > 0 {
		t.Fatalf("%d cleanups freed their buffer under valgrind: %q", n, events)
	}
	lost, ok := dcDefinitelyLost(h.stderr.String())
	if !ok || lost != 0 {
		t.Errorf("valgrind: definitely lost %d bytes (summary found: %v)\n%s", lost, ok, dcReadableLog(h.stderr.String()))
	}
	want := dcTruthKeys(t, truth)
	dcCheckExactlyOnce(t, "a", h.records("a"), want, nil)
	dcCheckExactlyOnce(t, "b", h.records("b"), want, nil)
}
