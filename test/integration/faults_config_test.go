package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// Fault cases for operator mistakes, hostile bodies and planted secrets:
// each start-up refusal must name what to fix, and once the operator fixed
// it every row must arrive exactly once.

func configFaultCases() []faultCase {
	return []faultCase{
		{name: "chunk/non-map-record", run: caseNonMapRecord},
		{name: "s3/no-conditional-writes", run: caseNoCondWrites},
		{name: "bad-row/oversize", run: caseOversizeRow},
		{name: "zip/over-max-zip-members", run: caseZipLimit("max_zip_members", "2", "over the limit of 2 (max_zip_members)")},
		{name: "zip/over-max-inflated-size", run: caseZipLimit("max_inflated_size", "1MiB", "over the limit (max_inflated_size)")},
		{name: "history/repeat-page", run: caseRepeatPage},
		{name: "hash/forged-collision", run: caseForgedCollision},
		{name: "config/plain-http-off-loopback", run: casePlainHTTP},
		{name: "state/journal-damaged-mid-file", run: caseJournalDamaged},
		{name: "state/symlinked-state-file", run: caseStateSymlink},
		{name: "config/prefix-dotdot", run: casePrefixDotDot},
		{name: "run-mode/first-download-truncated", run: caseFirstDownloadFails(false)},
		{name: "run-mode/first-download-overlap-zip", run: caseFirstDownloadFails(true)},
	}
}

// secretFaultCases plant the API key; they run the input in the C host (so
// make test-arm64, which selects host tests by name, runs them too).
func secretFaultCases() []faultCase {
	return []faultCase{
		{name: "secrets/api-key-file-is-the-key", run: caseKeyPlanted(false)},
		{name: "secrets/key-echoed-in-error-body", run: caseKeyPlanted(true)},
	}
}

// refusedStart starts the pipeline with extra keys, expecting it refused
// with an error containing want. It returns a note for the row.
func (s *faultSetup) refusedStart(t *testing.T, extra flb.MapConfig, want string) string {
	t.Helper()
	p, err := s.tryStart(t, runEvery, extra)
	if p != nil {
		p.close() // started by mistake: it must not hold the state or ship rows
	}
	switch {
	case err == nil:
		t.Errorf("the pipeline started; want it refused with %q", want)
		return "NOT refused"
	case !strings.Contains(err.Error(), want):
		t.Errorf("refused with %q; want %q in it", err, want)
		return "refused, wrong message"
	case strings.Contains(err.Error(), dcAPIKey):
		t.Error("the refusal carries the API key")
	}
	return "refused at start (" + want + "), then fixed"
}

// caseNonMapRecord: every chunk gets a record whose body is a string (a
// broken or foreign producer) next to the input's valid records.
func caseNonMapRecord(t *testing.T) {
	s := newFaultSetup(t, nil)
	var mu sync.Mutex
	added := 0
	s.mangle = func(chunk []byte) []byte {
		mu.Lock()
		added += 2
		mu.Unlock()
		sec := uint32(time.Now().Unix())
		bad := []byte{0x92, 0xce, byte(sec >> 24), byte(sec >> 16), byte(sec >> 8), byte(sec), 0xa3, 'a', 'b', 'c'}
		return append(append(append([]byte(nil), bad...), chunk...), bad...)
	}
	p := s.start(t, runEvery, nil)
	want := truthOf(t, s.sim.GroundTruth())
	got := s.settle(t, p, total(want), 10*time.Second)
	mu.Lock()
	n := added
	mu.Unlock()
	skipped := p.out.Stats().RecordsSkipped
	if skipped != uint64(n) {
		t.Errorf("%d non-map records added, %d counted as skipped", n, skipped)
	}
	s.result(t, faultName(t), got, want, 0, fmt.Sprintf("%d non-map records, first and last in each chunk; %d counted skipped", n, skipped))
}

// caseNoCondWrites: a server answering 501 NotImplemented to create-only
// PUTs (If-None-Match) is refused at start; then the real server.
func caseNoCondWrites(t *testing.T) {
	s := newFaultSetup(t, nil)
	s.s3.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || r.Header.Get("If-None-Match") == "" {
			return false
		}
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
		return true
	})
	note := s.refusedStart(t, nil, "does not support conditional writes (If-None-Match, NotImplemented)")
	s.s3.setHook(nil)
	p := s.start(t, runEvery, nil)
	want := truthOf(t, s.sim.GroundTruth())
	got := s.settle(t, p, total(want), 10*time.Second)
	s.result(t, faultName(t), got, want, 0, note)
}

// caseOversizeRow: the first download carries a row over the 64 MiB
// row-size cap; it is skipped (counted), every other row arrives.
func caseOversizeRow(t *testing.T) {
	s := newFaultSetup(t, nil)
	s.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultBadRow, Row: digicertsim.BadRowOversize, AfterRows: 100})
	want := truthOf(t, s.sim.GroundTruth())
	p := s.start(t, runEvery, nil)
	got := s.settle(t, p, total(want), 20*time.Second)
	note := "a 64 MiB + 1 KiB row after row 100 is skipped"
	if log := p.inLog.String(); !strings.Contains(log, "is larger than the maximum row size of") || !strings.Contains(log, "skipped_oversize=1") {
		t.Errorf("the oversize row was not reported (message and skipped_oversize=1):\n%s", log)
	} else {
		note += " (warned, skipped_oversize=1)"
	}
	s.result(t, faultName(t), got, want, 0, note)
}

// caseZipLimit: every body is a ZIP (three members) over the limit key
// sets; the input refuses each download with the key's name; the operator
// raises the limit and restarts with the same state.
func caseZipLimit(key, value, msg string) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) {
			c.ZipThreshold = 1
			c.ZipMembers = 3
			if key == "max_inflated_size" {
				c.EventsPerHour = 1500 // ~3,000 rows, over 1 MiB of JSON
			}
		})
		want := truthOf(t, s.sim.GroundTruth())
		p := s.start(t, runEvery, flb.MapConfig{key: value})
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(p.inLog.String(), msg) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		note := key + " " + value + ": refused (" + msg + "), then the limit raised"
		if !strings.Contains(p.inLog.String(), msg) {
			t.Errorf("no %q in the input's log:\n%s", msg, p.inLog)
			note = "NOT refused"
		}
		p.close()
		if before, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/"); total(before) != 0 {
			note += fmt.Sprintf("; %d rows shipped while over the limit", total(before))
		}
		p = s.start(t, runEvery, nil)
		got := s.settle(t, p, total(want), 20*time.Second)
		s.result(t, faultName(t), got, want, 0, note)
	}
}

// caseRepeatPage: follow mode; report history ignores offset and claims a
// million entries (the same page for ever) on the first polls. Each poll
// must stop paging at the repeat: a few history requests per poll, not the
// 10,000-page limit.
func caseRepeatPage(t *testing.T) {
	s := newFaultSetup(t, func(c *digicertsim.Config) { c.Window = 2 * time.Hour })
	run := s.sim.Schedule(dcReportA)
	const faulty = 1000
	s.sim.Inject(digicertsim.Fault{Kind: digicertsim.FaultRepeatPage, Times: faulty})
	var history atomic.Int64
	s.dc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/report/history") {
			history.Add(1)
		}
		return false
	})
	want := truthOf(t, s.sim.RunEvents(run))
	p := s.start(t, runEvery, flb.MapConfig{"mode": "follow"})
	got := s.settle(t, p, total(want), 10*time.Second)
	n := history.Load()
	if n >= faulty {
		t.Errorf("%d history requests: paging did not stop at the repeated page", n)
	}
	s.result(t, faultName(t), got, want, 0, fmt.Sprintf("every page the same, total 1,000,000; %d history requests in all", n))
}

// caseKeyPlanted runs in_digicert.so in the C host, with its log lines as
// Fluent Bit would print them: api_key_file set to the key itself (then
// fixed), or DigiCert (or a proxy) echoing the key in error bodies. No line
// may carry the key; after the fix every row arrives once.
func caseKeyPlanted(echo bool) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, nil)
		truth := s.sim.GroundTruth()
		want := truthOf(t, truth)
		so := dcPlugin(t)
		props := []string{"api_key=" + dcAPIKey, "report_id=" + dcReportA, "api_base=" + s.dc.url,
			"state_file=" + s.state, "poll_interval=1s", "log_level=debug"}
		var logs []string
		note := ""
		if echo {
			var mu sync.Mutex
			n := 0
			// Downloads only: errors in the start-up check would make init
			// wait for it.
			s.dc.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				if _, ok := isBody(r); !ok {
					return false
				}
				if n++; n > 2 {
					return false
				}
				if n%2 == 0 {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(http.StatusBadGateway)
					_, _ = fmt.Fprintf(w, "<html><body>502 upstream refused X-DC-DEVKEY: %s</body></html>", r.Header.Get("X-DC-DEVKEY"))
					return true
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = fmt.Fprintf(w, `{"errors":[{"code":"internal_error","message":"failed for key %s"}]}`, r.Header.Get("X-DC-DEVKEY"))
				return true
			})
			note = "2 download errors (JSON 500, HTML 502) echo the key"
		} else {
			bad := append([]string{"api_key_file=" + dcAPIKey}, props[1:]...)
			h := dcStartHost(t, "input", so, 100, []dcInstance{{Name: "a", Props: bad}})
			events := strings.Join(h.finish(), "\n")
			logs = append(logs, h.stderr.String(), events)
			if !strings.Contains(events, "init 0 ret=0") {
				t.Errorf("init did not fail with api_key_file set to the key: %s", events)
			}
			if !strings.Contains(h.stderr.String(), "api_key_file: open "+flb.Redacted) {
				t.Errorf("no redacted api_key_file error:\n%s", h.stderr.String())
			}
			note = "refused (api_key_file: open [REDACTED]: …), then api_key_file names a file"
			keyFile := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(keyFile, []byte(dcAPIKey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			props = append([]string{"api_key_file=" + keyFile}, props[1:]...)
		}
		h := dcStartHost(t, "input", so, 100, []dcInstance{{Name: "a", Props: props}})
		recs, _ := h.awaitRecords("a", len(truth), 30*time.Second)
		time.Sleep(2 * time.Second) // later polls: nothing more may arrive
		logs = append(logs, strings.Join(h.finish(), "\n"), h.stderr.String())
		if echo && !strings.Contains(h.stderr.String(), "failed for key "+flb.Redacted) {
			// The echo must reach a log line, scrubbed, or the case proves nothing.
			t.Errorf("no log line shows the echoed key redacted:\n%s", h.stderr.String())
		}
		if len(recs) == 0 {
			t.Logf("host log:\n%s", h.stderr.String())
		}
		lines, leaked := 0, 0
		for _, l := range logs {
			if strings.Contains(l, dcAPIKey) {
				t.Errorf("the API key is in the log:\n%s", l)
				leaked++
			}
			lines += strings.Count(l, "\n")
		}
		out, _, err := s3outOutput(t, s.env, s.bucket, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := out.Flush(context.Background(), h.file("a", ""), faultTag); r.Status != secopsout.StatusOK {
			t.Fatalf("upload: %v %v", r.Status, r.Err)
		}
		got, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/")
		if leaked > 0 {
			note += "; THE KEY IS IN THE LOG"
		} else {
			note += fmt.Sprintf("; key in none of %d log lines", lines)
		}
		s.result(t, faultName(t), got, want, 0, note)
	}
}

// Old unkeyed row hash constants (internal/digicertin/hash.go): a 16-byte aligned
// block (hk1, hk4) in a row's msgpack body zeroed both lanes whatever came
// before, so two rows differing only before it collided.
const (
	oldHK1 = 0xe7037ed1a0b428db
	oldHK4 = 0x1d8e4e27c47d124f
)

// forgedRows builds two rows that collide under the old unkeyed hash, as
// TestForgedCollisionDoesNotSkipARow does (which checks the collision):
// they differ in Action; the Comment carries the block, 16-byte aligned in
// the msgpack body.
func forgedRows(t *testing.T, date string) (real, forged []byte) {
	t.Helper()
	var blk [16]byte
	binary.LittleEndian.PutUint64(blk[:], oldHK1)
	binary.LittleEndian.PutUint64(blk[8:], oldHK4)
	var esc strings.Builder
	for _, c := range blk {
		if c < 0x20 || c == '"' || c == '\\' {
			fmt.Fprintf(&esc, `\u%04x`, c)
		} else {
			esc.WriteByte(c)
		}
	}
	mk := func(action string, pad int) []byte {
		return []byte(`{"Date and time (UTC)":"` + date + `","Action":"` + action + `","Comment":"` +
			strings.Repeat("p", pad) + esc.String() + strings.Repeat("t", 40-pad) + `"}`)
	}
	var enc digicertin.RowEncoder
	for pad := range 16 {
		ba, _, err := enc.AppendBody(nil, mk("A", pad))
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(ba, blk[:]); i >= 0 && i%16 == 0 {
			return mk("A", pad), mk("Z", pad)
		}
	}
	t.Fatal("no padding aligns the block")
	return nil, nil
}

// caseForgedCollision: an outsider's row (the first run) and a real event
// (later runs, without the forged row, as in the unit test) whose bodies
// collide under the old hash both arrive. Through the whole pipeline this
// particular forgery is also defeated before the hash: its 16-byte block is
// not valid UTF-8 (nor any msgpack the row encoder writes), so the reader
// repairs it to U+FFFD and the bodies no longer collide; the keyed hash
// itself is proven by the unit test.
func caseForgedCollision(t *testing.T) {
	s := newFaultSetup(t, nil)
	ev := s.sim.GroundTruth()[0]
	date := ev.Time.UTC().Format("02-Jan-2006 15:04:05")
	real, forged := forgedRows(t, date)
	s.dc.setHook(bodyPerDownload(func(n int) string {
		if n > 1 {
			return "[" + string(real) + "]"
		}
		return "[" + string(forged) + "]"
	}))
	want := map[string]int{rowKey(t, forged): 1, rowKey(t, real): 1}
	p := s.start(t, runEvery, nil)
	got := s.settle(t, p, total(want), 8*time.Second)
	s.result(t, faultName(t), got, want, 0, "forged row first, the real event in the next run (the block is repaired as invalid UTF-8 before hashing)")
}

// casePlainHTTP: api_base plain http on a host that is not loopback (the
// simulator reached through http_proxy) is refused; with the opt-in it runs.
func casePlainHTTP(t *testing.T) {
	s := newFaultSetup(t, nil)
	set := flb.MapConfig{"api_base": "http://digicert-sim.invalid", "http_proxy": s.dc.url}
	note := s.refusedStart(t, set, `api_base: "http://digicert-sim.invalid" is plain http: the API key would cross the network unencrypted`)
	set["allow_insecure_http"] = "true"
	p := s.start(t, runEvery, set)
	want := truthOf(t, s.sim.GroundTruth())
	got := s.settle(t, p, total(want), 10*time.Second)
	if !strings.Contains(p.inLog.String(), "[warn]") {
		t.Errorf("no warning with allow_insecure_http:\n%s", p.inLog)
	}
	s.result(t, faultName(t), got, want, 0, note+" with allow_insecure_http")
}

// caseJournalDamaged: the checkpoint of an input stopped in the middle of
// handing a report over (as a crash leaves it: the journal holds released
// batches not yet in a snapshot), copied, with its journal's first record
// length rewritten. The input refuses to start, naming the file; the
// operator restores the undamaged copy and the rest of the report arrives.
// The copy lacks the commit of the last hand-over (committed at the next
// collect): that one may arrive again, the bound of a crash.
func caseJournalDamaged(t *testing.T) {
	s := newFaultSetup(t, func(c *digicertsim.Config) { c.EventsPerHour = 1500 }) // ~3,000 rows, ~30 hand-overs
	truth := s.sim.GroundTruth()
	want := truthOf(t, truth)
	p := s.start(t, runEvery, nil)
	const jHeader, fHeader = 20, 8 // journal header, record header
	twoFrames := func(j []byte) bool {
		return len(j) >= jHeader+fHeader && jHeader+fHeader+int(binary.BigEndian.Uint32(j[jHeader:])) < len(j)
	}
	var snap, journal []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no journal with two records in 20 s (%d bytes)", len(journal))
		}
		got, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/")
		if total(got) < len(truth)/4 {
			continue
		}
		p.hold.Store(true)
		for !p.idle() {
			time.Sleep(20 * time.Millisecond)
		}
		s1, _ := os.ReadFile(s.state)
		journal, _ = os.ReadFile(s.state + ".journal")
		snap, _ = os.ReadFile(s.state)
		if bytes.Equal(s1, snap) && twoFrames(journal) {
			break
		}
		p.hold.Store(false)
		time.Sleep(150 * time.Millisecond)
	}
	p.close()
	before, _ := bucketRows(t, s.client, s.bucket, "digicert/logs/")
	state := filepath.Join(t.TempDir(), "copy.state")
	damaged := append([]byte(nil), journal...)
	binary.BigEndian.PutUint32(damaged[jHeader:], 1<<20)
	for name, b := range map[string][]byte{state: snap, state + ".journal": damaged} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.state = state
	note := s.refusedStart(t, nil, "journal "+state+".journal is corrupt at offset")
	if err := os.WriteFile(state+".journal", journal, 0o600); err != nil {
		t.Fatal(err)
	}
	p = s.start(t, runEvery, nil)
	got := s.settle(t, p, total(want), 20*time.Second)
	s.result(t, faultName(t), got, want, rowsPerHandOver(t, truth, 64000),
		fmt.Sprintf("%s; stopped with %d rows stored, restored the copy; duplicates ≤ one hand-over (64 kB)", note, total(before)))
}

// caseStateSymlink: the checkpoint moved to another volume and state_file
// became a link to it. The input follows the link (writes where it
// points; the link stays a link): the next run's new events arrive, the
// shipped ones not again.
func caseStateSymlink(t *testing.T) {
	s := newFaultSetup(t, nil)
	target := filepath.Join(t.TempDir(), "real.state")
	link := s.state
	s.state = target
	p := s.start(t, runEvery, nil)
	s.settle(t, p, total(truthOf(t, s.sim.GroundTruth())), 10*time.Second)
	p.close()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	st0, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	s.state = link
	s.sim.Advance(10 * time.Minute)
	p = s.start(t, runEvery, nil)
	want := truthOf(t, s.sim.GroundTruth()) // runs cover 24 hours: every event
	got := s.settle(t, p, total(want), 10*time.Second)
	p.close()
	note := "restarted through the link; 10 more minutes of events"
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("state_file is no longer a link (%v)", err)
		note += "; the link was replaced"
	}
	if st, err := os.Stat(target); err != nil || !st.ModTime().After(st0.ModTime()) {
		t.Errorf("the checkpoint where the link points was not written (%v)", err)
		note += "; nothing written at the target"
	} else {
		note += "; checkpoint written at the target"
	}
	s.result(t, faultName(t), got, want, 0, note)
}

// casePrefixDotDot: an output prefix with a .. segment is a configuration
// error; with the prefix fixed every row arrives once.
func casePrefixDotDot(t *testing.T) {
	s := newFaultSetup(t, nil)
	s.outExtra = flb.MapConfig{"prefix": "digicert/../logs"}
	note := s.refusedStart(t, nil, `"digicert/../logs" contains a . or .. path segment`)
	s.outExtra = nil
	p := s.start(t, runEvery, nil)
	want := truthOf(t, s.sim.GroundTruth())
	got := s.settle(t, p, total(want), 10*time.Second)
	s.result(t, faultName(t), got, want, 0, note)
}

// caseFirstDownloadFails: run mode; the first run's download fails once
// (a ZIP of overlapping entries, or a body cut short), and before the next
// poll the report's window moves past its rows (the simulated clock jumps
// 3 hours; each run covers 2): later runs no longer hold them, so they
// arrive only if the failed run itself is downloaded again.
func caseFirstDownloadFails(overlap bool) func(t *testing.T) {
	return func(t *testing.T) {
		s := newFaultSetup(t, func(c *digicertsim.Config) { c.Window = 2 * time.Hour })
		s.dc.setHook(onFirstBody(func(w http.ResponseWriter, r *http.Request) {
			rec := s.dc.simAnswer(r)
			body := rec.Body.Bytes()
			if overlap {
				w.Header().Set("Content-Type", "application/zip")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(overlappingZip(t, body, 40))
			} else {
				// The declared length is the whole body: the connection
				// closes after half of it (unexpected EOF).
				w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body[:len(body)/2])
			}
			s.sim.Advance(3 * time.Hour)
		}))
		runsOfA := func() int {
			n := 0
			for _, r := range s.sim.Runs() {
				if r.ReportID == dcReportA {
					n++
				}
			}
			return n
		}
		p := s.start(t, runEvery, nil)
		for deadline := time.Now().Add(10 * time.Second); runsOfA() < 2 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		want := runsTruth(t, s.sim) // the failed run's rows and the later runs'
		got := s.settle(t, p, total(want), 10*time.Second)
		if total(got) < total(want) {
			t.Logf("input's log:\n%s", p.inLog)
		}
		what := "a body cut in half"
		if overlap {
			what = "a ZIP of 40 overlapping entries"
		}
		s.result(t, faultName(t), got, want, 0, fmt.Sprintf("first download: %s; then the window moves past its rows; %d runs", what, runsOfA()))
	}
}
