package digicertin

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// Counts that do not fit an entry's bytes (a row repeated more than 254
// times) stay exact: the tests below drive one row through runs of 300 and
// 70,000 occurrences, the run number through 70,000 runs, and the counts
// through prune, take, adopt and the checkpoint files.

func rowN(i uint64) rowHash { return hashBody(binary.LittleEndian.AppendUint64(nil, i)) }

// runRow observes h times times in run gen and returns the occurrence
// numbers emitted.
func runRow(l *ledger, h rowHash, times, gen uint32) []uint32 {
	var emitted []uint32
	for range times {
		if d, c := l.observe(h, 1000, 0, gen, 0, 0); d == emitRow {
			emitted = append(emitted, c)
		}
	}
	return emitted
}

// seq is from, from+1, …, to (empty when to < from).
func seq(from, to uint32) []uint32 {
	var s []uint32
	for c := from; c <= to; c++ {
		s = append(s, c)
	}
	return s
}

func releaseRow(l *ledger, h rowHash, counts []uint32) {
	for _, c := range counts {
		l.commit(rowMeta{hash: h, sec: 1000, count: c})
	}
}

func wantCounts(t *testing.T, l *ledger, h rowHash, shipped, promised uint32) {
	t.Helper()
	e, _ := l.find(h, 0, 0)
	if c := l.counts(e); c.shipped != shipped || c.promised != promised {
		t.Fatalf("counts %+v, want shipped %d promised %d", c, shipped, promised)
	}
}

func TestLedgerOverflow(t *testing.T) {
	for _, n := range []uint32{300, 70_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l := newLedger()
			h, other := rowN(1), rowN(2)
			l.commit(rowMeta{hash: other, sec: 1000, count: 1})
			gen := uint32(0)
			step := func(what string, times uint32, want []uint32) []uint32 {
				t.Helper()
				gen++
				got := runRow(l, h, times, gen)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: emitted %d occurrences %v…, want %d: %v…", what, len(got), got[:min(len(got), 5)], len(want), want[:min(len(want), 5)])
				}
				return got
			}
			// Half the occurrences, then all of them in the next run
			// before the first half is released: only the new ones.
			first := step("first run, half", n/2, seq(1, n/2))
			second := step("second run, all, first half in flight", n, seq(n/2+1, n))
			wantCounts(t, l, h, 0, n)
			step("third run, all in flight", n, nil)
			releaseRow(l, h, first)
			releaseRow(l, h, second)
			wantCounts(t, l, h, n, n)
			step("after release", n, nil)
			step("fewer than before", n-7, nil)
			third := step("two more", n+2, seq(n+1, n+2))
			releaseRow(l, h, third)
			wantCounts(t, l, h, n+2, n+2)
			step("all again", n+2, nil)
			if e, _ := l.find(other, 0, 0); l.counts(e) != (rowCounts{1, 1, 0}) {
				t.Fatalf("the other row's counts changed: %+v", l.counts(e))
			}
		})
	}
}

// A count that only arrives through commit (a checkpoint's replay) and one
// that grows past a byte across runs are exact too.
func TestLedgerOverflowByCommit(t *testing.T) {
	l := newLedger()
	h := rowN(3)
	l.commit(rowMeta{hash: h, sec: 1000, count: 70_000})
	l.commit(rowMeta{hash: h, sec: 1000, count: 12}) // an older occurrence changes nothing
	wantCounts(t, l, h, 70_000, 70_000)
	if got := runRow(l, h, 70_001, 1); !slices.Equal(got, []uint32{70_001}) {
		t.Fatalf("emitted %v, want [70001]", got)
	}
	g := rowN(4)
	for gen := uint32(1); gen <= 300; gen++ { // one more occurrence each run
		if got := runRow(l, g, gen, 10+gen); !slices.Equal(got, []uint32{gen}) {
			t.Fatalf("run with %d occurrences: emitted %v", gen, got)
		}
		releaseRow(l, g, []uint32{gen})
	}
	wantCounts(t, l, g, 300, 300)
}

// TestLedgerRunWrap: rows seen every p runs, for periods around and past the
// run number's range, over 70,000 runs. Each time a row is seen as often as
// before (nothing emitted) or, now and then, once more (exactly that
// occurrence emitted). A run number that came back round would make the row
// look counted already in this run: its occurrences would be numbered too
// high, re-emitting one and later skipping one.
func TestLedgerRunWrap(t *testing.T) {
	l := newLedger()
	periods := []uint32{1, 2, 3, 127, 128, 254, 255, 256, 257, 510, 511, 512, 65535}
	occ := make([]uint32, len(periods)) // occurrences per run so far
	for j := range occ {
		occ[j] = 2
	}
	for gen := uint32(1); gen <= 70_000; gen++ {
		for j, p := range periods {
			if gen%p != 0 && gen != 1 {
				continue
			}
			h := rowN(uint64(100 + j))
			var want []uint32
			switch {
			case gen == 1:
				want = seq(1, 2)
			case gen%(7*max(p, 100)) == 0: // now and then, one more
				occ[j]++
				want = []uint32{occ[j]}
			}
			got := runRow(l, h, occ[j], gen)
			if !slices.Equal(got, want) {
				t.Fatalf("run %d, row of period %d seen %d times: emitted %v, want %v", gen, p, occ[j], got, want)
			}
			releaseRow(l, h, got)
		}
	}
}

// prune, take and adopt carry wide counts exactly, and the wide table
// forgets a row when the ledger does.
func TestLedgerWidePruneTakeAdopt(t *testing.T) {
	l := newLedger()
	h := rowN(5)
	emitted := runRow(l, h, 300, 1)
	if !slices.Equal(emitted, seq(1, 300)) {
		t.Fatalf("emitted %d of 300 occurrences", len(emitted))
	}
	releaseRow(l, h, emitted[:298]) // two still in flight
	if n := l.prune(1<<31, 0); n != 0 {
		t.Fatalf("pruned %d rows with occurrences in flight", n)
	}
	releaseRow(l, h, emitted[298:])
	runRow(l, h, 3, 2)
	if n := l.prune(1<<31, 2); n != 0 {
		t.Fatalf("pruned %d rows counted by the active run", n)
	}

	// take hands over the full counts and leaves nothing behind.
	old := newLedger()
	lh := rowN(6)
	old.commit(rowMeta{hash: lh, sec: 900, count: 70_000})
	runRow(old, lh, 70_003, 1) // promised 70,003
	oe, oc, _, ok := old.take(lh)
	if !ok || oe.sec != 900 || oc.shipped != 70_000 || oc.promised != 70_003 {
		t.Fatalf("take = %+v %+v %v", oe, oc, ok)
	}
	if old.len() != 0 || len(old.wide) != 0 {
		t.Fatalf("after take: %d rows, %d wide", old.len(), len(old.wide))
	}
	if _, _, _, ok := old.take(lh); ok {
		t.Fatal("taken twice")
	}

	// adopt keeps the larger counts, whichever side is wide.
	cases := []struct {
		name              string
		old, cur          uint32 // shipped counts (0: unknown)
		shipped, promised uint32
	}{
		{"wide into unknown", 300, 0, 300, 300},
		{"wide into narrow", 70_000, 3, 70_000, 70_000},
		{"narrow into wide", 3, 300, 300, 300},
		{"narrow into narrow", 4, 2, 4, 4},
	}
	for i, c := range cases {
		old, cur := newLedger(), newLedger()
		lh, h := rowN(uint64(10+2*i)), rowN(uint64(11+2*i))
		old.commit(rowMeta{hash: lh, sec: 1000, count: c.old})
		if c.cur > 0 {
			cur.commit(rowMeta{hash: h, sec: 1000, count: c.cur})
		}
		cur.adopt(old, lh, h)
		t.Run(c.name, func(t *testing.T) { wantCounts(t, cur, h, c.shipped, c.promised) })
		if old.len() != 0 || len(old.wide) != 0 {
			t.Fatalf("%s: old ledger keeps %d rows, %d wide", c.name, old.len(), len(old.wide))
		}
		if got := runRow(cur, h, c.shipped, 1); got != nil {
			t.Fatalf("%s: adopted occurrences emitted again: %d", c.name, len(got))
		}
	}

	// Released and out of the window: gone from both tables.
	if n := l.prune(1<<31, 0); n != 1 || l.len() != 0 || len(l.wide) != 0 {
		t.Fatalf("pruned %d; %d rows and %d wide left", n, l.len(), len(l.wide))
	}
}

// The checkpoint (journal and snapshot, both uint32 counts) brings wide
// counts back exactly after a crash and after a clean stop.
func TestCheckpointWideCounts(t *testing.T) {
	cfg := Config{ReportID: "rep", StateFile: filepath.Join(t.TempDir(), "dc.state"), DedupWindow: 48 * time.Hour, Mode: ModeRun}
	open := func() *checkpoint {
		t.Helper()
		c, err := openCheckpoint(cfg, &flbtest.MemoryLogger{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := uint32(time.Now().Unix())
	bodies := [][]byte{[]byte("row 300"), []byte("row 70000"), []byte("row once")}
	times := []uint32{300, 70_000, 1}
	gen := uint32(0)
	// run observes every row its times (plus extra) in a new run, commits
	// what was emitted and returns how many were.
	run := func(c *checkpoint, extra uint32) int {
		gen++
		cutoff, _, _ := c.beginRun(digicert.Run{RunID: fmt.Sprint("run-", gen)}, gen)
		defer c.endRun()
		var rows []rowMeta
		for i, b := range bodies {
			m := rowMeta{hash: c.key.sum(b), sec: now}
			for range times[i] + extra {
				if d, n := c.observe(nil, m, gen, cutoff, now, nil); d == emitRow {
					m.count = n
					rows = append(rows, m)
				}
			}
		}
		c.commit(rows, uint64(gen))
		return len(rows)
	}
	check := func(c *checkpoint, what string, extra uint32) {
		t.Helper()
		for i, b := range bodies {
			e, _ := c.led.find(c.key.sum(b), 0, 0)
			if got := c.led.counts(e); got.shipped != times[i]+extra || got.promised != times[i]+extra {
				t.Fatalf("%s: row %q: %+v, want %d", what, b, got, times[i]+extra)
			}
		}
	}

	c := open()
	if n := run(c, 0); n != 70_301 {
		t.Fatalf("first run emitted %d rows, want 70301", n)
	}
	// Crash: only the journal holds the counts. Then stop cleanly: the
	// snapshot holds them.
	c.mu.Lock()
	c.closed = true
	c.jr.f.Close()
	c.mu.Unlock()
	for _, step := range []struct {
		after          string
		counted, extra uint32 // occurrences known per row (beyond times); more in this run
		emitted        int
	}{
		{"a crash", 0, 0, 0},
		{"a stop", 0, 1, 3},
		{"a second stop", 1, 1, 0},
	} {
		c = open()
		check(c, "after "+step.after, step.counted)
		if n := run(c, step.extra); n != step.emitted {
			t.Fatalf("after %s, %d more occurrences of each row: %d emitted, want %d", step.after, step.extra, n, step.emitted)
		}
		if err := c.close(); err != nil {
			t.Fatal(err)
		}
	}
}

// unpromise takes back the last emitted occurrence of a row, narrow or wide,
// so the next run emits it again and nothing else.
func TestLedgerUnpromise(t *testing.T) {
	for _, n := range []uint32{3, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l := newLedger()
			h := rowN(uint64(n))
			releaseRow(l, h, runRow(l, h, n-1, 1))
			emitted := runRow(l, h, n, 2)
			if !slices.Equal(emitted, []uint32{n}) {
				t.Fatalf("run 2 emitted %v, want [%d]", emitted, n)
			}
			l.unpromise(rowMeta{hash: h, sec: 1000, count: n})
			wantCounts(t, l, h, n-1, n-1)
			if emitted := runRow(l, h, n, 3); !slices.Equal(emitted, []uint32{n}) {
				t.Fatalf("after unpromise run 3 emitted %v, want [%d]", emitted, n)
			}
		})
	}
}
