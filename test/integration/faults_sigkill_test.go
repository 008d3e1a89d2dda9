package integration

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// SIGKILL cases with test/host/flbhost, which calls the plugin .so files as
// Fluent Bit does: in input mode it appends every hand-over to a file (and
// flushes it) before calling the cleanup callback, the way Fluent Bit's
// filesystem storage holds a chunk before the input's checkpoint advances.
// That file plays the part of storage.type filesystem: it survives the kill
// and is uploaded after the restart.

func sigkillCases() []faultCase {
	return []faultCase{
		{name: "sigkill-host/while-downloading", run: caseKillInput(false)},
		{name: "sigkill-host/while-handing-over", run: caseKillInput(true)},
		{name: "sigkill-host/while-uploading", run: caseKillOutput(false)},
		{name: "sigkill-host/after-upload-answer-lost", run: caseKillOutput(true)},
	}
}

// killHost ends a host with SIGKILL and waits for it.
func killHost(t *testing.T, h *dcHost) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()
	h.done = true
	h.cancel()
}

// caseKillInput kills the input's host while it downloads the run (a slow
// body) or while it hands rows over (many hand-overs of 64 kB), restarts it
// with the same state_file, then uploads what both processes handed over.
// The documented bound: one hand-over may be handed over again.
func caseKillInput(handover bool) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) {
			if handover {
				c.EventsPerHour = 3000 // ~6,000 rows, ~30 hand-overs of 64 kB
			}
		})
		started := make(chan struct{})
		if !handover {
			// The first download is slow (~4 s); the kill comes in its middle.
			s.dc.setHook(onFirstBody(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				trickle(w, r, s.dc.simAnswer(r), 200, 20*time.Millisecond)
			}))
		}
		truth := s.sim.GroundTruth()
		want := truthOf(t, truth)
		props := []string{"api_key=" + dcAPIKey, "report_id=" + dcReportA, "api_base=" + s.dc.url,
			"state_file=" + s.state, "poll_interval=1s", "max_bytes_per_collect=64000", "log_level=info"}
		so := dcPlugin(t)
		h1 := dcStartHost(t, "input", so, 100, []dcInstance{{Name: "a", Props: props}})
		if handover {
			// Kill once about a third of the rows are handed over.
			deadline := time.Now().Add(time.Minute)
			for {
				recs, _ := dcDecodeRecords(h1.file("a", ""))
				if len(recs) >= len(truth)/3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d records handed over in a minute\n%s", len(recs), h1.stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		} else {
			select {
			case <-started:
				time.Sleep(time.Second)
			case <-time.After(time.Minute):
				t.Fatalf("no download in a minute\n%s", h1.stderr.String())
			}
		}
		killHost(t, h1)
		before, _ := dcDecodeRecords(h1.file("a", ""))

		h2 := dcStartHost(t, "input", so, 100, []dcInstance{{Name: "a", Props: props}})
		restart := time.Now()
		var firstAfter time.Duration
		// Give up 20 s after the last progress: the plugin's init may wait
		// up to 12 s for its start-up check.
		last, since := -1, time.Now()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && time.Since(since) < 20*time.Second; time.Sleep(100 * time.Millisecond) {
			recs, err := dcDecodeRecords(h2.file("a", ""))
			if len(recs) > 0 && firstAfter == 0 {
				firstAfter = time.Since(restart)
			}
			if err == nil && len(before)+len(recs) >= len(truth) {
				time.Sleep(500 * time.Millisecond)
				break
			}
			if len(recs) != last {
				last, since = len(recs), time.Now()
			}
		}
		h2.finish()
		if len(before)+len(h2.records("a")) < len(truth) {
			t.Logf("restarted host's log:\n%s", h2.stderr.String())
		}
		storage := append(h1.file("a", ""), h2.file("a", "")...)

		// Upload what the "storage" holds, in chunks of the hand-over size.
		out, _, err := s3outOutput(t, s.env, s.bucket, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := out.Flush(context.Background(), storage, faultTag); r.Status != secopsout.StatusOK {
			t.Fatalf("upload: %v %v", r.Status, r.Err)
		}
		got, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/")
		// One hand-over is at most 64,000 bytes: its row count bounds the
		// duplicates a kill may cause.
		s.result(t, faultName(t), got, want, rowsPerHandOver(t, truth, 64000),
			"killed after "+strconv.Itoa(len(before))+" rows handed over; duplicates ≤ one hand-over (64 kB); first hand-over "+
				firstAfter.Round(100*time.Millisecond).String()+" after the restart")
	}
}

// trickle sends rec's body in n pieces with pause after each.
func trickle(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder, n int, pause time.Duration) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	body := rec.Body.Bytes()
	step := max(1, len(body)/n)
	fl, _ := w.(http.Flusher)
	for i := 0; i < len(body); i += step {
		if _, err := w.Write(body[i:min(i+step, len(body))]); err != nil || r.Context().Err() != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		time.Sleep(pause)
	}
}

// caseKillOutput kills the output's host during the PUT of a chunk: before
// S3 stored it, or after S3 stored it but before the answer came back. The
// chunk, still in Fluent Bit's storage, is flushed again by a new process.
func caseKillOutput(stored bool) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) { c.Backlog = time.Hour })
		truth := s.sim.GroundTruth()
		want := truthOf(t, truth)
		var chunk []byte
		for _, e := range truth {
			var err error
			if chunk, err = digicertin.AppendRecord(chunk, e.Time, nil, e.JSON); err != nil {
				t.Fatal(err)
			}
		}
		file := writeChunk(t, chunk)
		inPut := make(chan struct{})
		var once sync.Once
		s.s3.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if !isUpload(r) {
				return false
			}
			if stored {
				s.s3.rp.ServeHTTP(httptest.NewRecorder(), r) // stored; the answer is lost
			} else {
				// Read the body (not stored) so the server notices when the
				// killed client's connection closes.
				_, _ = io.Copy(io.Discard, r.Body)
			}
			once.Do(func() { close(inPut) })
			select { // until the client is gone
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return true
		})
		props := []string{"bucket=" + s.bucket, "endpoint=" + s.s3.url, "region=us-east-1", "upload_timeout=30s"}
		h1 := startS3OutHost(t, [][]string{props})
		if _, err := h1.stdin.Write([]byte("flush 0 " + file + " " + faultTag + "\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-inPut:
		case <-time.After(time.Minute):
			t.Fatalf("no PUT in a minute\n%s", h1.stderr.String())
		}
		killHost(t, h1)
		s.s3.setHook(nil)
		run := runS3OutHost(t, [][]string{props}, "flush 0 "+file+" "+faultTag)
		got, objects := bucketRows(t, s.client, s.bucket, "digicert/logs/")
		note := "killed in the PUT, before S3 stored it"
		if stored {
			note = "killed after S3 stored it, before the answer"
		}
		if ev := lastEvent(&dcHost{events: run.events}, "flush 0"); ev != "" {
			note += "; restart: " + ev
		}
		if strings.Contains(run.log, "object already stored") {
			note += " (already stored)"
		}
		if objects != 1 {
			note += "; objects: " + strconv.Itoa(objects)
		}
		s.result(t, faultName(t), got, want, 0, note)
	}
}

// SIGKILL cases in real Fluent Bit ($FLUENT_BIT_BIN): the shipped
// fluent-bit.yaml (storage.type filesystem, storage.sync full, retry_limit
// no_limits), killed and restarted with the same state_file and storage.path.

func sigkillFBCases() []faultCase {
	return []faultCase{
		{name: "sigkill-fb/while-downloading", run: caseKillFB("download")},
		{name: "sigkill-fb/while-handing-over", run: caseKillFB("handover")},
		{name: "sigkill-fb/while-uploading", run: caseKillFB("upload")},
		{name: "sigkill-fb/after-upload-answer-lost", run: caseKillFB("answer")},
	}
}

func caseKillFB(when string) func(t *testing.T) {
	return func(t *testing.T) {
		bin := dcFluentBit(t)
		inSO, outSO := dcPlugin(t), s3outPlugin(t)
		s := newFaultSetup(t, func(c *digicertsim.Config) {
			if when == "handover" {
				c.EventsPerHour = 1500 // ~2,800 rows: ~15 hand-overs of 64 kB, one a second
			}
		})
		s.quiet = 15 * time.Second
		truth := s.sim.GroundTruth()
		want := truthOf(t, truth)
		dir := t.TempDir()
		cfg := pipelineConfig(t, dir, inSO, outSO)
		// Fluent Bit's HTTP server on a free loopback port: 2020 may be taken
		// on a shared machine, and Fluent Bit does not start right without it.
		_, port, _ := strings.Cut(freeAddr(t), ":")
		edits := []string{"http_listen: 0.0.0.0", "http_listen: 127.0.0.1", "http_port: 2020", "http_port: " + port}
		if when == "handover" {
			edits = append(edits, "      storage.type: filesystem", "      max_bytes_per_collect: 64000\n      storage.type: filesystem")
		}
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, []byte(strings.NewReplacer(edits...).Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
		env := []string{
			"DIGICERT_API_KEY=" + dcAPIKey, "DIGICERT_REPORT_ID=" + dcReportA, "DIGICERT_API_BASE=" + s.dc.url,
			"DIGICERT_INTERVAL=1h", "S3_BUCKET=" + s.bucket, "S3_ENDPOINT=" + s.s3.url,
			"AWS_ACCESS_KEY_ID=" + s.env.accessKey, "AWS_SECRET_ACCESS_KEY=" + s.env.secretKey, "AWS_REGION=us-east-1",
		}
		trigger := make(chan struct{})
		var once sync.Once
		fire := func() { once.Do(func() { close(trigger) }) }
		switch when {
		case "download":
			s.dc.setHook(onFirstBody(func(w http.ResponseWriter, r *http.Request) {
				fire()
				trickle(w, r, s.dc.simAnswer(r), 200, 20*time.Millisecond)
			}))
		case "upload", "answer":
			s.s3.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if !isUpload(r) {
					return false
				}
				if when == "answer" {
					s.s3.rp.ServeHTTP(httptest.NewRecorder(), r)
				} else {
					_, _ = io.Copy(io.Discard, r.Body)
				}
				fire()
				select {
				case <-r.Context().Done():
				case <-time.After(time.Minute):
				}
				return true
			})
		case "handover":
			go func() {
				for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
					if got, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/"); total(got) >= len(truth)/3 {
						fire()
						return
					}
				}
			}()
		}
		fb := startWithEnv(t, bin, cfg, env)
		select {
		case <-trigger:
			if when == "download" {
				time.Sleep(time.Second)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("the moment to kill (%s) did not come in 2 minutes\n%s", when, fb.log.String())
		}
		_ = fb.cmd.Process.Kill()
		_ = fb.cmd.Wait()
		before, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/")
		s.s3.setHook(nil)
		s.dc.setHook(nil)

		log1 := fb.log.String()
		chunks := storageChunks(filepath.Join(dir, "storage"))
		fb = startWithEnv(t, bin, cfg, env)
		got := s.settle(t, nil, total(want), 2*time.Minute)
		if _, _, lost := faultCompare(got, want); lost > 0 {
			t.Logf("storage after the kill: %v\nkilled Fluent Bit's log:\n%s\nrestarted Fluent Bit's log:\n%s", chunks, log1, fb.log.String())
		}
		if code := fb.stop(t); code != 0 {
			t.Errorf("fluent-bit exit code %d", code)
		}
		if log := fb.log.String(); strings.Contains(log, dcAPIKey) || strings.Contains(log, s.env.secretKey) {
			t.Errorf("Fluent Bit logged a secret")
		}
		bound := 0
		if when == "download" || when == "handover" {
			bound = rowsPerHandOver(t, truth, 64000)
			if when == "download" {
				bound = len(truth) // max_bytes_per_collect is 32M: one hand-over is the whole run
			}
		}
		s.result(t, faultName(t), got, want, bound,
			"SIGKILL with "+strconv.Itoa(total(before))+" rows in S3; restart with the same state and storage")
	}
}

// storageChunks lists the chunk files under Fluent Bit's storage.path, with sizes.
func storageChunks(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, rel+" "+strconv.FormatInt(fi.Size(), 10))
			}
		}
		return nil
	})
	return out
}

// isUpload reports whether r uploads a chunk (not the output's start-up
// write check, which also PUTs under the prefix).
func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/digicert/logs/") && !strings.Contains(r.URL.Path, secopsout.ProbeName)
}

// rowsPerHandOver is how many records fit in one hand-over of size bytes at
// most: the count of the shortest records, encoded as the input hands them
// to Fluent Bit (msgpack is shorter than the JSON rows, so counting JSON
// bytes would understate it).
func rowsPerHandOver(t *testing.T, truth []digicertsim.Event, size int) int {
	t.Helper()
	lens := make([]int, 0, len(truth))
	for _, e := range truth {
		rec, err := digicertin.AppendRecord(nil, time.Time{}, nil, e.JSON)
		if err != nil {
			t.Fatalf("encode a ground-truth row: %v", err)
		}
		lens = append(lens, len(rec))
	}
	sort.Ints(lens)
	n, total := 0, 0
	for _, l := range lens {
		if total+l > size {
			break
		}
		total += l
		n++
	}
	return n
}
