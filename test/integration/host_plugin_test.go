package integration

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// What both plugins share with Fluent Bit, in the C host: the config map
// on hosts that have the field and not on those that do not, native
// metrics through the host's cmetrics, and secrets kept out of the log.

// hostMetrics parses the host's "metric I name{labels} value" events of
// instance i: series → value, and the series made after init.
func hostMetrics(t *testing.T, events []string, i int) (map[string]float64, []string) {
	t.Helper()
	rx := regexp.MustCompile(`^metric (\d+) (\w+\{.*\}) (\S+)( late)?$`)
	vals := map[string]float64{}
	var late []string
	for _, e := range events {
		m := rx.FindStringSubmatch(e)
		if m == nil || m[1] != strconv.Itoa(i) {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metric value in %q", e)
		}
		vals[m[2]] = v
		if m[4] != "" {
			late = append(late, m[2])
		}
	}
	return vals, late
}

// Fluent Bit ≥ 5.1.1 (a 48-byte registration struct) gets the config map
// and rejects a misspelt key before init; an older host (40 bytes) gets no
// config map (writing it would corrupt its heap) and the plugin says at
// start that misspelt keys are not caught.
func TestHostStrictConfigNewAndOldHost(t *testing.T) {
	_, url := dcSim(t, nil)
	props := dcProps(t, url, dcReportA, "intervall=2h")

	h := dcStartHostArgs(t, "input", dcPlugin(t), 50, []string{"-R", "48"}, []dcInstance{{"a", props}})
	events := h.finish()
	dcCheckStdout(t, events)
	if dcCount(events, `config_map=set$`) != 1 || dcCount(events, `^config 0 unknown=intervall$`) != 1 || dcCount(events, `^done status=3$`) != 1 {
		t.Errorf("new host: the misspelt key was not rejected: %q", events)
	}
	if !strings.Contains(h.stderr.String(), "[config] digicert: unknown configuration property 'intervall'") {
		t.Errorf("new host log:\n%s", h.stderr.String())
	}

	h = dcStartHostArgs(t, "input", dcPlugin(t), 50, []string{"-R", "40"}, []dcInstance{{"a", props}})
	h.next(`^init 0 ret=1$`)
	events = h.finish()
	dcCheckStdout(t, events)
	if dcCount(events, `config_map=absent$`) != 1 || dcCount(events, `^done status=0$`) != 1 {
		t.Errorf("old host: %q", events)
	}
	log := h.stderr.String()
	for _, want := range []string{
		"[in_digicert#1] this Fluent Bit does not check this plugin's keys: a misspelt key is ignored",
		`host="Fluent Bit < 5.1.1`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("old host: no %q in\n%s", want, log)
		}
	}

	// Room for the field is not enough: a host whose allocation happens to
	// be larger (an allocator rounding up) but that ignores config_map
	// (Fluent Bit 4.1–5.1.0) must not be taken for a strict one.
	h = dcStartHostArgs(t, "input", dcPlugin(t), 50, []string{"-R", "48", "-C", "off"}, []dcInstance{{"a", props}})
	h.next(`^init 0 ret=1$`)
	events = h.finish()
	if dcCount(events, `config_map=set$`) != 1 || !strings.Contains(h.stderr.String(), "this Fluent Bit does not check this plugin's keys") {
		t.Errorf("host ignoring the config map: %q\n%s", events, h.stderr.String())
	}

	// The output too: the key is rejected before its init (no S3 needed).
	h = dcStartHostArgs(t, "output", s3outPlugin(t), 0, []string{"-R", "48"},
		[]dcInstance{{"s3", []string{"bucket=b", "compresion_level=9"}}})
	events = h.finish()
	if dcCount(events, `^config 0 unknown=compresion_level$`) != 1 {
		t.Errorf("output on a new host: %q\n%s", events, h.stderr.String())
	}
}

// The start-up line names the plugin's version and build and the host.
func TestHostStartLineSaysWhoIsRunning(t *testing.T) {
	_, url := dcSim(t, nil)
	h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{{"a", dcProps(t, url, dcReportA)}})
	h.next(`^init 0 ret=1$`)
	h.finish()
	rx := regexp.MustCompile(`\[in_digicert#1\] started report_id=\S+ mode=run interval=1h0m0s name=a version=\S+ build=("go1\.[^"]*"|go1\.\S+) host="Fluent Bit >= 5\.1\.1"`)
	if !rx.MatchString(h.stderr.String()) {
		t.Errorf("start line:\n%s", h.stderr.String())
	}
}

// With a cmetrics context (-M on) the input creates every series at init,
// labelled with the instance name, and its counters match what it shipped.
func TestHostInputMetrics(t *testing.T) {
	sim, url := dcSim(t, nil)
	truth := sim.GroundTruth()
	h := dcStartHostArgs(t, "input", dcPlugin(t), 50, []string{"-M", "on"}, []dcInstance{{"a", dcProps(t, url, dcReportA)}})
	h.next(`^init 0 ret=1$`)
	recs := h.waitRecords("a", len(truth))
	h.send("wait 0 5")
	events := h.finish()
	dcCheckStdout(t, events)
	vals, late := hostMetrics(t, events, 0)
	if len(late) > 0 {
		t.Errorf("series created after init: %v", late)
	}
	nSeries := 0
	for _, d := range digicertin.MetricDescs() {
		nSeries += max(1, len(d.Values))
	}
	if len(vals) != nSeries {
		t.Errorf("%d series, want %d:\n%v", len(vals), nSeries, vals)
	}
	get := func(name, label string) float64 {
		k := "fluentbit_input_" + name + `{name="a"`
		if label != "" {
			k += "," + label
		}
		v, ok := vals[k+"}"]
		if !ok {
			t.Errorf("no series %s}", k)
		}
		return v
	}
	if got := get(digicertin.MetricRows, `outcome="emitted"`); int(got) != len(recs) {
		t.Errorf("rows emitted %v, records handed over %d", got, len(recs))
	}
	if got := get(digicertin.MetricRuns, `result="shipped"`); got < 1 {
		t.Errorf("runs shipped %v", got)
	}
	if got := get(digicertin.MetricRuns, `result="failed"`); got != 0 {
		t.Errorf("runs failed %v", got)
	}
	if get(digicertin.MetricRequests, `status="2xx"`) < 3 || get(digicertin.MetricDownloadedBytes, "") <= 0 {
		t.Errorf("requests/bytes: %v", vals)
	}
	if get(digicertin.MetricLastSuccess, "") < 1.7e9 || get(digicertin.MetricNewestEvent, "") < 1.7e9 {
		t.Errorf("freshness gauges: %v", vals)
	}
	if got := get(digicertin.MetricBufferedBytes, ""); got != 0 {
		t.Errorf("buffered bytes after everything was handed over: %v", got)
	}
}

// Without a metrics context the plugin says so once at debug level and runs.
func TestHostNoMetricsContext(t *testing.T) {
	sim, url := dcSim(t, nil)
	h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{{"a", dcProps(t, url, dcReportA)}, {"b", dcProps(t, url, dcReportB)}})
	h.waitRecords("a", len(sim.GroundTruth()))
	events := h.finish()
	if n := strings.Count(h.stderr.String(), "running without plugin metrics: the host gives no metrics context"); n != 1 {
		t.Errorf("%d lines about missing metrics, want 1:\n%s", n, h.stderr.String())
	}
	if dcCount(events, `^metric `) != 0 {
		t.Error("metrics recorded without a context")
	}
}

// The output's counters: one object stored, one already stored (412). The
// AWS secret key, planted in the prefix, is scrubbed from the log.
func TestHostOutputMetrics(t *testing.T) {
	env := s3outSetup(t)
	if env.secretKey == "" || strings.ContainsAny(env.secretKey, "/+=") {
		t.Skip("needs a secret key usable in an object key")
	}
	bucket := env.newBucket(t)
	file := writeChunk(t, s3outChunk(t, s3outRows, s3outT0))
	h := dcStartHostArgs(t, "output", s3outPlugin(t), 0, []string{"-M", "on"},
		[]dcInstance{{"s3", []string{"bucket=" + bucket, "endpoint=" + env.endpoint, "region=us-east-1",
			"prefix=digicert/" + env.secretKey, "log_level=debug"}}})
	h.send("flush 0 " + file + " digicert.audit")
	h.send("flush 0 " + file + " digicert.audit")
	events := h.finish()
	dcCheckStdout(t, events)
	vals, late := hostMetrics(t, events, 0)
	if len(late) > 0 {
		t.Errorf("series created after init: %v", late)
	}
	p := "fluentbit_output_"
	for k, want := range map[string]float64{
		p + secopsout.MetricObjects + `{name="s3",result="stored"}`:         1,
		p + secopsout.MetricObjects + `{name="s3",result="already_stored"}`: 1,
		p + secopsout.MetricRetries + `{name="s3",cause="network"}`:         0,
		p + secopsout.MetricErrors + `{name="s3",cause="corrupt_chunk"}`:    0,
	} {
		if got, ok := vals[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if vals[p+secopsout.MetricNDJSONBytes+`{name="s3"}`] <= 0 || vals[p+secopsout.MetricGzipBytes+`{name="s3"}`] <= 0 {
		t.Errorf("byte counters: %v", vals)
	}
	log := h.stderr.String()
	if strings.Contains(log, env.secretKey) || !strings.Contains(log, "prefix=digicert/[REDACTED]") {
		t.Errorf("the AWS secret key is not scrubbed:\n%s", log)
	}
}

// The API key never reaches the log, whatever the mistake: pasted into
// api_key_file, report_id, the URL or the proxy URL, or echoed back by a
// server in error bodies (as is, JSON-escaped or URL-encoded).
func TestHostSecretsNeverLogged(t *testing.T) {
	const key = "Zk9+Q/x7LmP2=sEcReT-api-key_0042" // with characters that encode differently
	const proxyPW = "proxy-SECRET-pw-5521"
	var forms []string
	for _, s := range []string{key, proxyPW} {
		q := strconv.Quote(s)
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s), regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(s), strings.ToLower), q[1:len(q)-1])
	}
	forms = append(forms, base64.StdEncoding.EncodeToString([]byte("user:"+proxyPW)))
	// A server (or a proxy: it sees absolute URLs) that echoes the key and
	// the proxy credentials into its error bodies.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-DC-DEVKEY") + " " + r.Header.Get("Proxy-Authorization")
		if u, p, ok := r.BasicAuth(); ok {
			got += " " + u + ":" + p
		}
		if _, p, ok := strings.Cut(r.Header.Get("Proxy-Authorization"), " "); ok {
			if b, err := base64.StdEncoding.DecodeString(p); err == nil {
				got += " " + string(b)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusBadRequest
		if strings.Contains(r.URL.Path, "/history") {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":[{"code":"bad","message":"key %s (%s) rejected for %s"}]}`, got, url.QueryEscape(got), r.URL.String())
	}))
	t.Cleanup(echo.Close)
	_, sim := dcSim(t, nil)
	state := func() string { return "state_file=" + t.TempDir() + "/s" }
	cases := map[string][]string{
		"key as key file":   {"api_key_file=" + key, "report_id=" + dcReportA, state()},
		"key as report id":  {"api_key=" + key, "report_id=" + key, "api_base=" + echo.URL, state()},
		"key in report id":  {"api_key=" + key, "report_id=x " + key, state()},
		"key in api_base":   {"api_key=" + key, "report_id=" + dcReportA, "api_base=http://127.0.0.1:1/" + key + "?k=" + url.QueryEscape(key), state()},
		"key in proxy":      {"api_key=" + key, "report_id=" + dcReportA, "api_base=" + sim, "http_proxy=http://user:" + key + "@127.0.0.1:1", state()},
		"bad proxy url":     {"api_key=" + key, "report_id=" + dcReportA, "http_proxy=http://u:" + key + "@[::1", state()},
		"server echoes key": {"api_key=" + key, "report_id=" + dcReportA, "api_base=" + echo.URL, state(), "mode=follow"},
		"proxy echoes":      {"api_key=" + key, "report_id=" + dcReportA, "api_base=" + sim, "http_proxy=http://user:" + proxyPW + "@" + strings.TrimPrefix(echo.URL, "http://"), state(), "mode=follow"},
		"key in start_time": {"api_key=" + key, "report_id=" + dcReportA, "start_time=" + key, state()},
	}
	for name, props := range cases {
		t.Run(name, func(t *testing.T) {
			h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{{"a", append(props, "log_level=debug", "poll_interval=1s")}})
			if h.next(`^init 0 ret=(-?\d+)$`)[1] == "1" {
				// Let the started instance make its first requests.
				h.send("sleep 1500")
			}
			events := h.finish()
			log := h.stderr.String() + strings.Join(events, "\n")
			for _, f := range forms {
				if strings.Contains(log, f) {
					t.Errorf("the key (as %q) is in the log:\n%s", f, log)
				}
			}
			t.Logf("log:\n%s", log)
			if !strings.Contains(log, "[REDACTED]") {
				t.Errorf("nothing was redacted; did the case reach the log at all?\n%s", log)
			}
		})
	}
}
