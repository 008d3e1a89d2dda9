package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Artifacts for the host tests, built once per test binary: c-shared Go
// builds take about a minute on this machine. $PLUGIN_DIR, when set, provides
// in_digicert.so already built (e.g. by make).

var dcTools struct {
	once sync.Once
	dir  string
	root string
	err  error

	mu    sync.Mutex
	built map[string]*dcBuild
}

type dcBuild struct {
	once sync.Once
	path string
	err  error
}

func dcToolDir(t testing.TB) (dir, root string) {
	t.Helper()
	dcTools.once.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			dcTools.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		dcTools.root = filepath.Dir(strings.TrimSpace(string(out)))
		dcTools.dir, dcTools.err = dcTempDir()
		dcTools.built = map[string]*dcBuild{}
	})
	if dcTools.err != nil {
		t.Fatal(dcTools.err)
	}
	return dcTools.dir, dcTools.root
}

// dcTempDir makes this process's artifact directory. The package has no
// TestMain to remove it at the end (the file is shared with other tests),
// so directories of test processes that have exited are removed here.
func dcTempDir() (string, error) {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "dc-host-tests-*"))
	for _, d := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "dc-host-tests-"))
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("dc-host-tests-%d", os.Getpid()))
	return dir, os.MkdirAll(dir, 0o755)
}

// dcArtifact builds name once with make (which returns the output path).
func dcArtifact(t testing.TB, name string, make func(dir, root string) (string, error)) string {
	t.Helper()
	dir, root := dcToolDir(t)
	dcTools.mu.Lock()
	b := dcTools.built[name]
	if b == nil {
		b = &dcBuild{}
		dcTools.built[name] = b
	}
	dcTools.mu.Unlock()
	b.once.Do(func() { b.path, b.err = make(dir, root) })
	if b.err != nil {
		if msg, ok := strings.CutPrefix(b.err.Error(), "skip: "); ok {
			t.Skip(msg)
		}
		t.Fatal(b.err)
	}
	return b.path
}

func dcRun(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// The host tests run on another architecture (make test-arm64) with:
//
//	HOST_CC       the C compiler for flbhost and the C self-test plugins
//	              (e.g. aarch64-linux-gnu-gcc; default cc)
//	HOST_WRAPPER  the program that runs what HOST_CC made
//	              (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu")
//	PLUGIN_DIR    the plugins built for that architecture
//
// so the same tests, with the same checks, drive the cross-built plugins.

// hostCC is the C compiler for everything the host loads or is.
func hostCC() string {
	if cc := os.Getenv("HOST_CC"); cc != "" {
		return cc
	}
	return "cc"
}

// hostWrapper is the command line that runs the host ("" runs it directly).
func hostWrapper() []string { return strings.Fields(os.Getenv("HOST_WRAPPER")) }

// hostCross reports whether the host is built for another architecture, so
// nothing may be built with the native Go toolchain for it.
func hostCross() bool { return os.Getenv("HOST_CC") != "" || len(hostWrapper()) > 0 }

// hostCCOrSkip returns the C compiler, or skips (native) / fails (a
// HOST_CC that was asked for and is missing).
func hostCCOrSkip(what string) (string, error) {
	cc := hostCC()
	if _, err := exec.LookPath(cc); err != nil {
		if os.Getenv("HOST_CC") != "" {
			return "", fmt.Errorf("HOST_CC=%s not found to build %s", cc, what)
		}
		return "", fmt.Errorf("skip: no C compiler (cc) to build %s", what)
	}
	return cc, nil
}

// dcHostBin is test/host/flbhost built with hostCC.
func dcHostBin(t testing.TB) string {
	return dcArtifact(t, "flbhost", func(dir, root string) (string, error) {
		cc, err := hostCCOrSkip("test/host/flbhost.c")
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, "flbhost")
		return out, dcRun(root, nil, cc, "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread", "-rdynamic",
			"-o", out, filepath.Join("test", "host", "flbhost.c"), "-ldl")
	})
}

// dcPlugin is in_digicert.so, from $PLUGIN_DIR or built here.
func dcPlugin(t testing.TB) string { return builtPlugin(t, "in_digicert.so", "./plugin/in_digicert") }

// builtPlugin returns the plugin so from $PLUGIN_DIR (make test builds it
// there) or builds package pkg into it once per test run.
func builtPlugin(t testing.TB, so, pkg string) string {
	return dcArtifact(t, so, func(dir, root string) (string, error) {
		if d := os.Getenv("PLUGIN_DIR"); d != "" {
			p := filepath.Join(d, so)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		if hostCross() {
			return "", fmt.Errorf("no %s in PLUGIN_DIR=%q: a cross-architecture host run needs the plugins built for it (make build-linux-ARCH)", so, os.Getenv("PLUGIN_DIR"))
		}
		out := filepath.Join(dir, so)
		return out, dcRun(root, []string{"CGO_ENABLED=1"}, "go", "build", "-buildmode=c-shared", "-o", out, pkg)
	})
}

// dcCPlugin compiles a self-test plugin from test/host/testdata with the
// given -D variants.
func dcCPlugin(t testing.TB, src string, defines ...string) string {
	name := strings.TrimSuffix(src, ".c") + strings.Join(defines, "") + ".so"
	return dcArtifact(t, name, func(dir, root string) (string, error) {
		cc, err := hostCCOrSkip(src)
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, name)
		args := []string{"-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"}
		for _, d := range defines {
			args = append(args, "-D"+d)
		}
		args = append(args, "-o", out, filepath.Join("test", "host", "testdata", src))
		return out, dcRun(root, nil, cc, args...)
	})
}

// dcInstance is one -i section of a host run.
type dcInstance struct {
	Name  string
	Props []string // key=value
}

// dcHost is a running flbhost: commands go to stdin, events come from stdout.
type dcHost struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	outDir  string
	stderr  *dcLockedBuffer
	events  []string
	cancel  context.CancelFunc
	waitErr error
	done    bool
	// exited is closed when the host's stdout ends, i.e. when it has died
	// or exited: waits on files must stop then, not run out their timeout.
	exited chan struct{}
}

// dcHostTimeout bounds a whole host run so a hang fails instead of stalling.
const dcHostTimeout = 4 * time.Minute

// dcStartHost starts flbhost in mode with the plugin and instances. wrap,
// when not empty, runs the host under another program (valgrind).
func dcStartHost(t *testing.T, mode, plugin string, periodMS int, instances []dcInstance, wrap ...string) *dcHost {
	t.Helper()
	return dcStartHostArgs(t, mode, plugin, periodMS, nil, instances, wrap...)
}

// dcStartHostArgs is dcStartHost with extra host options (-R, -M).
func dcStartHostArgs(t *testing.T, mode, plugin string, periodMS int, hostArgs []string, instances []dcInstance, wrap ...string) *dcHost {
	t.Helper()
	host := dcHostBin(t)
	outDir := t.TempDir()
	args := []string{mode, "-e", plugin, "-o", outDir, "-P", strconv.Itoa(periodMS)}
	if mode != "input" {
		args = []string{mode, "-e", plugin}
	}
	args = append(args, hostArgs...)
	for _, in := range instances {
		args = append(args, "-i", in.Name)
		for _, p := range in.Props {
			args = append(args, "-p", p)
		}
	}
	if len(wrap) == 0 {
		wrap = hostWrapper()
	}
	if len(wrap) > 0 {
		args = append(append(wrap[1:len(wrap):len(wrap)], host), args...)
		host = wrap[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), dcHostTimeout)
	h := &dcHost{t: t, cmd: exec.CommandContext(ctx, host, args...), lines: make(chan string, 1024),
		outDir: outDir, stderr: &dcLockedBuffer{}, cancel: cancel, exited: make(chan struct{})}
	h.cmd.Stderr = h.stderr
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start flbhost: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		close(h.exited)
	}()
	t.Cleanup(func() {
		if !h.done {
			h.cancel()
			_ = h.cmd.Wait()
		}
	})
	return h
}

// next returns the next event matching re (all events are kept).
func (h *dcHost) next(re string) []string {
	h.t.Helper()
	rx := regexp.MustCompile(re)
	for line := range h.lines {
		h.events = append(h.events, line)
		if m := rx.FindStringSubmatch(line); m != nil {
			return m
		}
	}
	h.t.Fatalf("flbhost ended before an event matching %q\nevents: %q\nstderr:\n%s", re, h.events, dcReadableLog(h.stderr.String()))
	return nil
}

// send writes one command and waits for its "ok" (or fails on "error").
func (h *dcHost) send(command string) {
	h.t.Helper()
	if _, err := io.WriteString(h.stdin, command+"\n"); err != nil {
		h.t.Fatalf("send %q: %v", command, err)
	}
	verb := strings.Fields(command)[0]
	m := h.next(`^(ok ` + regexp.QuoteMeta(verb) + `|error .*)$`)
	if strings.HasPrefix(m[0], "error") {
		h.t.Fatalf("flbhost: %q: %s", command, m[0])
	}
}

// finish sends EOF (exit), waits, and returns every event.
func (h *dcHost) finish() []string {
	h.t.Helper()
	h.stdin.Close()
	for line := range h.lines {
		h.events = append(h.events, line)
	}
	h.waitErr = h.cmd.Wait()
	h.done = true
	h.cancel()
	return h.events
}

// file returns what the host wrote for instance name (kind "" or "dropped").
func (h *dcHost) file(name, kind string) []byte {
	h.t.Helper()
	p := filepath.Join(h.outDir, name+".msgpack")
	if kind != "" {
		p = filepath.Join(h.outDir, name+"."+kind+".msgpack")
	}
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	return b
}

// records decodes what instance name was handed so far.
func (h *dcHost) records(name string) []dcRecord {
	h.t.Helper()
	recs, err := dcDecodeRecords(h.file(name, ""))
	if err != nil {
		h.t.Fatalf("instance %s: %v", name, err)
	}
	return recs
}

// waitRecords waits until instance name has been handed at least n records.
func (h *dcHost) waitRecords(name string, n int) []dcRecord {
	h.t.Helper()
	recs, err := h.awaitRecords(name, n, 2*time.Minute)
	if err != nil {
		h.t.Fatalf("instance %s: %v\nstderr:\n%s", name, err, h.stderr.String())
	}
	return recs
}

// awaitRecords polls for n records of instance name; it gives up after limit,
// or as soon as the host has exited with fewer.
func (h *dcHost) awaitRecords(name string, n int, limit time.Duration) ([]dcRecord, error) {
	deadline := time.Now().Add(limit)
	for {
		// The host may be in the middle of writing a buffer: a truncated
		// tail only means "not yet".
		recs, err := dcDecodeRecords(h.file(name, ""))
		if err == nil && len(recs) >= n {
			return recs, nil
		}
		select {
		case <-h.exited:
			// Everything it wrote is on disk now: one last look.
			if recs, err = dcDecodeRecords(h.file(name, "")); err == nil && len(recs) >= n {
				return recs, nil
			}
			return recs, fmt.Errorf("flbhost exited after %d of %d records%s", len(recs), n, dcDeathNote(h.stderr.String()))
		default:
		}
		if time.Now().After(deadline) {
			return recs, fmt.Errorf("%d of %d records after %s", len(recs), n, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dcEventGrammar is every line flbhost prints; anything else on stdout came
// from the plugin, which must never write there.
var dcEventGrammar = regexp.MustCompile(`^(memtrack (on|off)|preregister ret=-?\d+|register ret=.*|symbols .*|init \d+ ret=-?\d+|prerun \d+ ret=-?\d+|` +
	`collect \d+ ret=-?\d+ len=\d+( dropped| leaked)?|cleanup \d+ ret=-?\d+ freed=(yes|no|unknown)|(pause|resume) \d+ collector_of=-?\d+|` +
	`flush \d+ ret=-?\d+ result=\w+ bytes=\d+|preexit \d+|exit \d+ ret=-?\d+|summary \d+ .*|unregister|ok \w+|error .*|done status=\d+|` +
	`config \d+ unknown=.*|metric \d+ \w+\{.*\} \S+( late)?)$`)

// dcSummary parses the "summary I ..." event of instance i.
func dcSummary(t *testing.T, events []string, i int) map[string]int64 {
	t.Helper()
	prefix := fmt.Sprintf("summary %d ", i)
	for _, e := range events {
		if rest, ok := strings.CutPrefix(e, prefix); ok {
			m := map[string]int64{}
			for _, f := range strings.Fields(rest) {
				k, v, _ := strings.Cut(f, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("bad summary field %q", f)
				}
				m[k] = n
			}
			return m
		}
	}
	t.Fatalf("no summary for instance %d in %q", i, events)
	return nil
}

func dcCount(events []string, re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, e := range events {
		if rx.MatchString(e) {
			n++
		}
	}
	return n
}

// dcLockedBuffer collects stderr while tests read it.
type dcLockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *dcLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *dcLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// dcValgrind returns valgrind's path or skips the test.
func dcValgrind(t *testing.T) string {
	t.Helper()
	if w := hostWrapper(); len(w) > 0 {
		t.Skipf("valgrind cannot run a host that runs under %s; the host's own free() tracking covers buffer ownership there", w[0])
	}
	vg, err := exec.LookPath("valgrind")
	if err != nil {
		t.Skip("valgrind not installed; the host's own free() tracking covers buffer ownership")
	}
	return vg
}

// dcValgrindGo returns valgrind's path for a test that runs a Go plugin under
// it, or skips the test when valgrind cannot run Go code on this machine. On
// some CPUs valgrind 3.19 does not decode RDTSCP, which the Go runtime
// executes at start-up, and kills the program with SIGILL: a limit of the
// tool, not a fault of the plugin. Where the probe runs, the test stays strict.
func dcValgrindGo(t *testing.T) string {
	t.Helper()
	vg := dcValgrind(t)
	dcArtifact(t, "valgrind-go-probe", func(dir, root string) (string, error) {
		src := filepath.Join(dir, "vgprobe")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module vgprobe\n\ngo 1.21\n"), 0o644); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(dcValgrindProbeSrc), 0o644); err != nil {
			return "", err
		}
		bin := filepath.Join(dir, "vgprobe.bin")
		if err := dcRun(src, []string{"GOWORK=off", "GOFLAGS="}, "go", "build", "-o", bin, "."); err != nil {
			return "", err
		}
		if reason := dcValgrindRunsGo(vg, bin); reason != "" {
			return "", fmt.Errorf("skip: valgrind cannot run Go programs on this machine (%s); the host's own free() tracking still checks buffer ownership in the other host tests", reason)
		}
		return bin, nil
	})
	return vg
}

// dcValgrindProbeSrc prints a marker after the Go runtime has started (which
// executes RDTSCP where the CPU has it) and a goroutine has run.
const dcValgrindProbeSrc = `package main

import "fmt"

func main() {
	c := make(chan string)
	go func() { c <- "valgrind-go-probe ok" }()
	fmt.Println(<-c)
}
`

// dcValgrindRunsGo runs the probe under vg and returns why valgrind cannot
// run it, or "" when it ran to the end.
func dcValgrindRunsGo(vg, probe string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vg, "--error-limit=yes", probe)
	var stdout, stderr dcLockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return dcValgrindVerdict(stdout.String(), stderr.String(), err)
}

// dcValgrindVerdict reads one valgrind run of the probe.
func dcValgrindVerdict(stdout, log string, runErr error) string {
	if note := dcDeathNote(log); note != "" {
		return strings.TrimPrefix(note, ": ")
	}
	if runErr != nil {
		return fmt.Sprintf("the probe failed: %v", runErr)
	}
	if !strings.Contains(stdout, "valgrind-go-probe ok") {
		return "the probe printed nothing"
	}
	return ""
}

var dcUnhandledRx = regexp.MustCompile(`unhandled instruction bytes: ((0x[0-9A-Fa-f]+ ?){1,8})`)

// dcDeathNote names the reason valgrind gives for killing the program it
// runs, or "" when its log shows none.
func dcDeathNote(log string) string {
	if m := dcUnhandledRx.FindStringSubmatch(log); m != nil {
		return ": valgrind does not decode the instruction " + strings.TrimSpace(m[1]) + " and killed the program with SIGILL"
	}
	if strings.Contains(log, "(SIGILL)") {
		return ": the program died with SIGILL under valgrind"
	}
	return ""
}

func dcValgrindArgs(vg string) []string {
	return []string{vg, "--leak-check=full", "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"}
}

var dcValgrindLineRx = regexp.MustCompile(`^==\d+==`)

// dcReadableLog puts the host's and the plugin's own lines first and keeps
// only the end of valgrind's: under valgrind the Go runtime makes thousands
// of lines of noise that would otherwise push the plugin's error (the reason
// a test failed) out of a truncated CI log.
func dcReadableLog(log string) string {
	var own, vg []string
	for _, l := range strings.Split(log, "\n") {
		if dcValgrindLineRx.MatchString(l) {
			vg = append(vg, l)
		} else {
			own = append(own, l)
		}
	}
	if len(vg) == 0 {
		return log
	}
	const keep = 60
	var b strings.Builder
	b.WriteString(strings.Join(own, "\n"))
	fmt.Fprintf(&b, "\n--- valgrind's own lines: %d", len(vg))
	if len(vg) > keep {
		fmt.Fprintf(&b, ", the last %d", keep)
		vg = vg[len(vg)-keep:]
	}
	b.WriteString(":\n" + strings.Join(vg, "\n"))
	return b.String()
}

// dcAround returns up to n bytes of log on each side of the first match of
// what, so a valgrind error is shown with its stack.
func dcAround(log, what string, n int) string {
	i := strings.Index(log, what)
	if i < 0 {
		return ""
	}
	return log[max(0, i-n):min(len(log), i+len(what)+n)]
}

var dcLostRx = regexp.MustCompile(`definitely lost: ([\d,]+) bytes in ([\d,]+) blocks`)

// dcDefinitelyLost reads valgrind's leak summary: bytes definitely lost, and
// whether a leak summary was printed at all ("All heap blocks were freed"
// counts as zero).
func dcDefinitelyLost(log string) (int64, bool) {
	if strings.Contains(log, "All heap blocks were freed -- no leaks are possible") {
		return 0, true
	}
	m := dcLostRx.FindStringSubmatch(log)
	if m == nil {
		return 0, strings.Contains(log, "LEAK SUMMARY")
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	return n, err == nil
}
