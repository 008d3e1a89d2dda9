package digicertin

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// shippedRig returns a stopped fake rig whose state file holds a few rows.
func shippedRig(t *testing.T) *rig {
	t.Helper()
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:00:01", "B"), row("06-Feb-2025 10:00:01", "B"))
	src.add("r2", row("06-Feb-2025 10:00:02", "C"))
	r := newFakeRig(t, src, nil)
	r.poll()
	r.stop()
	return r
}

func TestStateFilesMode0600(t *testing.T) {
	r := shippedRig(t)
	r.open()
	r.poll() // journal records after the snapshot
	for _, p := range []string{r.cfg.StateFile, r.cfg.StateFile + ".journal"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
	// No temp files left behind by the atomic writes.
	ents, _ := os.ReadDir(filepath.Dir(r.cfg.StateFile))
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("state directory holds %v, want the state file and its journal", names)
	}
}

// A damaged checkpoint stops New with an error that names the file and says
// what to do; the file is left untouched (never a silent reset).
func TestCorruptCheckpointIsAnError(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, state string)
		want   string
	}{
		{"flipped byte in rows", func(t *testing.T, p string) { flip(t, p, -10) }, "checksum mismatch"},
		{"flipped byte in header", func(t *testing.T, p string) { flip(t, p, 2) }, "bad magic"},
		{"truncated", func(t *testing.T, p string) { cut(t, p, 30) }, "is corrupt"},
		{"garbage", func(t *testing.T, p string) { os.WriteFile(p, []byte("{\"not\":\"ours\"}\n"), 0o600) }, "bad magic"},
		{"empty", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }, "short header"},
		{"future version", func(t *testing.T, p string) { setVersion(t, p, 9) }, "format version 9"},
		{"version 1 (SHA-256 hashes)", func(t *testing.T, p string) { setVersion(t, p, 1) }, "format version 1 and was written by an earlier development build (SHA-256 row hashes"},
		{"journal version 1", func(t *testing.T, p string) { setJournalVersion(t, p+".journal", 1) }, ".journal has format version 1 and was written by an earlier development build"},
		{"journal corrupt mid-file", func(t *testing.T, p string) { corruptJournalFrame(t, p+".journal") }, "checksum mismatch followed by more data"},
		{"journal frame length past the end", func(t *testing.T, p string) { setFirstFrameLen(t, p+".journal", 1<<20) }, "a record's length is damaged and valid records follow it"},
		{"journal frame length up to the end", func(t *testing.T, p string) { setFirstFrameLen(t, p+".journal", -1) }, "checksum mismatch followed by more data"},
		{"journal header", func(t *testing.T, p string) { flip(t, p+".journal", 1) }, "bad header"},
		{"journal newer than snapshot", func(t *testing.T, p string) { setJournalGen(t, p+".journal", 99) }, "newer than its state file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := shippedRig(t)
			if strings.HasPrefix(c.name, "journal corrupt mid-file") || strings.HasPrefix(c.name, "journal frame") {
				// Leave two journal frames behind (no final snapshot):
				// the rows and the run's done marker, released after the
				// poll's own snapshot.
				r.open()
				r.releaseAfterCycle = true
				r.poll()
				r.crash()
			}
			c.damage(t, r.cfg.StateFile)
			before, _ := os.ReadFile(r.cfg.StateFile)
			_, err := newEngine(r.cfg, r.log, newFakeSource(), r.clk)
			if err == nil {
				t.Fatal("a damaged checkpoint was accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, "state_file") || !strings.Contains(msg, r.cfg.StateFile) {
				t.Errorf("error %q: want it to contain %q, name state_file and the path", msg, c.want)
			}
			if after, _ := os.ReadFile(r.cfg.StateFile); !bytes.Equal(before, after) {
				t.Error("the state file was modified")
			}
		})
	}
}

func TestCheckpointOfAnotherReport(t *testing.T) {
	r := shippedRig(t)
	r.cfg.ReportID = "another-report"
	_, err := newEngine(r.cfg, r.log, newFakeSource(), r.clk)
	if err == nil || !strings.Contains(err.Error(), "holds the checkpoint of report "+digicertsim.DefaultReportID+", not another-report") {
		t.Fatalf("got %v", err)
	}
}

// Two inputs on one state file would corrupt each other's checkpoint.
func TestStateFileLocked(t *testing.T) {
	r := newFakeRig(t, newFakeSource(), nil)
	_, err := newEngine(r.cfg, &flbtest.MemoryLogger{}, newFakeSource(), r.clk)
	if err == nil || !strings.Contains(err.Error(), "give every [INPUT] its own state_file") {
		t.Fatalf("second engine on the same state file: %v", err)
	}
}

// A missing checkpoint is a fresh start; a missing journal with a snapshot
// (deleted by hand) loses nothing the snapshot holds.
func TestMissingCheckpointFiles(t *testing.T) {
	r := shippedRig(t)
	os.Remove(r.cfg.StateFile + ".journal")
	r.open()
	r.e.cp.mu.Lock()
	n := r.e.cp.led.len()
	r.e.cp.mu.Unlock()
	if n != 2 {
		t.Fatalf("snapshot without journal: %d distinct rows known, want 2 (A, B twice)", n)
	}
	r.stop()
	os.Remove(r.cfg.StateFile)
	os.Remove(r.cfg.StateFile + ".journal")
	r.open()
	if l := r.logLines("checkpoint loaded"); !strings.Contains(l[len(l)-1], "known_rows=0") {
		t.Fatalf("fresh start: %v", l)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.state")
	rows := make([]rowMeta, 10000)
	for i := range rows {
		rand.Read(rows[i].hash[:])
		rows[i].sec, rows[i].count, rows[i].flags = uint32(1e9+i), uint32(i%3+1), uint8(i%2)
	}
	meta := stateMeta{ReportID: "rep", LastRunID: "run-9", Watermark: 1234}
	err := writeSnapshot(path, 7, meta, func(fn func(rowMeta)) {
		for _, m := range rows {
			fn(m)
		}
	}, len(rows))
	if err != nil {
		t.Fatal(err)
	}
	var got []rowMeta
	s, err := readSnapshot(path, nil, func(m rowMeta) { got = append(got, m) })
	if err != nil {
		t.Fatal(err)
	}
	if s.gen != 7 || s.meta.LastRunID != "run-9" || s.meta.Watermark != 1234 || s.meta.ReportID != "rep" {
		t.Errorf("meta %+v gen %d", s.meta, s.gen)
	}
	if len(got) != len(rows) {
		t.Fatalf("%d rows read, %d written", len(got), len(rows))
	}
	for i := range rows {
		if got[i] != rows[i] {
			t.Fatalf("row %d: %+v != %+v", i, got[i], rows[i])
		}
	}
	if st, _ := os.Stat(path); st.Size() != int64(8+4+8+4+len(mustJSON(t, path))+8+len(rows)*metaSize+4) {
		t.Errorf("snapshot size %d does not match the documented layout", st.Size())
	}
}

// mustJSON returns the metadata JSON stored in a snapshot.
func mustJSON(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.BigEndian.Uint32(b[20:])
	return b[24 : 24+n]
}

// BenchmarkSnapshot1M writes and reads back a checkpoint of one million rows
// (the dedup state of a 1,000,000-row backfill).
func BenchmarkSnapshot1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s.state")
	l := newLedger()
	var h rowHash
	for i := range 1_000_000 {
		binary.BigEndian.PutUint64(h[:], uint64(i)*0x9E3779B97F4A7C15)
		l.commit(rowMeta{hash: h, sec: uint32(1.7e9) + uint32(i), count: 1})
	}
	for b.Loop() {
		if err := writeSnapshot(path, 1, stateMeta{ReportID: "r"}, l.durable, l.len()); err != nil {
			b.Fatal(err)
		}
		n := 0
		if _, err := readSnapshot(path, nil, func(rowMeta) { n++ }); err != nil || n != 1_000_000 {
			b.Fatal(err, n)
		}
	}
	st, _ := os.Stat(path)
	b.ReportMetric(float64(st.Size())/1e6, "MB/file")
}

// BenchmarkSnapshotLoad1M is the start-up cost of a checkpoint of one
// million rows: the state file read into the ledger as the input loads it.
func BenchmarkSnapshotLoad1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s.state")
	l := newLedger()
	for i, h := range ledgerHashes(1_000_000) {
		l.commit(rowMeta{hash: h, sec: uint32(1.7e9) + uint32(i), count: 1})
	}
	if err := writeSnapshot(path, 1, stateMeta{ReportID: "r"}, l.durable, l.len()); err != nil {
		b.Fatal(err)
	}
	l = nil
	loopCPU(b, func() {
		c := &checkpoint{led: newLedger()}
		if _, err := readSnapshot(path, c.led.reserve, c.loadRow); err != nil || c.led.len() != 1_000_000 {
			b.Fatal(err, c.led.len())
		}
	})
}

func flip(t *testing.T, path string, at int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x55
	os.WriteFile(path, b, 0o600)
}

func cut(t *testing.T, path string, n int) {
	if err := os.Truncate(path, int64(n)); err != nil {
		t.Fatal(err)
	}
}

func setVersion(t *testing.T, path string, v uint32) {
	b, _ := os.ReadFile(path)
	binary.BigEndian.PutUint32(b[8:], v)
	os.WriteFile(path, b, 0o600)
}

// setJournalVersion rewrites the journal header's version, with a valid CRC.
func setJournalVersion(t *testing.T, path string, v uint16) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < journalHeader {
		t.Fatalf("journal: %d bytes, %v", len(b), err)
	}
	binary.BigEndian.PutUint16(b[4:], v)
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	os.WriteFile(path, b, 0o600)
}

func setJournalGen(t *testing.T, path string, gen uint64) {
	j := &journal{path: path}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	j.f = f
	if err := j.reset(gen); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// corruptJournalFrame damages the payload of the first frame, which has
// another frame after it.
func corruptJournalFrame(t *testing.T, path string) {
	editFirstFrame(t, path, func(b []byte, first int) {
		b[journalHeader+frameHeader+first/2] ^= 0xff
	})
}

// setFirstFrameLen rewrites the length of the first journal frame, which
// has another frame after it: to n, or (n < 0) so that it ends exactly at
// the end of the file.
func setFirstFrameLen(t *testing.T, path string, n int) {
	editFirstFrame(t, path, func(b []byte, _ int) {
		if n < 0 {
			n = len(b) - journalHeader - frameHeader
		}
		binary.BigEndian.PutUint32(b[journalHeader:], uint32(n))
	})
}

// editFirstFrame rewrites the journal at path after edit has changed it;
// first is the payload length of its first frame, which must have another
// frame after it.
func editFirstFrame(t *testing.T, path string, edit func(b []byte, first int)) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := int(binary.BigEndian.Uint32(b[journalHeader:]))
	if journalHeader+frameHeader+first >= len(b) {
		t.Fatalf("journal holds one frame only (%d bytes)", len(b))
	}
	edit(b, first)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A state_file that is a symbolic link is followed: the checkpoint is
// written where it points (the link stays a link), and a second input
// reaching the same checkpoint through the link meets the first one's lock.
// A dangling link is refused.
func TestStateFileSymlink(t *testing.T) {
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 10:00:00", "A"))
	r := newFakeRig(t, src, nil)
	r.poll()
	link := filepath.Join(t.TempDir(), "link.state")
	if err := os.Symlink(r.cfg.StateFile, link); err != nil {
		t.Fatal(err)
	}
	cfg := r.cfg
	cfg.StateFile = link
	_, err := newEngine(cfg, &flbtest.MemoryLogger{}, newFakeSource(), r.clk)
	if err == nil || !strings.Contains(err.Error(), "give every [INPUT] its own state_file") {
		t.Fatalf("second engine on the same checkpoint through a link: %v", err)
	}
	r.stop()
	e, err := newEngine(cfg, r.log, src, r.clk)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.cp.led.len(); n != 1 {
		t.Errorf("through the link the engine knows %d rows, want 1", n)
	}
	if err := e.Stop(5e9); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a regular file: %v %v", st.Mode(), err)
	}
	dangling := filepath.Join(t.TempDir(), "dangling.state")
	os.Symlink(filepath.Join(t.TempDir(), "missing", "x.state"), dangling)
	cfg.StateFile = dangling
	if _, err := newEngine(cfg, r.log, src, r.clk); err == nil || !strings.Contains(err.Error(), "point state_file at the checkpoint file itself") {
		t.Errorf("dangling link: %v", err)
	}
}

// Follow mode's done runs live in the snapshot's metadata: 90 days of runs
// every 5 minutes (26,000) must load, whatever the metadata's size.
func TestSnapshotManyDoneRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.state")
	meta := stateMeta{ReportID: "rep", HashKey: "00112233445566778899aabbccddeeff"}
	for i := range 26_000 {
		meta.DoneRuns = append(meta.DoneRuns, doneRun{ID: fmt.Sprintf("%08d-3b6f-4e0a-9d7e-2a5f3c1d9e01", i), Date: "2025-02-06 10:00:00"})
	}
	if err := writeSnapshot(path, 1, meta, func(func(rowMeta)) {}, 0); err != nil {
		t.Fatal(err)
	}
	s, err := readSnapshot(path, nil, func(rowMeta) {})
	if err != nil || len(s.meta.DoneRuns) != 26_000 {
		t.Fatalf("%d done runs, %v", len(s.meta.DoneRuns), err)
	}
}

// A crash in the middle of appending a large frame tears only the tail: it
// is dropped (with a warning) and the input starts, quickly, even though the
// torn bytes are scanned for valid frames after them.
func TestLargeTornTailIsNotCorruption(t *testing.T) {
	r := shippedRig(t)
	r.open()
	r.poll()
	r.crash()
	path := r.cfg.StateFile + ".journal"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The header of a 4 MiB rows frame and 3 MiB of its (random) payload.
	tail := binary.BigEndian.AppendUint32(nil, 1+metaSize*167_773)
	tail = binary.BigEndian.AppendUint32(tail, 0x12345678)
	payload := make([]byte, 3<<20)
	payload[0] = recRows
	rand.Read(payload[1:])
	f.Write(append(tail, payload...))
	f.Close()
	start := time.Now()
	r.open()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("loading took %v", d)
	}
	if len(r.logLines("ended in a partly written record")) != 1 {
		t.Errorf("torn tail not reported:\n%s", r.log)
	}
}
