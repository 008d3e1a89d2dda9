package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// Plugin metrics, strict configuration and the start-up line in a real
// Fluent Bit ($FLUENT_BIT_BIN; $FLUENT_BIT_OLD_BIN for a Fluent Bit before
// 5.1.1, e.g. 4.1.2).

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// promSamples parses Prometheus text: `name{labels}` → value.
func promSamples(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		key, val := line[:i], line[i+1:]
		if f := strings.Fields(key); len(f) > 1 { // "name{…} value timestamp"
			key, val = f[0], f[1]
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[key] = v
		}
	}
	return out
}

func scrape(t *testing.T, port int) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v2/metrics/prometheus", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics: %d %v\n%s", resp.StatusCode, err, b)
	}
	return string(b), promSamples(string(b))
}

func TestFluentBitPluginMetricsMatchWhatWasShipped(t *testing.T) {
	bin := dcFluentBit(t)
	inSO, outSO := dcPlugin(t), s3outPlugin(t)
	s3env := s3outSetup(t)
	bucket := s3env.newBucket(t)
	client := s3env.s3Client(t)
	sim, url := dcSim(t, func(c *digicertsim.Config) { c.Reports = []string{dcReportA} })
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "fb.yaml")
	yaml := fmt.Sprintf(`service:
  flush: 1
  log_level: info
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
plugins:
  - %s
  - %s
pipeline:
  inputs:
    - name: digicert
      alias: dc_audit
      tag: digicert.audit
      api_key: ${DC_KEY}
      report_id: %s
      api_base: %s
      state_file: %s
  outputs:
    - name: secops_s3
      match: digicert.*
      bucket: %s
      region: us-east-1
      endpoint: %s
      workers: 1
`, port, inSO, outSO, dcReportA, url, filepath.Join(dir, "state"), bucket, s3env.endpoint)
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	fb := dcStartFB(t, bin, "-c", conf)
	want, n := truthRows(t, sim.GroundTruth())
	got := waitRows(t, fb, client, bucket, n)
	compareRows(t, "shipped", got, want)
	_, objects := bucketRows(t, client, bucket, "digicert/logs/")

	// The counters follow the uploads within a flush or two.
	var text string
	var m map[string]float64
	stored := `fluentbit_output_secops_s3_objects_total{name="secops_s3.0",result="stored"}`
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, m = scrape(t, port)
		if int(m[stored]) >= objects || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	code := fb.stop(t)
	t.Logf("plugin metrics:\n%s", strings.Join(regexp.MustCompile(`(?m)^fluentbit_(input_digicert|output_secops_s3)_.*$`).FindAllString(text, -1), "\n"))
	for k, want := range map[string]float64{
		`fluentbit_input_digicert_rows_total{name="dc_audit",outcome="emitted"}`: float64(n),
		`fluentbit_input_digicert_runs_total{name="dc_audit",result="shipped"}`:  1,
		`fluentbit_input_digicert_runs_total{name="dc_audit",result="failed"}`:   0,
		`fluentbit_input_digicert_buffered_bytes{name="dc_audit"}`:               0,
		stored: float64(objects),
		`fluentbit_output_secops_s3_errors_total{name="secops_s3.0",cause="corrupt_chunk"}`: 0,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	for _, k := range []string{
		`fluentbit_input_digicert_last_success_timestamp_seconds{name="dc_audit"}`,
		`fluentbit_input_digicert_newest_event_timestamp_seconds{name="dc_audit"}`,
		`fluentbit_input_digicert_downloaded_bytes_total{name="dc_audit"}`,
		`fluentbit_input_digicert_api_requests_total{name="dc_audit",status="2xx"}`,
		`fluentbit_output_secops_s3_ndjson_bytes_total{name="secops_s3.0"}`,
		`fluentbit_output_secops_s3_gzip_bytes_total{name="secops_s3.0"}`,
	} {
		if m[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	// Fluent Bit's own records counter for the same input agrees.
	if fb := m[`fluentbit_input_records_total{name="dc_audit"}`]; fb != float64(n) {
		t.Errorf("fluentbit_input_records_total %v, rows emitted %d", fb, n)
	}
	if code != 0 {
		t.Errorf("exit code %d", code)
	}
	log := fb.log.String()
	if strings.Contains(log, dcAPIKey) || strings.Contains(log, s3env.secretKey) {
		t.Error("a secret was logged")
	}
	dcLogHas(t, log, `started report_id=`+dcReportA, ` version=`, ` build=`, ` host="Fluent Bit `)
}

// fluentBitAtLeast reports whether bin's version (fluent-bit --version) is
// at least major.minor.patch.
func fluentBitAtLeast(t *testing.T, bin string, major, minor, patch int) bool {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	m := regexp.MustCompile(`Fluent Bit v(\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	v := [3]int{}
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	for i, want := range []int{major, minor, patch} {
		if v[i] != want {
			return v[i] > want
		}
	}
	return true
}

// A misspelt key stops Fluent Bit ≥ 5.1.1 at start (and --dry-run reports
// it); a Fluent Bit before 5.1.1 (no config map in the registration) runs
// the plugins as before and says at start that keys are not checked.
func TestFluentBitStrictConfig(t *testing.T) {
	bin := dcFluentBit(t)
	old := os.Getenv("FLUENT_BIT_OLD_BIN")
	if !fluentBitAtLeast(t, bin, 5, 1, 1) {
		bin, old = "", bin // FLUENT_BIT_BIN itself is the old host
	}
	so := dcPlugin(t)
	_, url := dcSim(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "fb.conf")
	write := func(extra string) {
		c := fmt.Sprintf("[SERVICE]\n    flush 1\n    grace 1\n[INPUT]\n    name digicert\n    tag dc\n    api_key ${DC_KEY}\n    report_id %s\n    api_base %s\n    state_file %s\n%s[OUTPUT]\n    name null\n    match *\n",
			dcReportA, url, filepath.Join(dir, "state"), extra)
		if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(bin string, args ...string) (string, int) {
		fb := dcStartFB(t, bin, args...)
		done := make(chan error, 1)
		go func() { done <- fb.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second): // still running: it started
			_ = fb.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(time.Minute):
				_ = fb.cmd.Process.Kill()
				<-done
				t.Errorf("%v did not stop within a minute after SIGTERM", args)
			}
		}
		return fb.log.String(), fb.cmd.ProcessState.ExitCode()
	}
	if bin != "" {
		write("    intervall 2h\n")
		for _, args := range [][]string{{"-e", so, "-c", conf}, {"--dry-run", "-e", so, "-c", conf}} {
			log, code := run(bin, args...)
			if code == 0 || !strings.Contains(log, "unknown configuration property 'intervall'") {
				t.Errorf("%v: exit %d; log:\n%s", args, code, log)
			}
		}
		write("")
		if log, code := run(bin, "--dry-run", "-e", so, "-c", conf); code != 0 {
			t.Errorf("--dry-run of a valid config: exit %d\n%s", code, log)
		}
	}

	if old == "" {
		t.Skip("FLUENT_BIT_OLD_BIN is not set (a Fluent Bit before 5.1.1, e.g. 4.1.2): the old-host half is not run")
	}
	write("    intervall 2h\n")
	log, code := run(old, "-e", so, "-c", conf)
	if code != 0 || !strings.Contains(log, "this Fluent Bit does not check this plugin's keys") ||
		!strings.Contains(log, `host="Fluent Bit < 5.1.1`) || !strings.Contains(log, "run shipped") {
		t.Errorf("old Fluent Bit: exit %d; log:\n%s", code, log)
	}
}
