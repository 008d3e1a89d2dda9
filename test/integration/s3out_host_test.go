package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// These tests load out_secops_s3.so into test/host/flbhost, which calls it
// exactly as Fluent Bit 5.1's Go proxy does (register, init per instance
// with the instance context, flush ctx, exit ctx, unregister). The host and
// its session helpers (dc*) are in host_tools_test.go.

// s3outPlugin is out_secops_s3.so, from $PLUGIN_DIR or built here.
func s3outPlugin(t testing.TB) string {
	return builtPlugin(t, "out_secops_s3.so", "./plugin/out_secops_s3")
}

// hostRun is one finished flbhost run: its events (stdout) and log (stderr).
type hostRun struct {
	events []string
	log    string
}

func (h hostRun) has(event string) bool {
	for _, e := range h.events {
		if e == event {
			return true
		}
	}
	return false
}

// startS3OutHost starts flbhost in output mode with one secops_s3 instance
// per property list.
func startS3OutHost(t *testing.T, instances [][]string) *dcHost {
	t.Helper()
	var ins []dcInstance
	for i, props := range instances {
		ins = append(ins, dcInstance{Name: fmt.Sprintf("s3_%d", i), Props: props})
	}
	return dcStartHost(t, "output", s3outPlugin(t), 0, ins)
}

// lastEvent returns the latest event seen with prefix ("" if none).
func lastEvent(h *dcHost, prefix string) string { return lastOf(h.events, prefix) }

// finishS3OutHost ends the run and checks that everything on stdout is a
// host event: the plugin must never print there.
func finishS3OutHost(t *testing.T, h *dcHost) hostRun {
	t.Helper()
	run := hostRun{events: h.finish(), log: h.stderr.String()}
	for _, e := range run.events {
		if !dcEventGrammar.MatchString(e) {
			t.Errorf("unexpected line on stdout: %q", e)
		}
	}
	t.Logf("flbhost events: %q", run.events)
	return run
}

// runS3OutHost runs commands (one per line; EOF means exit) and returns the run.
func runS3OutHost(t *testing.T, instances [][]string, script string) hostRun {
	t.Helper()
	h := startS3OutHost(t, instances)
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		if line != "" {
			h.send(line)
		}
	}
	return finishS3OutHost(t, h)
}

func writeChunk(t *testing.T, chunk []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "chunk.msgpack")
	if err := os.WriteFile(p, chunk, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestS3OutHostTwoInstancesStoreOnce(t *testing.T) {
	env := s3outSetup(t)
	c := env.s3Client(t)
	bucketA, bucketB := env.newBucket(t), env.newBucket(t)
	chunk := s3outChunk(t, s3outRows, s3outT0)
	file := writeChunk(t, chunk)
	common := []string{"endpoint=" + env.endpoint, "region=us-east-1"}
	run := runS3OutHost(t, [][]string{
		append([]string{"bucket=" + bucketA, "log_level=debug"}, common...),
		append([]string{"bucket=" + bucketB, "prefix=other/prefix"}, common...),
	}, fmt.Sprintf("flush 0 %[1]s digicert.audit\nflush 1 %[1]s digicert.audit\nflush 0 %[1]s digicert.audit\nflush 1 %[1]s digicert.audit\n", file))

	for _, e := range []string{"init 0 ret=1", "init 1 ret=1", "exit 0 ret=1", "exit 1 ret=1", "done status=0"} {
		if !run.has(e) {
			t.Errorf("missing event %q", e)
		}
	}
	flushes := 0
	for _, e := range run.events {
		if strings.HasPrefix(e, "flush ") {
			flushes++
			if !strings.Contains(e, "result=OK") {
				t.Errorf("flush event %q", e)
			}
		}
	}
	if flushes != 4 {
		t.Errorf("%d flush events, want 4", flushes)
	}
	hash := secopsout.ContentHash("digicert.audit", chunk)
	for bucket, key := range map[string]string{
		bucketA: "digicert/logs/2025/02/06/102804-digicert-audit-" + hash + ".json.gz",
		bucketB: "other/prefix/2025/02/06/102804-digicert-audit-" + hash + ".json.gz",
	} {
		if keys := s3outList(t, c, bucket); len(keys) != 1 || keys[0] != key {
			t.Errorf("%s holds %v, want [%s]", bucket, keys, key)
			continue
		}
		obj := s3outGet(t, c, bucket, key)
		if obj.contentType != "application/x-ndjson" || obj.contentEncoding != "gzip" {
			t.Errorf("%s headers %q %q", bucket, obj.contentType, obj.contentEncoding)
		}
		s3outCheckLines(t, obj.body, s3outRows)
	}
	// Each instance logs with its own id, through log_print, at its own level:
	// instance 0 runs at debug, instance 1 at the default info.
	if !regexp.MustCompile(`\[ info\] \[out_secops_s3#\d+\] ready bucket=`+bucketA).MatchString(run.log) ||
		!regexp.MustCompile(`\[ info\] \[out_secops_s3#\d+\] ready bucket=`+bucketB).MatchString(run.log) {
		t.Errorf("ready lines missing:\n%s", run.log)
	}
	if strings.Count(run.log, "] stored key=") != 1 || !strings.Contains(run.log, "[debug]") {
		t.Errorf("want exactly one debug 'stored' line (instance 0 only):\n%s", run.log)
	}
	if strings.Count(run.log, "object already stored") != 2 {
		t.Errorf("want two 'already stored' lines:\n%s", run.log)
	}
	if strings.Contains(run.log, env.secretKey) && env.secretKey != "" {
		t.Error("the log contains the secret key")
	}
}

// lastOf returns the last event starting with prefix.
func lastOf(events []string, prefix string) string {
	for i := len(events) - 1; i >= 0; i-- {
		if strings.HasPrefix(events[i], prefix) {
			return events[i]
		}
	}
	return ""
}

func TestS3OutHostResultCodes(t *testing.T) {
	srv := s3outStartServer(t) // private: it is stopped mid-test
	env := s3outEnv{endpoint: "http://" + srv.addr, accessKey: s3outTestAccessKey, secretKey: s3outTestSecretKey, server: srv}
	bucket := env.newBucket(t)
	good := s3outChunk(t, s3outRows, s3outT0)
	goodFile, corruptFile := writeChunk(t, good), writeChunk(t, good[:len(good)-5])
	props := []string{"bucket=" + bucket, "endpoint=" + env.endpoint, "upload_timeout=10s"}

	run := runS3OutHost(t, [][]string{props}, fmt.Sprintf("flush 0 %s t\n", corruptFile))
	if !run.has("flush 0 ret=0 result=ERROR bytes="+fmt.Sprint(len(good)-5)) || !strings.Contains(run.log, "chunk dropped (permanent error)") {
		t.Errorf("corrupt chunk: events %q\nlog:\n%s", run.events, run.log)
	}

	// Server stopped after init: RETRY; back on the same directory: OK.
	h := startS3OutHost(t, [][]string{props})
	if m := h.next(`^init 0 ret=-?\d+$`); m[0] != "init 0 ret=1" {
		t.Fatalf("init: %s", m[0])
	}
	srv.stop()
	h.send("flush 0 " + goodFile + " t")
	if e := lastEvent(h, "flush 0"); !strings.Contains(e, "ret=2 result=RETRY") {
		t.Errorf("flush with the server down: %s", e)
	}
	srv.start()
	h.send("flush 0 " + goodFile + " t")
	if e := lastEvent(h, "flush 0"); !strings.Contains(e, "ret=1 result=OK") {
		t.Errorf("flush after restart: %s", e)
	}
	run = finishS3OutHost(t, h)
	if !strings.Contains(run.log, "[ warn] [out_secops_s3#1] upload failed; Fluent Bit will retry the chunk") {
		t.Errorf("log:\n%s", run.log)
	}
	// The damaged chunk's readable records, and the good chunk.
	if keys := s3outList(t, env.s3Client(t), bucket); len(keys) != 2 {
		t.Errorf("bucket holds %v", keys)
	}

	// Server down at start: S3 may be briefly away, so init warns and
	// succeeds, and the chunk is retried.
	srv.stop()
	run = runS3OutHost(t, [][]string{props}, fmt.Sprintf("flush 0 %s t\n", goodFile))
	if !run.has("init 0 ret=1") || !strings.Contains(run.log, "[ warn] [out_secops_s3#1] cannot reach endpoint "+env.endpoint) ||
		!strings.Contains(lastOf(run.events, "flush 0"), "result=RETRY") {
		t.Errorf("init with the server down: events %q\nlog:\n%s", run.events, run.log)
	}
	srv.start()

	// Missing bucket: init fails with a clear reason.
	run = runS3OutHost(t, [][]string{{"bucket=no-such-bucket", "endpoint=" + env.endpoint}}, "")
	if !run.has("init 0 ret=0") || !strings.Contains(run.log, `[error] [out_secops_s3#1] secops_s3: bucket "no-such-bucket" does not exist`) {
		t.Errorf("missing bucket: events %q\nlog:\n%s", run.events, run.log)
	}
	// Missing required key.
	run = runS3OutHost(t, [][]string{{"endpoint=" + env.endpoint}}, "")
	if !run.has("init 0 ret=0") || !strings.Contains(run.log, "secops_s3: bucket: required") {
		t.Errorf("no bucket key: events %q\nlog:\n%s", run.events, run.log)
	}
}

// TestS3OutHostHotReload reloads as Fluent Bit does: the new registration
// happens while the old instance lives, then the old one exits and a new one
// starts. The Go runtime and its globals survive; the new instance must work
// and find the chunk the old one stored.
func TestS3OutHostHotReload(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	file := writeChunk(t, s3outChunk(t, s3outRows, s3outT0))
	run := runS3OutHost(t, [][]string{{"bucket=" + bucket, "endpoint=" + env.endpoint}},
		fmt.Sprintf("flush 0 %[1]s t\nreload\nflush 0 %[1]s t\n", file))
	var flushes, inits []string
	for _, e := range run.events {
		switch {
		case strings.HasPrefix(e, "flush 0"):
			flushes = append(flushes, e)
		case strings.HasPrefix(e, "init 0"):
			inits = append(inits, e)
		}
	}
	if len(inits) != 2 || inits[0] != "init 0 ret=1" || inits[1] != "init 0 ret=1" || !run.has("done status=0") {
		t.Fatalf("inits %q; events %q\nlog:\n%s", inits, run.events, run.log)
	}
	if len(flushes) != 2 || !strings.Contains(flushes[0], "result=OK") || !strings.Contains(flushes[1], "result=OK") {
		t.Errorf("flushes %q", flushes)
	}
	// The new instance got a new id and saw the object already stored.
	if !strings.Contains(run.log, "[out_secops_s3#2] object already stored") {
		t.Errorf("log:\n%s", run.log)
	}
	if keys := s3outList(t, env.s3Client(t), bucket); len(keys) != 1 {
		t.Errorf("bucket holds %v", keys)
	}
}

// TestS3OutHostValgrind flushes under valgrind: the host frees data and tag
// right after each call, so a plugin that kept them would touch freed memory.
// No C allocation of the plugin may leak either (C strings for keys and logs).
func TestS3OutHostValgrind(t *testing.T) {
	vg := dcValgrindGo(t)
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	file := writeChunk(t, s3outChunk(t, s3outRows, s3outT0))
	h := dcStartHost(t, "output", s3outPlugin(t), 0, []dcInstance{{Name: "s3", Props: []string{"bucket=" + bucket, "endpoint=" + env.endpoint, "log_level=debug"}}},
		dcValgrindArgs(vg)...)
	h.send("flush 0 " + file + " digicert.audit")
	h.send("flush 0 " + file + " digicert.audit")
	run := finishS3OutHost(t, h)
	if dcCount(run.events, `^flush 0 ret=1 result=OK`) != 2 {
		t.Errorf("flushes under valgrind: %q", run.events)
	}
	// Go's runtime makes valgrind report reads and writes on goroutine stacks
	// and vector over-reads of live blocks; those are not errors. An access
	// to a block that was already freed (data or tag kept past the call) or
	// a bad free is.
	for _, bad := range []string{"free'd", "Invalid free", "Mismatched free"} {
		if strings.Contains(run.log, bad) {
			t.Errorf("valgrind reports %q:\n%s\n--- the whole log:\n%s", bad, dcAround(run.log, bad, 1500), dcReadableLog(run.log))
		}
	}
	if lost, ok := dcDefinitelyLost(run.log); !ok || lost != 0 {
		t.Errorf("valgrind: definitely lost %d bytes (summary found: %v)\n%s", lost, ok, dcReadableLog(run.log))
	}
}
