package digicertin

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// fixtureRows are the rows of the checkpoint fixtures in testdata: A twice,
// B and C shipped and snapshotted, then D and E shipped and only journaled
// (the process was killed before the next snapshot).
var fixtureRows = struct{ snap, journal []string }{
	snap:    []string{row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 10:00:01", "B"), row("06-Feb-2025 10:00:02", "C")},
	journal: []string{row("06-Feb-2025 11:00:00", "D"), row("06-Feb-2025 11:00:01", "E")},
}

// TestWriteCheckpointFixture writes testdata/checkpoint-v<N>/ with the
// current code's format N. Run it once per format change, with
// DGC_WRITE_FIXTURE=1, and keep the files of every released format so the
// upgrade test can load them.
func TestWriteCheckpointFixture(t *testing.T) {
	if os.Getenv("DGC_WRITE_FIXTURE") == "" {
		t.Skip("set DGC_WRITE_FIXTURE=1 to (re)write the checkpoint fixture of the current format")
	}
	dir := filepath.Join("testdata", fmt.Sprintf("checkpoint-v%d", snapshotVersion))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "dc.state")
	os.Remove(state)
	os.Remove(state + ".journal")
	src := newFakeSource()
	src.add("r1", fixtureRows.snap...)
	r := newFakeRig(t, src, func(c *Config) { c.StateFile = state })
	r.poll()
	r.restart() // snapshot written at Stop
	src.add("r2", fixtureRows.journal...)
	runs, err := src.RunReport(r.ctx, "", digicert.WaitOptions{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("fake: %v %v", runs, err)
	}
	done := make(chan error, 1)
	go func() { done <- r.e.shipRun(r.ctx, runs[0]) }()
	for {
		if r.collect() > 0 {
			continue
		}
		select {
		case err := <-done:
			for r.collect() > 0 {
			}
			if err != nil {
				t.Fatal(err)
			}
			r.crash() // journal only, no snapshot
			t.Logf("wrote %s and its journal", state)
			return
		default:
		}
	}
}

// copyFixture copies the checkpoint fixture in testdata/dir to a temporary
// state file.
func copyFixture(t *testing.T, dir string) string {
	t.Helper()
	state := filepath.Join(t.TempDir(), "dc.state")
	for _, ext := range []string{"", ".journal"} {
		b, err := os.ReadFile(filepath.Join("testdata", dir, "dc.state"+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(state+ext, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return state
}

// A checkpoint written by an earlier format version is loaded and
// continued: the rows it holds, snapshotted or only journaled, are not
// shipped again; new rows and new occurrences are. The upgrade survives
// another restart, and once the report has been read again the rows known
// by their old hash have all moved to their identity: the legacy ledgers
// are gone and shipped rows are no longer encoded.
//
// The fixtures: checkpoint-v2 (written by the last format version 2 build)
// and checkpoint-v3 (by 71047dc, the last format version 3 build) hold
// fixtureRows; checkpoint-v3-from-v2 is checkpoint-v2 loaded by 71047dc,
// which then saw A twice and shipped F (both moved to the keyed hash, in its
// snapshot), and shipped G (journaled only): B to E still have their
// version 2 hash in a version 3 file.
func TestCheckpointUpgrade(t *testing.T) {
	all := append(append([]string{}, fixtureRows.snap...), fixtureRows.journal...)
	for _, tc := range []struct {
		dir  string
		from int
		rows []string       // the report's rows when it is read again
		want map[string]int // times shipped after the upgrade
	}{
		{"checkpoint-v2", 2, append(all, row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 11:30:00", "F"), row("06-Feb-2025 11:40:00", "G")),
			map[string]int{"A": 1, "B": 0, "C": 0, "D": 0, "E": 0, "F": 1, "G": 1}},
		{"checkpoint-v3", 3, append(all, row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 11:30:00", "F"), row("06-Feb-2025 11:40:00", "G")),
			map[string]int{"A": 1, "B": 0, "C": 0, "D": 0, "E": 0, "F": 1, "G": 1}},
		{"checkpoint-v3-from-v2", 3, append(all, row("06-Feb-2025 10:00:00", "A"), row("06-Feb-2025 11:30:00", "F"), row("06-Feb-2025 11:40:00", "G"), row("06-Feb-2025 11:50:00", "H")),
			map[string]int{"A": 1, "B": 0, "C": 0, "D": 0, "E": 0, "F": 0, "G": 0, "H": 1}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			state := copyFixture(t, tc.dir)
			src := newFakeSource()
			src.add("r3", tc.rows[:len(tc.rows)-1]...)
			src.add("r4", tc.rows...)
			src.add("r5", tc.rows...)
			r := newFakeRig(t, src, func(c *Config) { c.StateFile = state })
			// Loading rewrote both files in the current format, with a key.
			if st, err := os.ReadFile(state); err != nil || binary.BigEndian.Uint32(st[8:]) != snapshotVersion {
				t.Fatalf("state file after loading: %v", err)
			}
			if j, err := os.ReadFile(state + ".journal"); err != nil || binary.BigEndian.Uint16(j[4:]) != journalVersion {
				t.Fatalf("journal after loading: %v", err)
			}
			if len(r.logLines(fmt.Sprintf("checkpoint upgraded to format version 4 (rows identified from their decoded JSON); rows it already held are recognised by their old hash until they are seen again or leave the dedup window report_id=%s state_file=%s from_version=%d legacy_rows=", r.cfg.ReportID, state, tc.from))) != 1 {
				t.Errorf("upgrade not logged:\n%s", r.log)
			}
			r.crash() // the upgraded checkpoint alone must carry the legacy rows
			r.open()
			r.poll()
			r.restart()
			r.poll()
			for a, n := range tc.want {
				if got := r.count(a); got != n {
					t.Errorf("%s shipped %d times after the upgrade, want %d", a, got, n)
				}
			}
			r.restart()
			if r.e.cp.old != [len(legacyFormats)]*ledger{} {
				t.Errorf("%d rows still known by an old hash after the report was read again", r.e.cp.knownRows()-r.e.cp.led.len())
			}
			shipped := len(r.recs)
			r.poll()
			if len(r.recs) != shipped || r.e.p.encoded != 0 {
				t.Errorf("reading the report a third time shipped %d rows and encoded %d, want none", len(r.recs)-shipped, r.e.p.encoded)
			}
		})
	}
}

// A checkpoint from a newer format is refused with what to do, for the
// state file and for the journal.
func TestCheckpointNewerFormatRefused(t *testing.T) {
	for _, file := range []string{"", ".journal"} {
		state := filepath.Join(t.TempDir(), "dc.state")
		src := newFakeSource()
		src.add("r1", row("06-Feb-2025 10:00:00", "A"))
		r := newFakeRig(t, src, func(c *Config) { c.StateFile = state })
		r.poll()
		r.stop()
		b, err := os.ReadFile(state + file)
		if err != nil {
			t.Fatal(err)
		}
		if file == "" {
			b[11] = 99 // u32 version after the 8-byte magic
		} else {
			b[5] = 99 // u16 version after the 4-byte magic
			binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
		}
		os.WriteFile(state+file, b, 0o600)
		_, err = newEngine(r.cfg, r.log, src, r.clk)
		if err == nil || !strings.Contains(err.Error(), "format version 99") || !strings.Contains(err.Error(), "newer") {
			t.Errorf("state file%s of a newer format: err = %v, want a refusal naming the version", file, err)
		}
	}
}

// A format version 2 checkpoint without rows (a report with no events yet)
// upgrades too.
func TestCheckpointUpgradeFromEmptyV2(t *testing.T) {
	state := filepath.Join(t.TempDir(), "dc.state")
	if err := writeSnapshot(state, 3, stateMeta{ReportID: digicertsim.DefaultReportID}, func(func(rowMeta)) {}, 0); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(state)
	binary.BigEndian.PutUint32(b[8:], legacyVersion)
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	os.WriteFile(state, b, 0o600)
	src := newFakeSource()
	src.add("r1", row("06-Feb-2025 10:00:00", "A"))
	r := newFakeRig(t, src, func(c *Config) { c.StateFile = state })
	r.poll()
	r.restart()
	r.poll()
	if r.count("A") != 1 {
		t.Errorf("A shipped %d times", r.count("A"))
	}
}
