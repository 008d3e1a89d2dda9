package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// The whole product in real Fluent Bit: the shipped fluent-bit.yaml, with
// in_digicert.so reading the simulator and out_secops_s3.so writing to a real
// versitygw. Every audit event must land in S3 exactly once, across a restart
// of Fluent Bit and overlapping report runs.

// pipelineConfig is the repository's fluent-bit.yaml with the image paths
// pointed at this test's plugins and directories.
func pipelineConfig(t *testing.T, dir, inDigicert, outS3 string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "fluent-bit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		"/fluent-bit/plugins/in_digicert.so", inDigicert,
		"/fluent-bit/plugins/out_secops_s3.so", outS3,
		"/var/lib/fluent-bit/", dir+"/",
		// Its own HTTP port: the shipped 2020 may be taken by another
		// Fluent Bit on the machine, which would stop this one at start.
		"http_port: 2020", fmt.Sprintf("http_port: %d", freePort(t)),
	).Replace(string(b))
	if !strings.Contains(s, "http_port: ") {
		t.Fatal("fluent-bit.yaml no longer sets http_port: update pipelineConfig")
	}
	for _, d := range []string{"state", "storage"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "fluent-bit.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rowKey identifies a row by its keys and values in order, whatever the JSON
// spelling (escapes, spacing), so S3 lines compare with the simulator's rows.
func rowKey(t *testing.T, line []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var b strings.Builder
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %q (%v)", line, err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		fmt.Fprintf(&b, "%q=%#v;", k, v)
	}
	return b.String()
}

// bucketRows reads every object under prefix: the rows as a multiset, and
// the number of objects.
func bucketRows(t *testing.T, c *s3.Client, bucket, prefix string) (map[string]int, int) {
	t.Helper()
	rows := map[string]int{}
	keys := s3outList(t, c, bucket)
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, ".json.gz") {
			t.Errorf("object %q is outside %s*.json.gz", k, prefix)
			continue
		}
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &k})
		if err != nil {
			t.Fatal(err)
		}
		if ct, ce := deref(obj.ContentType), deref(obj.ContentEncoding); ct != "application/x-ndjson" || ce != "gzip" {
			t.Errorf("%s: Content-Type %q, Content-Encoding %q", k, ct, ce)
		}
		zr, err := gzip.NewReader(obj.Body)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		data, err := io.ReadAll(zr)
		obj.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			rows[rowKey(t, line)]++
		}
	}
	return rows, len(keys)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func truthRows(t *testing.T, events []digicertsim.Event) (map[string]int, int) {
	t.Helper()
	m := map[string]int{}
	for _, e := range events {
		m[rowKey(t, e.JSON)]++
	}
	return m, len(events)
}

func total(m map[string]int) (n int) {
	for _, c := range m {
		n += c
	}
	return n
}

// waitRows polls the bucket until it holds want rows (or fails after 2 min).
func waitRows(t *testing.T, fb *dcFB, c *s3.Client, bucket string, want int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, _ := bucketRows(t, c, bucket, "digicert/logs/")
		if total(got) >= want {
			return got
		}
		if fb.gone() || time.Now().After(deadline) {
			t.Fatalf("bucket holds %d of %d rows\n%s", total(got), want, fb.log.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func compareRows(t *testing.T, stage string, got, want map[string]int) {
	t.Helper()
	bad := 0
	for k, n := range want {
		if got[k] != n {
			bad++
			if bad <= 3 {
				t.Errorf("%s: row seen %d times in S3, %d times in DigiCert: %s", stage, got[k], n, k)
			}
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			bad++
			if bad <= 3 {
				t.Errorf("%s: row in S3 (%d times) that DigiCert never produced: %s", stage, n, k)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d rows differ", stage, bad)
	}
}

// pipelineRig is what a whole-pipeline test needs: Fluent Bit, both plugins,
// versitygw with a fresh bucket and a client for it.
type pipelineRig struct {
	bin, inSO, outSO string
	s3env            s3outEnv
	bucket           string
	client           *s3.Client
}

func newPipelineRig(t *testing.T) pipelineRig {
	t.Helper()
	r := pipelineRig{bin: dcFluentBit(t), inSO: dcPlugin(t), outSO: s3outPlugin(t), s3env: s3outSetup(t)}
	// The shipped fluent-bit.yaml uses ${VAR:-default}, which Fluent Bit
	// expands only from 5.0.6 (and 4.2.5) on; older ones make it empty.
	if !fluentBitAtLeast(t, r.bin, 5, 0, 6) {
		t.Skipf("the shipped fluent-bit.yaml needs Fluent Bit >= 5.0.6 (${VAR:-default}); %s is older (README \"Fluent Bit versions\")", r.bin)
	}
	r.bucket = r.s3env.newBucket(t)
	r.client = r.s3env.s3Client(t)
	return r
}

func TestFluentBitPipelineShipsEveryRowOnce(t *testing.T) {
	rig := newPipelineRig(t)
	bin, inSO, outSO, s3env, bucket, client := rig.bin, rig.inSO, rig.outSO, rig.s3env, rig.bucket, rig.client
	sim, url := dcSim(t, func(c *digicertsim.Config) {
		c.Reports = []string{dcReportA}
		c.Window = 2 * time.Hour // each run covers the last 2 h: consecutive runs overlap
	})
	dir := t.TempDir()
	cfg := pipelineConfig(t, dir, inSO, outSO)
	env := []string{
		"DIGICERT_API_KEY=" + dcAPIKey, "DIGICERT_REPORT_ID=" + dcReportA, "DIGICERT_API_BASE=" + url,
		"DIGICERT_INTERVAL=1m", "S3_BUCKET=" + bucket, "S3_ENDPOINT=" + s3env.endpoint,
		"AWS_ACCESS_KEY_ID=" + s3env.accessKey, "AWS_SECRET_ACCESS_KEY=" + s3env.secretKey, "AWS_REGION=us-east-1",
	}
	fb := startWithEnv(t, bin, cfg, env)

	// First run: the backlog of the report's window.
	want, n := truthRows(t, sim.GroundTruth())
	waitRows(t, fb, client, bucket, n)
	time.Sleep(2 * time.Second) // nothing more may arrive
	got, _ := bucketRows(t, client, bucket, "digicert/logs/")
	compareRows(t, "first run", got, want)
	if code := fb.stop(t); code != 0 {
		t.Errorf("fluent-bit exit code %d", code)
	}
	log1 := fb.log.String()

	// New events happen while Fluent Bit is down; the next run overlaps the
	// first by most of its window. After the restart only the new rows ship.
	sim.Advance(30 * time.Minute)
	fb = startWithEnv(t, bin, cfg, env)
	want, n = truthRows(t, sim.GroundTruth())
	waitRows(t, fb, client, bucket, n)
	time.Sleep(2 * time.Second)
	got, objects := bucketRows(t, client, bucket, "digicert/logs/")
	compareRows(t, "after restart", got, want)
	if code := fb.stop(t); code != 0 {
		t.Errorf("fluent-bit exit code %d", code)
	}
	log2 := fb.log.String()
	t.Logf("%d events in %d objects; second run log: %s", n, objects, regexp.MustCompile(`.*run shipped.*`).FindString(log2))

	for i, log := range []string{log1, log2} {
		if regexp.MustCompile(`\[error\]|panic|could not enqueue`).MatchString(log) {
			t.Errorf("Fluent Bit run %d logged an error:\n%s", i+1, log)
		}
		if strings.Contains(log, dcAPIKey) || strings.Contains(log, s3env.secretKey) {
			t.Errorf("Fluent Bit run %d logged a secret", i+1)
		}
	}
	if !regexp.MustCompile(`run shipped .*emitted=\d+ skipped_shipped=[1-9]\d*`).MatchString(log2) {
		t.Errorf("the second run skipped no rows shipped before; log:\n%s", log2)
	}
}

// startWithEnv starts Fluent Bit with the variables the shipped config reads.
func startWithEnv(t *testing.T, bin, cfg string, env []string) *dcFB {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return dcStartFB(t, bin, "-c", cfg)
}
