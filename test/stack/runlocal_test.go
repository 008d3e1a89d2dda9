package stack

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeFluentBit stands in for Fluent Bit in `make run`: it notes that it
// started and how it was stopped.
const fakeFluentBit = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "Fluent Bit v0.0.0 (stand-in)"; exit 0; fi
trap 'echo stopped-by-TERM >>"$FAKE_FB_LOG"; exit 0' TERM
echo "started $*" >>"$FAKE_FB_LOG"
while :; do sleep 0.1; done
`

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestRunLocal runs `make run`'s script with a stand-in Fluent Bit: the
// read-back command it prints must work in a new terminal (another
// directory, none of the script's variables), and Ctrl-C (SIGINT to the
// terminal's process group) must stop everything promptly.
func TestRunLocal(t *testing.T) {
	vgw := os.Getenv("VERSITYGW_BIN")
	build := os.Getenv("PLUGIN_DIR")
	if vgw == "" || build == "" {
		t.Skip("needs VERSITYGW_BIN and PLUGIN_DIR with digicert-sim (make test sets both)")
	}
	if _, err := os.Stat(filepath.Join(build, "digicert-sim")); err != nil {
		t.Skipf("no digicert-sim in PLUGIN_DIR=%s (make build makes it)", build)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("make run needs curl")
	}
	tmp := t.TempDir()
	fb := filepath.Join(tmp, "fluent-bit")
	if err := os.WriteFile(fb, []byte(fakeFluentBit), 0o755); err != nil {
		t.Fatal(err)
	}
	fbLog := filepath.Join(tmp, "fb.log")
	simPort, s3Port, httpPort := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command("bash", "test/run-local")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "FLUENT_BIT_BIN="+fb, "FAKE_FB_LOG="+fbLog, "BUILD="+build, "RUN_DIR="+filepath.Join(tmp, "run"),
		"VERSITYGW_BIN="+vgw, "SIM_PORT="+simPort, "S3_PORT="+s3Port, "FB_HTTP_PORT="+httpPort)
	// Its own process group, as a terminal gives a foreground job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	var out []string
	peek := ""
	deadline := time.After(3 * time.Minute)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("run-local ended before it was ready:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
			}
			out = append(out, l)
			if _, c, ok := strings.Cut(l, "the objects:"); ok {
				peek = strings.TrimSpace(c)
			}
			ready = strings.Contains(l, "Press Ctrl-C to stop.")
		case <-deadline:
			t.Fatalf("run-local not ready after 3 minutes:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
		}
	}
	text := strings.Join(out, "\n")
	if peek == "" {
		t.Fatalf("run-local printed no command to see the objects:\n%s", text)
	}
	for _, want := range []string{"http://127.0.0.1:" + httpPort + "/api/v2/metrics/prometheus", peek + " -cat"} {
		if !strings.Contains(text, want) {
			t.Errorf("run-local does not print %q:\n%s", want, text)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(tmp, "run", "fluent-bit.yaml"))
	if err != nil || !strings.Contains(string(cfg), "http_port: "+httpPort) {
		t.Errorf("the config run-local wrote does not use http_port %s (%v)", httpPort, err)
	}

	// A new terminal: another directory, only the login basics.
	newTerm := exec.Command("bash", "-c", peek)
	newTerm.Dir = t.TempDir()
	for _, k := range []string{"PATH", "HOME", "GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOTOOLCHAIN", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			newTerm.Env = append(newTerm.Env, k+"="+v)
		}
	}
	if b, err := newTerm.CombinedOutput(); err != nil {
		t.Errorf("the printed command fails in a new terminal: %v\n$ %s\n%s", err, peek, b)
	}

	// Ctrl-C.
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(fbLog); strings.Contains(string(b), "started") {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("the stand-in Fluent Bit never started")
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	var rest []string
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("run-local still running 30 s after Ctrl-C\n%s", stderr.String())
	}
	for l := range lines {
		rest = append(rest, l)
	}
	if !strings.Contains(strings.Join(rest, "\n"), "run-local: stopped.") {
		t.Errorf("no stop message after Ctrl-C: %q", rest)
	}
	if b, _ := os.ReadFile(fbLog); !strings.Contains(string(b), "stopped-by-TERM") {
		t.Errorf("Fluent Bit was not asked to stop (SIGTERM): %s", b)
	}
	for _, port := range []string{simPort, s3Port} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			t.Errorf("port %s still served after Ctrl-C: a process was left running", port)
		}
	}
}
