// Command benchfb is `make bench-fluentbit`: the whole pipeline inside real
// Fluent Bit, measured as a user runs it. It starts the DigiCert simulator
// with a zipped report of -rows rows, versitygw, and Fluent Bit with the
// shipped fluent-bit.yaml (only paths and ports rewritten), and prints for
//
//   - backfill: every row new; seconds from the first report download to the
//     last object stored in S3, rows/s, Fluent Bit's peak RSS and CPU
//     seconds, objects, and lost/duplicate rows against the simulator's
//     ground truth;
//   - steady state: a new Fluent Bit process on the same state runs the same
//     report again, every row shipped before: seconds from the download to
//     the input's "run shipped" line, peak RSS, CPU seconds, new objects;
//   - small: the simulated clock moves on until ~1,000 new rows exist, and a
//     new Fluent Bit on the same state runs the report (an hourly run of a
//     busy account): seconds from the download to the last new object, and
//     its peak RSS next to the steady state's;
//   - hourly: the same backfill and small run on a quiet account, whose
//     24-hour window holds ~24,000 rows, so the run finds ~1,000 new rows
//     an hour later (the backfill of this account is not printed);
//   - limit: the same rows, encoded beforehand, handed to Fluent Bit by a
//     trivial Go input (limitin) at the same per-collect size into the null
//     output, with the same service and storage settings.
//
// It is a program, not a test, so `go test ./...` never runs it. It needs
// FLUENT_BIT_BIN and the built plugins (make build) and versitygw (make
// versitygw); without FLUENT_BIT_BIN it says so and exits 0.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

const (
	apiKey    = "benchfb-key-not-secret"
	reportID  = digicertsim.DefaultReportID
	bucket    = "digicert-logs"
	accessKey = "benchaccesskey"
	secretKey = "benchsecretkey123"
)

type options struct {
	fb, plugins, vgw, config, work string
	rows, perCollect, runs         int
	hourlyRows                     int
	phases                         string
	hourly                         bool // this pass is the hourly phase's account
	keep                           bool
	perf                           bool
	timeout                        time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.fb, "fluent-bit", os.Getenv("FLUENT_BIT_BIN"), "Fluent Bit binary (default $FLUENT_BIT_BIN)")
	flag.StringVar(&o.plugins, "plugins", "build", "directory holding in_digicert.so and out_secops_s3.so")
	flag.StringVar(&o.vgw, "versitygw", filepath.Join(os.Getenv("HOME"), ".cache/s3bin/versitygw"), "versitygw binary")
	flag.StringVar(&o.config, "config", "fluent-bit.yaml", "Fluent Bit configuration to measure (YAML, with the shipped paths)")
	flag.StringVar(&o.work, "work", "", "working directory (default: a new temporary one, removed unless -keep)")
	flag.IntVar(&o.rows, "rows", 1_000_000, "about this many rows in the report")
	flag.IntVar(&o.perCollect, "limit-per-collect", 0, "bytes per collect of the limit input (default: the config's max_bytes_per_collect, else the input's default)")
	flag.IntVar(&o.runs, "runs", 1, "measure this many times (each with fresh state)")
	flag.StringVar(&o.phases, "phases", "backfill,steady,small,hourly,limit", "what to measure")
	flag.IntVar(&o.hourlyRows, "hourly-rows", 24_000, "rows in the 24-hour window of the hourly phase's account")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, objects)")
	flag.BoolVar(&o.perf, "perf", false, "record each phase with perf (cpu-clock) into the working directory; build the plugins unstripped to see Go symbols")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up on a phase after this long")
	flag.Parse()
	if o.fb == "" {
		fmt.Println("bench-fluentbit: skipped: set FLUENT_BIT_BIN to a Fluent Bit (5.1 or newer) binary")
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-fluentbit:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	for _, p := range []string{o.fb, o.vgw, filepath.Join(o.plugins, "in_digicert.so"), filepath.Join(o.plugins, "out_secops_s3.so")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (make build versitygw builds the plugins and versitygw)", err)
		}
	}
	var err error
	perfOut = o.perf
	if o.plugins, err = filepath.Abs(o.plugins); err != nil {
		return err
	}
	shipped, err := os.ReadFile(o.config)
	if err != nil {
		return err
	}
	if o.perCollect == 0 {
		o.perCollect = configPerCollect(string(shipped))
	}
	fmt.Printf("machine: %s, %d CPUs, load average %s\n", cpuModel(), runtime.NumCPU(), loadAvg())
	fmt.Printf("fluent-bit: %s; config: %s\n", fbVersion(o.fb), o.config)
	for i := 0; i < o.runs; i++ {
		if err := runOnce(o, string(shipped), i); err != nil {
			return err
		}
		if phaseSet(o.phases)["hourly"] {
			h := o
			h.rows, h.phases, h.hourly = o.hourlyRows, "backfill,small", true
			if err := runOnce(h, string(shipped), i); err != nil {
				return err
			}
		}
	}
	return nil
}

func runOnce(o options, shipped string, n int) error {
	work := o.work
	if work != "" && o.runs > 1 {
		work = filepath.Join(work, fmt.Sprintf("run-%d", n+1)) // fresh state every run
	}
	if work != "" && o.hourly {
		work = filepath.Join(work, "hourly")
	}
	if work == "" {
		d, err := os.MkdirTemp("", "benchfb-")
		if err != nil {
			return err
		}
		work = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	}
	fmt.Printf("work directory: %s\n", work)
	vgw, err := startVersity(o.vgw, filepath.Join(work, "s3"))
	if err != nil {
		return err
	}
	defer vgw.stop()

	sim, err := startSim(o.rows)
	if err != nil {
		return err
	}
	defer sim.close()
	kind := "JSON"
	if bytes.HasPrefix(sim.body, []byte("PK")) {
		kind = "zipped"
	}
	fmt.Printf("report: %d rows, %.1f MB %s\n", len(sim.truth), float64(len(sim.body))/1e6, kind)

	rows := sim.truth // the small phase moves the report on; the limit hands these
	want := phaseSet(o.phases)
	env := append(os.Environ(),
		"IN_DIGICERT_MEMSTATS="+filepath.Join(work, "in_digicert.mem"),
		"OUT_SECOPS_S3_MEMSTATS="+filepath.Join(work, "out_secops_s3.mem"),
		"DIGICERT_API_KEY="+apiKey, "DIGICERT_REPORT_ID="+reportID, "DIGICERT_API_BASE="+sim.url,
		"DIGICERT_INTERVAL=1h", "S3_BUCKET="+bucket, "S3_ENDPOINT="+vgw.endpoint,
		"AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey, "AWS_REGION=us-east-1")
	cfg := strings.NewReplacer(
		"/fluent-bit/plugins/", o.plugins+"/",
		"/var/lib/fluent-bit/", work+"/",
	).Replace(shipped)
	cfgPath := filepath.Join(work, "fluent-bit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	for _, d := range []string{"state", "storage"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return err
		}
	}
	if want["backfill"] || want["steady"] {
		r, err := backfill(o, sim, vgw, cfgPath, env, work)
		if err != nil {
			return err
		}
		if !o.hourly {
			r.print("backfill")
			r.check(8, 0, 300)
		}
		if want["steady"] {
			r, err := steady(o, sim, vgw, cfgPath, env, work)
			if err != nil {
				return err
			}
			r.print("steady state")
			r.check(0, 2, 80)
		}
		if want["small"] {
			r, err := small(o, sim, vgw, cfgPath, env, work)
			if err != nil {
				return err
			}
			if o.hourly {
				r.print(fmt.Sprintf("hourly run (%d-row window)", len(sim.truth)))
			} else {
				r.print("small run")
			}
			r.check(2, 0, 0)
		}
	}
	if want["limit"] {
		r, err := limit(o, rows, cfg, work)
		if err != nil {
			return err
		}
		r.print(fmt.Sprintf("limit (trivial Go input, %d bytes per collect, null output)", o.perCollect))
	}
	return nil
}

// result is one phase's figures.
type result struct {
	rows           int
	seconds        float64
	cpu            float64
	peakRSS        int64 // bytes
	objects        int
	lost, dup      int
	extra          string
	checkedAgainst int
	threads        string
}

// check prints the targets for a phase (0: none) and whether they
// held: time from download to last object, CPU seconds, peak RSS in MiB, and
// nothing lost or duplicated.
func (r result) check(maxSec, maxCPU, maxRSS float64) {
	var parts []string
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	if maxSec > 0 {
		parts = append(parts, fmt.Sprintf("time ≤ %g s %s", maxSec, mark(r.seconds <= maxSec)))
	}
	if maxCPU > 0 {
		parts = append(parts, fmt.Sprintf("CPU ≤ %g s %s", maxCPU, mark(r.cpu <= maxCPU)))
	}
	if maxRSS > 0 {
		parts = append(parts, fmt.Sprintf("RSS ≤ %g MiB %s", maxRSS, mark(float64(r.peakRSS)/(1<<20) <= maxRSS)))
	}
	if r.checkedAgainst > 0 {
		parts = append(parts, "0 lost, 0 duplicates "+mark(r.lost == 0 && r.dup == 0))
	}
	fmt.Printf("%-14s targets: %s\n", "", strings.Join(parts, "; "))
}

func (r result) print(phase string) {
	fmt.Printf("%-14s %9d rows  %6.2f s  %9.0f rows/s  CPU %6.2f s  peak RSS %6.1f MiB", phase+":", r.rows, r.seconds, float64(r.rows)/max(r.seconds, 1e-9), r.cpu, float64(r.peakRSS)/(1<<20))
	if r.checkedAgainst > 0 {
		fmt.Printf("  objects %d  lost %d  duplicates %d", r.objects, r.lost, r.dup)
	}
	if r.extra != "" {
		fmt.Printf("  %s", r.extra)
	}
	fmt.Println()
	if r.threads != "" {
		fmt.Printf("%-14s CPU by thread: %s\n", "", r.threads)
	}
}

// backfill runs Fluent Bit on an empty state until every row is in S3.
func backfill(o options, sim *simulator, vgw *versity, cfgPath string, env []string, work string) (result, error) {
	sim.resetDownload()
	fb, err := startFB(o.fb, []string{"-c", cfgPath}, env, filepath.Join(work, "fluent-bit-backfill.log"))
	if err != nil {
		return result{}, err
	}
	defer fb.stop()
	n := len(sim.truth)
	if err := fb.waitFor("the backfill", o.timeout, 100*time.Millisecond, fb.stored("secops_s3", n)); err != nil {
		return result{}, err
	}
	st, err := fb.settle()
	if err != nil {
		return result{}, err
	}
	objs, err := vgw.objects(bucket)
	if err != nil {
		return result{}, err
	}
	last := time.Time{}
	for _, ob := range objs {
		if ob.mtime.After(last) {
			last = ob.mtime
		}
	}
	first := sim.firstDownload()
	lost, dup, rows, err := compare(objs, sim.truth)
	if err != nil {
		return result{}, err
	}
	return result{rows: rows, seconds: last.Sub(first).Seconds(), cpu: st.cpu, peakRSS: st.hwm, objects: len(objs),
		lost: lost, dup: dup, checkedAgainst: n, extra: goMemory(work), threads: st.threads}, nil
}

var runShipped = regexp.MustCompile(`run shipped.*emitted=(\d+) skipped_shipped=(\d+)`)

// steady runs a new Fluent Bit on the backfill's state: the report is run
// again and every row was shipped before.
func steady(o options, sim *simulator, vgw *versity, cfgPath string, env []string, work string) (result, error) {
	before, err := vgw.objects(bucket)
	if err != nil {
		return result{}, err
	}
	sim.resetDownload()
	fb, err := startFB(o.fb, []string{"-c", cfgPath}, env, filepath.Join(work, "fluent-bit-steady.log"))
	if err != nil {
		return result{}, err
	}
	defer fb.stop()
	var m []string
	startCPU := -1.0 // CPU spent before the report download: start-up and checkpoint load
	err = fb.waitFor(`the steady state's "run shipped"`, o.timeout, 20*time.Millisecond, func() bool {
		if startCPU < 0 && !sim.firstDownload().IsZero() {
			startCPU = fb.stats().cpu
		}
		m = fb.find(runShipped)
		return m != nil
	})
	if err != nil {
		return result{}, err
	}
	shippedAt := time.Now()
	st, err := fb.settle()
	if err != nil {
		return result{}, err
	}
	after, err := vgw.objects(bucket)
	if err != nil {
		return result{}, err
	}
	skipped, _ := strconv.Atoi(m[2])
	return result{rows: skipped, seconds: shippedAt.Sub(sim.firstDownload()).Seconds(), cpu: st.cpu, peakRSS: st.hwm, threads: st.threads,
		extra: fmt.Sprintf("emitted %s, new objects %d (CPU and RSS of the whole process, start included; CPU before the download %.2f s); %s", m[1], len(after)-len(before), startCPU, goMemory(work))}, nil
}

// small moves the simulated clock on until about 1,000 rows are new and runs
// a new Fluent Bit on the same state: only the new rows may be stored.
func small(o options, sim *simulator, vgw *versity, cfgPath string, env []string, work string) (result, error) {
	const newRows = 1000
	old := sim.truth
	last := old[len(old)-1].Time
	perSec := float64(len(old)) / (24 * 3600)
	sim.sim.Advance(time.Duration(float64(newRows)/perSec) * time.Second)
	if err := sim.render(); err != nil {
		return result{}, err
	}
	var fresh []digicertsim.Event
	for _, e := range sim.truth {
		if e.Time.After(last) {
			fresh = append(fresh, e)
		}
	}
	before, err := vgw.objects(bucket)
	if err != nil {
		return result{}, err
	}
	seen := map[string]bool{}
	for _, ob := range before {
		seen[ob.path] = true
	}
	sim.resetDownload()
	fb, err := startFB(o.fb, []string{"-c", cfgPath}, env, filepath.Join(work, "fluent-bit-small.log"))
	if err != nil {
		return result{}, err
	}
	defer fb.stop()
	if err := fb.waitFor(fmt.Sprintf("the small run's %d new rows", len(fresh)), o.timeout, 50*time.Millisecond, fb.stored("secops_s3", len(fresh))); err != nil {
		return result{}, err
	}
	st, err := fb.settle()
	if err != nil {
		return result{}, err
	}
	after, err := vgw.objects(bucket)
	if err != nil {
		return result{}, err
	}
	var objs []object
	lastObj := time.Time{}
	for _, ob := range after {
		if !seen[ob.path] {
			objs = append(objs, ob)
			lastObj = maxTime(lastObj, ob.mtime)
		}
	}
	lost, dup, rows, err := compare(objs, fresh)
	if err != nil {
		return result{}, err
	}
	return result{rows: rows, seconds: lastObj.Sub(sim.firstDownload()).Seconds(), cpu: st.cpu, peakRSS: st.hwm, objects: len(objs),
		lost: lost, dup: dup, checkedAgainst: len(fresh), threads: st.threads, extra: goMemory(work)}, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// limit hands the same rows, encoded beforehand, to Fluent Bit through the
// trivial limitin input into the null output, with the shipped service
// section and filesystem storage.
func limit(o options, rows []digicertsim.Event, shippedCfg, work string) (result, error) {
	dir := filepath.Join(work, "limit")
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o755); err != nil {
		return result{}, err
	}
	so := filepath.Join(dir, "limitin.so")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", so, "./test/benchfb/limitin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return result{}, fmt.Errorf("building limitin: %w", err)
	}
	recs := filepath.Join(dir, "records.bin")
	if err := encodeRecords(recs, rows); err != nil {
		return result{}, err
	}
	cfg := fmt.Sprintf(`service:
%s
plugins:
  - %s
pipeline:
  inputs:
    - name: benchlimit
      tag: digicert.audit
      storage.type: filesystem
%s  outputs:
    - name: "null"
      match: "*"
`, serviceSection(shippedCfg, filepath.Join(dir, "storage")), so, threadedLine(shippedCfg))
	cfgPath := filepath.Join(dir, "fluent-bit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return result{}, err
	}
	env := append(os.Environ(), "BENCHFB_RECORDS="+recs, "BENCHFB_PER_COLLECT="+strconv.Itoa(o.perCollect))
	fb, err := startFB(o.fb, []string{"-c", cfgPath}, env, filepath.Join(dir, "fluent-bit.log"))
	if err != nil {
		return result{}, err
	}
	defer fb.stop()
	n := len(rows)
	if err := fb.waitFor("the limit run", o.timeout, 50*time.Millisecond, fb.stored("null", n)); err != nil {
		return result{}, err
	}
	done := time.Now()
	st := fb.stats()
	first := fb.find(regexp.MustCompile(`benchlimit: first collect (\d+)`))
	if first == nil {
		return result{}, fmt.Errorf("limit: no first collect in %s", fb.logPath)
	}
	ns, _ := strconv.ParseInt(first[1], 10, 64)
	if err := fb.stop(); err != nil {
		return result{}, err
	}
	return result{rows: n, seconds: done.Sub(time.Unix(0, ns)).Seconds(), cpu: st.cpu, peakRSS: st.hwm, threads: st.threads}, nil
}

// serviceSection is the shipped config's service block (indented lines
// after "service:"), with storage.path pointed at storage.
func serviceSection(cfg, storage string) string {
	var out []string
	in := false
	for _, line := range strings.Split(cfg, "\n") {
		switch {
		case strings.HasPrefix(line, "service:"):
			in = true
			continue
		case in && line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "#"):
			in = false
		}
		if !in || strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		k, _, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "storage.path" {
			line = "  storage.path: " + storage
		}
		if strings.HasPrefix(k, "http_") {
			continue // the harness sets its own monitoring port
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

var perCollectKey = regexp.MustCompile(`(?m)^\s*max_bytes_per_collect:\s*(\S+)`)

func configPerCollect(cfg string) int {
	if m := perCollectKey.FindStringSubmatch(cfg); m != nil {
		if n, err := flb.ParseSize("max_bytes_per_collect", m[1], digicertin.DefaultMaxBytesPerCollect); err == nil {
			return int(n)
		}
	}
	return digicertin.DefaultMaxBytesPerCollect
}

// encodeRecords writes each row as the record in_digicert would hand over
// (event time set from the row), end to end, and path.idx with the end
// offset of each.
func encodeRecords(path string, rows []digicertsim.Event) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var enc digicertin.RowEncoder
	var rec, idx []byte
	end := 0
	for _, e := range rows {
		rec = digicertin.AppendRecordHeader(rec[:0], time.Time{}, nil)
		rec, _, err = enc.AppendBody(rec, e.JSON)
		if err != nil {
			f.Close()
			return fmt.Errorf("encoding a row: %w", err)
		}
		digicertin.SetEventTime(rec, e.Time)
		w.Write(rec)
		end += len(rec)
		idx = binary.LittleEndian.AppendUint64(idx, uint64(end))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(path+".idx", idx, 0o644)
}

// --- the simulator ---

// simulator serves the report. The zipped body is rendered once before the
// measurement (DigiCert renders a report before it is READY; the simulator
// would otherwise compress it while Fluent Bit downloads), and every run of
// the report (the clock stands still, so every run has the same rows) gets
// those bytes.
type simulator struct {
	sim   *digicertsim.Server
	srv   *httptest.Server
	url   string
	truth []digicertsim.Event
	body  []byte
	hdr   http.Header

	mu    sync.Mutex
	first time.Time
}

func startSim(rows int) (*simulator, error) {
	s := &simulator{sim: digicertsim.New(digicertsim.Config{
		APIKey: apiKey, Seed: 1, Window: 24 * time.Hour, Backlog: 24 * time.Hour,
		EventsPerHour: rows / 24, NoScheduledEntries: true, Reports: []string{reportID},
		// One file, as the 1,000,000-row report (DigiCert splits
		// at 1,000,000 rows; the generator makes a few more).
		SplitRows: max(2*rows, 1_000_000),
	})}
	if err := s.render(); err != nil {
		return nil, err
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.url = s.srv.URL
	return s, nil
}

// render makes a run of the report now and keeps its body and rows.
func (s *simulator) render() error {
	runID := s.sim.Schedule(reportID)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/reports/v1/report/"+reportID+"/"+runID+"/json", nil)
	req.Header.Set("X-DC-DEVKEY", apiKey)
	s.sim.ServeHTTP(rec, req)
	if rec.Code != 200 {
		return fmt.Errorf("simulator: rendering the report: status %d", rec.Code)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.hdr = rec.Body.Bytes(), rec.Header().Clone()
	s.truth = s.sim.RunEvents(runID)
	return nil
}

func (s *simulator) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/reports/v1/report/"+reportID+"/") &&
		strings.HasSuffix(r.URL.Path, "/json") && r.Header.Get("X-DC-DEVKEY") == apiKey {
		s.mu.Lock()
		if s.first.IsZero() {
			s.first = time.Now()
		}
		body, hdr := s.body, s.hdr
		s.mu.Unlock()
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	s.sim.ServeHTTP(w, r)
}

func (s *simulator) resetDownload() {
	s.mu.Lock()
	s.first = time.Time{}
	s.mu.Unlock()
}

func (s *simulator) firstDownload() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

func (s *simulator) close() { s.srv.Close() }

// --- versitygw ---

type versity struct {
	cmd      *exec.Cmd
	dir      string
	endpoint string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startVersity(bin, dir string) (*versity, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	v := &versity{dir: dir, endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}
	v.cmd = exec.Command(bin, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--health", "/health", "--quiet", "posix", dir)
	v.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+accessKey, "ROOT_SECRET_KEY="+secretKey)
	v.cmd.Stderr = os.Stderr
	if err := v.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		resp, err := http.Get(v.endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			v.stop()
			return nil, fmt.Errorf("versitygw did not start: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cli := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(v.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
	if _, err := cli.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		v.stop()
		return nil, fmt.Errorf("creating bucket: %w", err)
	}
	return v, nil
}

func (v *versity) stop() {
	if v.cmd.Process != nil {
		_ = v.cmd.Process.Signal(syscall.SIGTERM)
		_ = v.cmd.Wait()
	}
}

type object struct {
	path  string
	mtime time.Time
}

// objects lists the stored objects from versitygw's posix directory (an
// object is a file named by its key under the bucket's directory).
func (v *versity) objects(bucket string) ([]object, error) {
	var out []object
	root := filepath.Join(v.dir, bucket)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".sgwtmp" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".json.gz") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, object{path: p, mtime: info.ModTime()})
		return nil
	})
	return out, err
}

// compare counts lost and duplicated rows: every object's lines against the
// simulator's rows as a multiset. A line is compared by its bytes, and
// lines that differ only in JSON spelling by their members.
func compare(objs []object, truth []digicertsim.Event) (lost, dup, rows int, err error) {
	want := make(map[string]int, len(truth))
	for _, e := range truth {
		want[string(e.JSON)]++
	}
	var odd []string
	for _, ob := range objs {
		f, err := os.Open(ob.path)
		if err != nil {
			return 0, 0, 0, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return 0, 0, 0, fmt.Errorf("%s: %w", ob.path, err)
		}
		data, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", ob.path, err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			rows++
			if want[string(line)] > 0 {
				want[string(line)]--
				continue
			}
			odd = append(odd, string(line))
		}
	}
	if len(odd) > 0 {
		// Lines spelled differently: match them by their members.
		canon := map[string]int{}
		for k, c := range want {
			if c > 0 {
				ck, err := canonical([]byte(k))
				if err != nil {
					return 0, 0, 0, err
				}
				canon[ck] += c
			}
		}
		for _, line := range odd {
			ck, err := canonical([]byte(line))
			if err != nil {
				return 0, 0, 0, fmt.Errorf("object line %.200q: %w", line, err)
			}
			if canon[ck] > 0 {
				canon[ck]--
				continue
			}
			dup++ // an extra line: a duplicate (or a row DigiCert never produced)
		}
		for _, c := range canon {
			lost += c
		}
		return lost, dup, rows, nil
	}
	for _, c := range want {
		lost += c
	}
	return lost, dup, rows, nil
}

func canonical(line []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var b strings.Builder
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("not a JSON object (%v)", err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return "", err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%q=%#v;", k, v)
	}
	return b.String(), nil
}

// --- Fluent Bit ---

type fluentBit struct {
	cmd     *exec.Cmd
	logPath string
	port    int
	waitErr chan error
	perf    *exec.Cmd

	mu      sync.Mutex
	log     bytes.Buffer
	stopped bool
}

var httpPort = regexp.MustCompile(`(?m)^(\s*http_port:\s*)\d+`)

// perfOut, when set, makes startFB attach perf record to Fluent Bit.
var perfOut bool

func startFB(bin string, args, env []string, logPath string) (*fluentBit, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// A shipped config may fix the monitoring port (http_port 2020); point
	// it at a free one, so runs never collide with another Fluent Bit.
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-c" {
			b, err := os.ReadFile(args[i+1])
			if err != nil {
				return nil, err
			}
			b = httpPort.ReplaceAll(b, []byte("${1}"+strconv.Itoa(port)))
			if err := os.WriteFile(args[i+1], b, 0o644); err != nil {
				return nil, err
			}
		}
	}
	f := &fluentBit{logPath: logPath, port: port, waitErr: make(chan error, 1)}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	f.cmd = exec.Command(bin, append(args, "-H", "-P", strconv.Itoa(port))...)
	f.cmd.Env = env
	pr, pw := io.Pipe()
	f.cmd.Stdout, f.cmd.Stderr = pw, pw
	if err := f.cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			f.mu.Lock()
			f.log.Write(sc.Bytes())
			f.log.WriteByte('\n')
			f.mu.Unlock()
			lf.Write(sc.Bytes())
			lf.Write([]byte{'\n'})
		}
		lf.Close()
	}()
	if perfOut {
		rec := exec.Command("perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "-g", "-p", strconv.Itoa(f.cmd.Process.Pid),
			"-o", strings.TrimSuffix(logPath, ".log")+".perf.data")
		rec.Stderr = os.Stderr
		if err := rec.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "perf:", err)
		} else {
			f.perf = rec
		}
	}
	go func() {
		err := f.cmd.Wait()
		if f.perf != nil {
			_ = f.perf.Process.Signal(syscall.SIGINT)
			_ = f.perf.Wait()
		}
		pw.Close()
		f.waitErr <- err
		close(f.waitErr)
	}()
	return f, nil
}

func (f *fluentBit) exited() bool {
	return f.cmd.ProcessState != nil
}

func (f *fluentBit) find(re *regexp.Regexp) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return re.FindStringSubmatch(f.log.String())
}

// stop sends SIGTERM and waits (coreutils timeout's SIGCONT would make
// Fluent Bit dump its state, so no timeout wrapper).
func (f *fluentBit) stop() error {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return nil
	}
	f.stopped = true
	f.mu.Unlock()
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.waitErr:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return err
		}
		if err != nil {
			return fmt.Errorf("fluent-bit: %v; log: %s", err, f.logPath)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = f.cmd.Process.Kill()
		return fmt.Errorf("fluent-bit did not stop within 30 s; log: %s", f.logPath)
	}
}

type procStats struct {
	cpu     float64 // user + system seconds
	hwm     int64   // peak RSS, bytes
	threads string  // CPU seconds by thread name
}

// waitFor polls done every interval until it holds; it fails, naming what
// it waited for, when Fluent Bit exits first or timeout passes.
func (f *fluentBit) waitFor(what string, timeout, every time.Duration, done func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		time.Sleep(every)
		if done() {
			return nil
		}
		if f.exited() {
			return fmt.Errorf("fluent-bit exited before %s; log: %s", what, f.logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done within %v; log: %s", what, timeout, f.logPath)
		}
	}
}

// stored is a waitFor condition: output has passed on n records.
func (f *fluentBit) stored(output string, n int) func() bool {
	return func() bool {
		m, err := f.metrics()
		return err == nil && m.outputRecords(output) >= n
	}
}

// settle ends a phase: its CPU now, its peak RSS 2 s later (so that late
// duplicates, or memory taken after the last row, would show), and Fluent
// Bit stopped.
func (f *fluentBit) settle() (procStats, error) {
	st := f.stats()
	time.Sleep(2 * time.Second)
	st.hwm = f.stats().hwm
	return st, f.stop()
}

// clkTck is the kernel's USER_HZ, 100 on every Linux platform Go supports.
const clkTck = 100

func (f *fluentBit) stats() procStats {
	var st procStats
	pid := f.cmd.Process.Pid
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name (which may hold spaces) in ")".
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			fs := strings.Fields(string(b[i+1:]))
			if len(fs) > 13 {
				u, _ := strconv.ParseFloat(fs[11], 64)
				s, _ := strconv.ParseFloat(fs[12], 64)
				st.cpu = (u + s) / clkTck
			}
		}
	}
	st.threads = threadCPU(pid)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				st.hwm = kb << 10
			}
		}
	}
	return st
}

// threadCPU sums CPU seconds by thread name: Fluent Bit names its threads
// (flb-pipeline, the input's and the output workers'); threads the Go
// runtimes start (the input's poller, both garbage collectors) keep the
// process name.
func threadCPU(pid int) string {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	by := map[string]float64{}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if i < 0 || j < i {
			continue
		}
		fs := strings.Fields(string(b[j+1:]))
		if len(fs) > 13 {
			u, _ := strconv.ParseFloat(fs[11], 64)
			s, _ := strconv.ParseFloat(fs[12], 64)
			by[string(b[i+1:j])] += (u + s) / clkTck
		}
	}
	var parts []string
	for name, v := range by {
		if v >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.2f", name, v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// fbMetrics is Fluent Bit's /api/v1/metrics answer.
type fbMetrics struct {
	Input  map[string]map[string]float64 `json:"input"`
	Output map[string]map[string]float64 `json:"output"`
}

func (m fbMetrics) outputRecords(plugin string) int {
	n := 0
	for name, v := range m.Output {
		if strings.HasPrefix(name, plugin+".") || strings.HasPrefix(name, plugin) {
			n += int(v["proc_records"])
		}
	}
	return n
}

var metricsClient = &http.Client{Timeout: 2 * time.Second}

func (f *fluentBit) metrics() (fbMetrics, error) {
	var m fbMetrics
	resp, err := metricsClient.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/metrics", f.port))
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&m)
	return m, err
}

// goMemory reads the plugins' own memory reports (flb.WatchMemoryFromEnv):
// the peak of what each Go runtime held from the OS, and of its live heap.
func goMemory(work string) string {
	var parts []string
	for _, name := range []string{"in_digicert", "out_secops_s3"} {
		b, err := os.ReadFile(filepath.Join(work, name+".mem"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		get := func(k string) float64 {
			for i := 0; i+1 < len(f); i += 2 {
				if f[i] == k {
					v, _ := strconv.ParseFloat(f[i+1], 64)
					return v / (1 << 20)
				}
			}
			return 0
		}
		parts = append(parts, fmt.Sprintf("%s Go peak held %.0f MiB (heap objects %.0f)", name, get("peak_held"), get("peak_objects")))
		os.Remove(filepath.Join(work, name+".mem"))
	}
	return strings.Join(parts, ", ")
}

// --- machine ---

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func fbVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return bin
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// threadedLine carries the digicert input's `threaded` setting over to the
// limit input, so both run in the same thread model.
func threadedLine(cfg string) string {
	for _, line := range strings.Split(cfg, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && k == "threaded" {
			return "      threaded: " + strings.TrimSpace(v) + "\n"
		}
	}
	return ""
}

// phaseSet is the set of phases named in a -phases list.
func phaseSet(list string) map[string]bool {
	want := map[string]bool{}
	for _, p := range strings.Split(list, ",") {
		want[strings.TrimSpace(p)] = true
	}
	return want
}
