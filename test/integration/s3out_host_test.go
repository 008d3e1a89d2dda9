package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/s3out"
)

// These tests load out_secops_s3.so into test/host/flbhost, which calls it
// exactly as Fluent Bit 5.1's Go proxy does (register, init per instance
// with the instance context, flush ctx, exit ctx, unregister).

var (
	s3outBuildOnce sync.Once
	s3outSO        string
	s3outHost      string
	s3outBuildErr  error
)

// s3outHostTools returns the plugin and the host binary, building what is
// missing: the plugin comes from $PLUGIN_DIR when make built it already.
func s3outHostTools(t *testing.T) (so, host string) {
	t.Helper()
	s3outBuildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			s3outBuildErr = err
			return
		}
		src := filepath.Join(root, "test", "host", "flbhost.c")
		if _, err := os.Stat(src); err != nil {
			s3outBuildErr = fmt.Errorf("skip: %s not found", src)
			return
		}
		if _, err := exec.LookPath("cc"); err != nil {
			s3outBuildErr = fmt.Errorf("skip: no C compiler (cc) to build the host")
			return
		}
		dir, err := os.MkdirTemp("", "s3out-host-")
		if err != nil {
			s3outBuildErr = err
			return
		}
		s3outHost = filepath.Join(dir, "flbhost")
		cc := exec.Command("cc", "-O2", "-g", "-Wall", "-pthread", "-o", s3outHost, src, "-ldl", "-Wl,--export-dynamic-symbol=free")
		if out, err := cc.CombinedOutput(); err != nil {
			s3outBuildErr = fmt.Errorf("build flbhost: %v: %s", err, out)
			return
		}
		if d := os.Getenv("PLUGIN_DIR"); d != "" {
			if _, err := os.Stat(filepath.Join(d, "out_secops_s3.so")); err == nil {
				s3outSO = filepath.Join(d, "out_secops_s3.so")
				return
			}
		}
		s3outSO = filepath.Join(dir, "out_secops_s3.so")
		build := exec.Command("go", "build", "-buildmode=c-shared", "-o", s3outSO, "./plugin/out_secops_s3")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := build.CombinedOutput(); err != nil {
			s3outBuildErr = fmt.Errorf("build plugin: %v: %s", err, out)
		}
	})
	if s3outBuildErr != nil {
		if msg, ok := strings.CutPrefix(s3outBuildErr.Error(), "skip: "); ok {
			t.Skip(msg)
		}
		t.Fatal(s3outBuildErr)
	}
	return s3outSO, s3outHost
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
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

// hostSession drives flbhost in output mode interactively: commands go to
// its stdin, events are read back one by one.
type hostSession struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	events []string
	stderr bytes.Buffer
	cancel context.CancelFunc
}

// s3outHostTimeout bounds one host run, so a hang cannot stall the suite.
const s3outHostTimeout = 3 * time.Minute

// startS3OutHost starts flbhost with one -i secops_s3 per instance (each a
// list of key=value properties) and waits for every init.
func startS3OutHost(t *testing.T, instances [][]string) *hostSession {
	t.Helper()
	so, host := s3outHostTools(t)
	args := []string{"output", "-e", so}
	for _, props := range instances {
		args = append(args, "-i", "secops_s3")
		for _, p := range props {
			args = append(args, "-p", p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s3outHostTimeout)
	s := &hostSession{t: t, cmd: exec.CommandContext(ctx, host, args...), lines: make(chan string, 64), cancel: cancel}
	s.cmd.Stderr = &s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start flbhost: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s
}

// next returns the next event starting with prefix, keeping all events seen.
func (s *hostSession) next(prefix string) string {
	s.t.Helper()
	for line := range s.lines {
		s.events = append(s.events, line)
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	s.t.Fatalf("flbhost ended before an event %q; events %q\nlog:\n%s", prefix, s.events, s.stderr.String())
	return ""
}

// send writes one command line.
func (s *hostSession) send(command string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, command+"\n"); err != nil {
		s.t.Fatalf("send %q: %v", command, err)
	}
}

// finish closes stdin (EOF means exit), waits, and returns the whole run.
func (s *hostSession) finish() hostRun {
	s.t.Helper()
	s.stdin.Close()
	for line := range s.lines {
		s.events = append(s.events, line)
	}
	err := s.cmd.Wait()
	s.cancel()
	run := hostRun{events: s.events, log: s.stderr.String()}
	if err != nil && !run.has("done status=3") {
		s.t.Errorf("flbhost: %v", err)
	}
	s.t.Logf("flbhost events: %q", run.events)
	return run
}

// runS3OutHost runs a whole script (commands separated by newlines).
func runS3OutHost(t *testing.T, instances [][]string, script string) hostRun {
	t.Helper()
	s := startS3OutHost(t, instances)
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		s.send(line)
	}
	return s.finish()
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
	}, fmt.Sprintf("flush 0 %[1]s digicert.audit\nflush 1 %[1]s digicert.audit\nflush 0 %[1]s digicert.audit\nflush 1 %[1]s digicert.audit\nexit\n", file))

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
	hash := s3out.ContentHash("digicert.audit", chunk)
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

func TestS3OutHostResultCodes(t *testing.T) {
	srv := s3outStartServer(t) // private: it is stopped mid-test
	env := s3outEnv{endpoint: "http://" + srv.addr, accessKey: s3outTestAccessKey, secretKey: s3outTestSecretKey, server: srv}
	bucket := env.newBucket(t)
	good := s3outChunk(t, s3outRows, s3outT0)
	goodFile, corruptFile := writeChunk(t, good), writeChunk(t, good[:len(good)-5])
	props := []string{"bucket=" + bucket, "endpoint=" + env.endpoint, "upload_timeout=10s"}

	run := runS3OutHost(t, [][]string{props}, fmt.Sprintf("flush 0 %s t\nexit\n", corruptFile))
	if !run.has("flush 0 ret=0 result=ERROR bytes="+fmt.Sprint(len(good)-5)) || !strings.Contains(run.log, "chunk dropped (permanent error)") {
		t.Errorf("corrupt chunk: events %q\nlog:\n%s", run.events, run.log)
	}

	// Server stopped after init: RETRY; back on the same directory: OK.
	s := startS3OutHost(t, [][]string{props})
	if e := s.next("init 0"); e != "init 0 ret=1" {
		t.Fatalf("init: %s", e)
	}
	srv.stop()
	s.send("flush 0 " + goodFile + " t")
	if e := s.next("flush 0"); !strings.Contains(e, "ret=2 result=RETRY") {
		t.Errorf("flush with the server down: %s", e)
	}
	srv.start()
	s.send("flush 0 " + goodFile + " t")
	if e := s.next("flush 0"); !strings.Contains(e, "ret=1 result=OK") {
		t.Errorf("flush after restart: %s", e)
	}
	run = s.finish()
	if !strings.Contains(run.log, "[ warn] [out_secops_s3#1] upload failed; Fluent Bit will retry the chunk") {
		t.Errorf("log:\n%s", run.log)
	}
	if keys := s3outList(t, env.s3Client(t), bucket); len(keys) != 1 {
		t.Errorf("bucket holds %v", keys)
	}

	srv.stop()
	run = runS3OutHost(t, [][]string{props}, "exit\n")
	if !run.has("init 0 ret=0") || !run.has("done status=3") || !strings.Contains(run.log, "cannot reach endpoint "+env.endpoint) {
		t.Errorf("init with the server down: events %q\nlog:\n%s", run.events, run.log)
	}
	srv.start()

	// Missing bucket: init fails with a clear reason.
	run = runS3OutHost(t, [][]string{{"bucket=no-such-bucket", "endpoint=" + env.endpoint}}, "exit\n")
	if !run.has("init 0 ret=0") || !strings.Contains(run.log, `[error] [out_secops_s3#1] secops_s3: bucket "no-such-bucket" does not exist`) {
		t.Errorf("missing bucket: events %q\nlog:\n%s", run.events, run.log)
	}
	// Missing required key.
	run = runS3OutHost(t, [][]string{{"endpoint=" + env.endpoint}}, "exit\n")
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
		fmt.Sprintf("flush 0 %[1]s t\nreload\nflush 0 %[1]s t\nexit\n", file))
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
