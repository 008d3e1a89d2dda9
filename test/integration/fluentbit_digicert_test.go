package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// in_digicert.so in a real Fluent Bit ($FLUENT_BIT_BIN), loaded with -e and
// with plugins_file, reading the simulator, written out by the file output
// in msgpack format (the chunk bytes as Fluent Bit stored them).

func dcFluentBit(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FLUENT_BIT_BIN")
	if bin == "" {
		t.Skip("FLUENT_BIT_BIN is not set: set it to a Fluent Bit ≥ 4.1 binary to run in_digicert in real Fluent Bit (README, Development, \"Real Fluent Bit for tests\", says how to build one)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("FLUENT_BIT_BIN: %v", err)
	}
	return bin
}

// dcFBConfig writes a classic config with two digicert inputs (b with
// add_metadata) and one msgpack file output per input. The key comes from
// the environment (${DC_KEY}), as users are told to do.
func dcFBConfig(t *testing.T, dir, url, service, inputExtra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[SERVICE]\n    flush 1\n    grace 3\n    log_level info\n%s\n", service)
	for _, in := range []struct{ name, report, extra string }{
		{"a", dcReportA, "    log_level debug\n"},
		{"b", dcReportB, "    add_metadata on\n"},
	} {
		fmt.Fprintf(&b, "[INPUT]\n    name digicert\n    tag digicert.%s\n    api_key ${DC_KEY}\n    report_id %s\n"+
			"    api_base %s\n    state_file %s\n    poll_interval 1s\n%s\n",
			in.name, in.report, url, filepath.Join(dir, in.name+".state"), in.extra+inputExtra)
		fmt.Fprintf(&b, "[OUTPUT]\n    name file\n    match digicert.%s\n    path %s\n    file %s.msgpack\n    format msgpack\n\n",
			in.name, dir, in.name)
	}
	p := filepath.Join(dir, "fluent-bit.conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dcFB is a running Fluent Bit.
type dcFB struct {
	cmd *exec.Cmd
	log *dcLockedBuffer
}

func dcStartFB(t *testing.T, bin string, args ...string) *dcFB {
	t.Helper()
	fb := &dcFB{cmd: exec.Command(bin, args...), log: &dcLockedBuffer{}}
	fb.cmd.Env = append(os.Environ(), "DC_KEY="+dcAPIKey)
	fb.cmd.Stdout = fb.log
	fb.cmd.Stderr = fb.log
	if err := fb.cmd.Start(); err != nil {
		t.Fatalf("start fluent-bit: %v", err)
	}
	t.Cleanup(func() {
		if fb.cmd.ProcessState == nil {
			_ = fb.cmd.Process.Kill()
			_ = fb.cmd.Wait()
		}
	})
	return fb
}

// gone reports whether Fluent Bit has exited, also when nobody has waited
// for it yet (an exited, unwaited process is a zombie): a wait loop then
// fails at once instead of waiting out its deadline after Fluent Bit died.
func (fb *dcFB) gone() bool {
	if fb.cmd.ProcessState != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", fb.cmd.Process.Pid))
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	// The state follows the parenthesised command name: "pid (comm) S …".
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// mustFailStart waits for a Fluent Bit that must refuse to start (what is
// named by why) to exit, and returns its log; running on for a minute, or
// exiting with code 0, fails the test.
func (fb *dcFB) mustFailStart(t *testing.T, why string) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fb.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		fb.stop(t)
		t.Fatalf("fluent-bit kept running with %s\n%s", why, fb.log.String())
	}
	if fb.cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("exit code 0 with %s", why)
	}
	return fb.log.String()
}

// stop sends SIGTERM and waits, as an operator (or docker stop) does.
func (fb *dcFB) stop(t *testing.T) int {
	t.Helper()
	if err := fb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fb.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = fb.cmd.Process.Kill()
		<-done
		t.Fatalf("fluent-bit did not stop within a minute after SIGTERM\n%s", fb.log.String())
	}
	return fb.cmd.ProcessState.ExitCode()
}

// drain waits until both outputs hold n records, lets a few more callbacks
// and flushes pass (nothing else may arrive), stops Fluent Bit with SIGTERM
// (expecting exit code 0) and returns its log.
func (fb *dcFB) drain(t *testing.T, dir string, n int) string {
	t.Helper()
	dcWaitFile(t, fb, filepath.Join(dir, "a.msgpack"), n)
	dcWaitFile(t, fb, filepath.Join(dir, "b.msgpack"), n)
	time.Sleep(2 * time.Second)
	if code := fb.stop(t); code != 0 {
		t.Errorf("fluent-bit exit code %d", code)
	}
	return fb.log.String()
}

// dcLogHas fails for each line fragment missing from log.
func dcLogHas(t *testing.T, log string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q", w)
		}
	}
}

// dcWaitFile waits until path decodes to at least n records.
func dcWaitFile(t *testing.T, fb *dcFB, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(path)
		recs, err := dcDecodeRecords(b)
		if err == nil && len(recs) >= n {
			return
		}
		if fb.gone() || time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d records (err %v)\n%s", path, len(recs), n, err, fb.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dcCheckFBOutputs checks both file outputs: every event exactly once, a
// without metadata, b with report_id and one of its report's run ids.
func dcCheckFBOutputs(t *testing.T, dir string, sim *digicertsim.Server, truth []digicertsim.Event) {
	t.Helper()
	want := dcTruthKeys(t, truth)
	runs := map[string]bool{}
	for _, r := range sim.Runs() {
		runs[r.RunID] = r.ReportID == dcReportB
	}
	for _, name := range []string{"a", "b"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".msgpack"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := dcDecodeRecords(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var meta func([]dcKV) error
		if name == "b" {
			meta = func(m []dcKV) error {
				if len(m) != 2 || m[0] != (dcKV{"report_id", dcReportB}) || m[1].Key != "run_id" || !runs[fmt.Sprint(m[1].Value)] {
					return fmt.Errorf("metadata %v", m)
				}
				return nil
			}
		}
		dcCheckExactlyOnce(t, name, recs, want, meta)
	}
}

func TestFluentBitDigicertInputs(t *testing.T) {
	bin := dcFluentBit(t)
	so := dcPlugin(t)
	for _, mode := range []string{"-e", "plugins_file"} {
		t.Run(mode, func(t *testing.T) {
			sim, url := dcSim(t, nil)
			truth := sim.GroundTruth()
			dir := t.TempDir()
			var fb *dcFB
			if mode == "-e" {
				fb = dcStartFB(t, bin, "-e", so, "-c", dcFBConfig(t, dir, url, "", ""))
			} else {
				plugins := filepath.Join(dir, "plugins.conf")
				if err := os.WriteFile(plugins, []byte("[PLUGINS]\n    Path "+so+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				fb = dcStartFB(t, bin, "-c", dcFBConfig(t, dir, url, "    plugins_file plugins.conf\n", ""))
			}
			log := fb.drain(t, dir, len(truth))

			dcCheckFBOutputs(t, dir, sim, truth)

			// Two instances, each with its own id and its own log level
			// (debug only for a), each stopped by its own FLBPluginExit.
			dcLogHas(t, log, "[in_digicert#1] started report_id="+dcReportA, "[in_digicert#2] started report_id="+dcReportB,
				"[debug] [in_digicert#1]", "[in_digicert#1] stopped", "[in_digicert#2] stopped")
			if strings.Contains(log, "[debug] [in_digicert#2]") {
				t.Error("instance b logged at debug although its log_level is info")
			}
			if regexp.MustCompile(`\[error\]|panic|could not enqueue`).MatchString(log) {
				t.Errorf("errors in the log")
			}
			if strings.Contains(log, dcAPIKey) {
				t.Error("the API key was printed")
			}
			if t.Failed() {
				t.Logf("fluent-bit log:\n%s", log)
			}
		})
	}
}

// A configuration error stops Fluent Bit at start with the plugin's message,
// which names the key and never shows the secret.
func TestFluentBitDigicertBadConfig(t *testing.T) {
	bin := dcFluentBit(t)
	so := dcPlugin(t)
	_, url := dcSim(t, func(c *digicertsim.Config) {})
	for _, c := range []struct {
		name, lines, want string
	}{
		{"no report_id", "    api_key ${DC_KEY}\n", `report_id: required`},
		// Checked with DigiCert at start: Fluent Bit stops at once.
		{"wrong key", "    api_key dc-wrong-key-0123456789\n    report_id " + dcReportA + "\n", `DigiCert rejected the API key: check api_key/api_key_file`},
		{"unknown report", "    api_key ${DC_KEY}\n    report_id 00000000-0000-0000-0000-000000000000\n", `report not found: check report_id`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "fluent-bit.conf")
			body := "[SERVICE]\n    flush 1\n    grace 1\n[INPUT]\n    name digicert\n" + c.lines + "    api_base " + url +
				"\n    state_file " + filepath.Join(dir, "x.state") + "\n[OUTPUT]\n    name null\n    match *\n"
			if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			fb := dcStartFB(t, bin, "-e", so, "-c", conf)
			log := fb.mustFailStart(t, "an invalid input")
			if !regexp.MustCompile(`\[error\] \[in_digicert#1\] ` + regexp.QuoteMeta(c.want)).MatchString(log) {
				t.Errorf("no error line %q:\n%s", c.want, log)
			}
			if strings.Contains(log, dcAPIKey) {
				t.Error("the API key was printed")
			}
		})
	}
}

// A hot reload (SIGHUP with -Y): the Go runtime and the plugin's globals
// survive, the old instances exit, new ones start from the same state files
// and ship only events that are new.
func TestFluentBitDigicertHotReload(t *testing.T) {
	bin := dcFluentBit(t)
	so := dcPlugin(t)
	sim, url := dcSim(t, nil)
	first := sim.GroundTruth()
	dir := t.TempDir()
	fb := dcStartFB(t, bin, "-Y", "-e", so, "-c", dcFBConfig(t, dir, url, "", ""))
	dcWaitFile(t, fb, filepath.Join(dir, "a.msgpack"), len(first))
	dcWaitFile(t, fb, filepath.Join(dir, "b.msgpack"), len(first))
	sim.Advance(30 * time.Minute)
	truth := sim.GroundTruth()
	if err := fb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	log := fb.drain(t, dir, len(truth))
	dcLogHas(t, log, "successful reload done", "[in_digicert#3] started", "[in_digicert#4] started", "[in_digicert#1] stopped", "[in_digicert#4] stopped")
	dcCheckFBOutputs(t, dir, sim, truth)
	if t.Failed() {
		t.Logf("fluent-bit log:\n%s", log)
	}
}

// Backpressure in real Fluent Bit: a mem_buf_limit below what one callback
// hands over makes Fluent Bit pause each instance after every callback and
// resume it after the flush. Each pause reaches that instance's own engine
// (Fluent Bit calls the pause callback on the instance's thread), and every
// event still arrives exactly once.
func TestFluentBitDigicertBackpressure(t *testing.T) {
	bin := dcFluentBit(t)
	so := dcPlugin(t)
	sim, url := dcSim(t, func(c *digicertsim.Config) {
		c.Backlog = time.Hour
		c.EventsPerHour = 1000
	})
	truth := sim.GroundTruth()
	dir := t.TempDir()
	extra := "    max_bytes_per_collect 64K\n    mem_buf_limit 40K\n    log_level debug\n"
	fb := dcStartFB(t, bin, "-e", so, "-c", dcFBConfig(t, dir, url, "", extra))
	log := fb.drain(t, dir, len(truth))
	// Fluent Bit's instance digicert.N is our #N+1 (same init order); the
	// paused/resumed lines come from that instance's own logger.
	dcLogHas(t, log, "digicert.0 paused (mem buf overlimit", "digicert.1 paused (mem buf overlimit",
		"[in_digicert#1] paused", "[in_digicert#1] resumed", "[in_digicert#2] paused", "[in_digicert#2] resumed")
	t.Logf("Fluent Bit paused the inputs %d times for mem_buf_limit", strings.Count(log, "paused (mem buf overlimit"))
	dcCheckFBOutputs(t, dir, sim, truth)
	if strings.Contains(log, "could not enqueue") {
		t.Error("Fluent Bit's ring buffer dropped records")
	}
	if t.Failed() {
		t.Logf("fluent-bit log:\n%s", log)
	}
}

// A Fluent Bit that died is seen as gone before anyone waits for it, so the
// wait loops above fail at once rather than after their deadline.
func TestFluentBitGoneWithoutWait(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	fb := dcStartFB(t, sh, "-c", "exit 3")
	deadline := time.Now().Add(10 * time.Second)
	for !fb.gone() {
		if time.Now().After(deadline) {
			t.Fatal("an exited process is not seen as gone")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := fb.cmd.Wait(); err == nil || fb.cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("exit: %v", err)
	}
	running := dcStartFB(t, sh, "-c", "exec sleep 30")
	time.Sleep(100 * time.Millisecond)
	if running.gone() {
		t.Error("a running process is seen as gone")
	}
}
