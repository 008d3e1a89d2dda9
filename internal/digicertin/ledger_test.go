package digicertin

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
)

// refEntry is the ledger's state for one row, kept in a plain map by the
// reference model below (the ledger's rules, as the map-based ledger had them).
type refEntry struct {
	sec, shipped, promised, runCount, runGen uint32
	flags                                    uint8
}

type refLedger struct {
	m  map[rowHash]refEntry
	wm uint32
}

func (l *refLedger) observe(h rowHash, sec uint32, flags uint8, gen, cutoff, now uint32) (decision, uint32) {
	if flags&flagUntimed == 0 && sec < cutoff {
		return skipOld, 0
	}
	e, ok := l.m[h]
	if !ok {
		e = refEntry{sec: sec, flags: flags}
	}
	if e.flags&flagUntimed != 0 {
		e.sec = max(e.sec, now)
	}
	if e.runGen != gen {
		e.runGen, e.runCount = gen, 0
	}
	e.runCount++
	d := skipShipped
	if e.runCount > e.promised {
		e.promised = e.runCount
		d = emitRow
	}
	l.m[h] = e
	return d, e.runCount
}

func (l *refLedger) commit(m rowMeta) {
	e, ok := l.m[m.hash]
	if !ok {
		e = refEntry{sec: m.sec, flags: m.flags}
	}
	e.sec = max(e.sec, m.sec)
	e.shipped = max(e.shipped, m.count)
	e.promised = max(e.promised, e.shipped)
	l.m[m.hash] = e
	if m.flags&flagUntimed == 0 {
		l.wm = max(l.wm, m.sec)
	}
}

func (l *refLedger) prune(floor, activeGen uint32) int {
	n := 0
	for h, e := range l.m {
		if e.sec < floor && e.promised == e.shipped && (activeGen == 0 || e.runGen != activeGen) {
			delete(l.m, h)
			n++
		}
	}
	return n
}

// modelRig runs the ledger and the map-based model side by side and fails
// the test on the first difference.
type modelRig struct {
	t       *testing.T
	l       *ledger
	ref     *refLedger
	gen     uint32
	pending []rowMeta // emitted, not released yet
}

func newModelRig(t *testing.T) *modelRig {
	return &modelRig{t: t, l: newLedger(), ref: &refLedger{m: map[rowHash]refEntry{}}}
}

// observe observes one row in both (run r.gen); an emitted row becomes pending.
func (r *modelRig) observe(h rowHash, sec uint32, flags uint8, cutoff, now uint32) decision {
	r.t.Helper()
	d1, c1 := r.l.observe(h, sec, flags, r.gen, cutoff, now)
	d2, c2 := r.ref.observe(h, sec, flags, r.gen, cutoff, now)
	if d1 != d2 || c1 != c2 {
		r.t.Fatalf("run %d: observe = %v, %d; model %v, %d", r.gen, d1, c1, d2, c2)
	}
	if d1 == emitRow {
		m := rowMeta{hash: h, sec: sec, count: c1, flags: flags}
		if flags != 0 {
			m.sec = now
		}
		r.pending = append(r.pending, m)
	}
	return d1
}

// release commits all but the last keep pending rows in both.
func (r *modelRig) release(keep int) {
	keep = min(keep, len(r.pending))
	for _, m := range r.pending[:len(r.pending)-keep] {
		r.l.commit(m)
		r.ref.commit(m)
	}
	r.pending = append(r.pending[:0], r.pending[len(r.pending)-keep:]...)
}

func (r *modelRig) prune(floor, active uint32) {
	r.t.Helper()
	if a, b := r.l.prune(floor, active), r.ref.prune(floor, active); a != b {
		r.t.Fatalf("run %d: pruned %d, model %d", r.gen, a, b)
	}
}

// The open-addressing ledger behaves exactly like the map-based model under a
// random mix of observes (with repeats, untimed and old rows), commits and
// prunes, across growth and shrinking of its shards.
func TestLedgerMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := newModelRig(t)
	// Few distinct rows relative to operations, so rows repeat and collide
	// in probe runs; the first hash byte is reused across rows to crowd
	// home slots.
	hashes := crowdedHashes(rng, 20000)
	for round := range 40 {
		r.gen++
		base := uint32(1000 + round*100)
		for range 5000 {
			i := rng.IntN(len(hashes))
			if round > 20 {
				i = rng.IntN(len(hashes)/4) + len(hashes)/2 // a later, narrower set
			}
			r.observe(hashes[i], base+uint32(i%300), modelFlags(i), base, base+500)
		}
		// Release most of what was emitted; keep some in flight.
		r.release(len(r.pending) / 5)
		if round%3 == 2 {
			active := uint32(0)
			if round%2 == 0 {
				active = r.gen
			}
			r.prune(base+100, active)
		}
		compareLedger(t, r.l, r.ref, r.gen)
	}
	// Prune everything: every shard gives its memory back.
	r.release(0)
	r.prune(1<<31, 0)
	compareLedger(t, r.l, r.ref, r.gen)
	for i := range r.l.shards {
		if len(r.l.shards[i].tags) != 0 {
			t.Fatalf("shard %d keeps %d slots after everything was pruned", i, len(r.l.shards[i].tags))
		}
	}
}

// The same over 700 runs (the entries' run number wraps twice) of rows that
// stay known, some of them repeated past a byte's count within a run
// (counts then live in the wide table), and untimed rows.
func TestLedgerMatchesModelLongRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := newModelRig(t)
	hashes := crowdedHashes(rng, 3000)
	hot := []int{0, 1, 17} // 0 and 17: untimed
	maxWide, wraps := 0, 0
	for round := range 700 {
		r.gen++
		base := uint32(100_000 + round) // rows stay inside the window for ~300 runs
		for range 300 {
			i := rng.IntN(len(hashes))
			if round%100 > 60 {
				i = rng.IntN(300) // a narrower set for a while
			}
			r.observe(hashes[i], base+uint32(i%50), modelFlags(i), base-300, base+60)
		}
		if round%37 == 5 {
			// A burst of identical rows: 250-320 occurrences of one row
			// in this run (more than the last run's now and then).
			i := hot[round%len(hot)]
			for range 250 + rng.IntN(70) {
				r.observe(hashes[i], base, modelFlags(i), base-300, base+60)
			}
		}
		r.release(rng.IntN(len(r.pending)/3 + 1))
		if round%5 == 4 {
			active := uint32(0)
			if round%2 == 0 {
				active = r.gen
			}
			r.prune(base-250, active)
		}
		if round%7 == 0 || round%256 < 3 {
			compareLedger(t, r.l, r.ref, r.gen)
		}
		maxWide = max(maxWide, len(r.l.wide))
		if r.l.run == 1 {
			wraps++
		}
	}
	if maxWide == 0 || wraps < 2 {
		t.Fatalf("the runs never made a row wide (%d) or wrapped the run number twice (%d)", maxWide, wraps)
	}
	r.release(0)
	r.prune(1<<31, 0)
	compareLedger(t, r.l, r.ref, r.gen)
	if len(r.l.wide) != 0 {
		t.Fatalf("wide table keeps %d rows after everything was pruned", len(r.l.wide))
	}
}

// modelFlags makes every 17th row untimed.
func modelFlags(i int) uint8 {
	if i%17 == 0 {
		return flagUntimed
	}
	return 0
}

// crowdedHashes returns n random row hashes whose first two bytes are zero,
// so rows share home slots.
func crowdedHashes(rng *rand.Rand, n int) []rowHash {
	hashes := make([]rowHash, n)
	for i := range hashes {
		binary.LittleEndian.PutUint64(hashes[i][:8], rng.Uint64()&^0xffff)
		binary.LittleEndian.PutUint64(hashes[i][8:], rng.Uint64())
	}
	return hashes
}

// compareLedger checks that l and the model know the same rows with the same
// counts, that the same rows are being counted in run gen (with the same
// count), and that the wide table holds exactly the wide entries.
func compareLedger(t *testing.T, l *ledger, ref *refLedger, gen uint32) {
	t.Helper()
	if l.len() != len(ref.m) || l.wm != ref.wm {
		t.Fatalf("ledger has %d rows, watermark %d; model %d, %d", l.len(), l.wm, len(ref.m), ref.wm)
	}
	seen, wide := 0, 0
	l.each(func(h rowHash, e *entry, flags uint8) {
		seen++
		r, ok := ref.m[h]
		c := l.counts(e)
		got := refEntry{sec: e.sec, shipped: c.shipped, promised: c.promised, flags: flags}
		if l.gen == gen && e.runGen != 0 && e.runGen == l.run {
			got.runCount, got.runGen = c.runCount, gen
		}
		want := r
		if want.runGen != gen {
			want.runCount, want.runGen = 0, 0
		}
		if !ok || got != want {
			t.Fatalf("row %x: %+v, model %+v (known %v)", h, got, want, ok)
		}
		if _, inWide := l.wide[h]; inWide != (e.promised == wideCount) {
			t.Fatalf("row %x: wide table has it: %v, entry %+v", h, inWide, *e)
		}
		if e.promised == wideCount {
			wide++
		}
	})
	if seen != len(ref.m) {
		t.Fatalf("each visited %d rows, len says %d", seen, len(ref.m))
	}
	if wide != len(l.wide) {
		t.Fatalf("%d wide entries, wide table has %d", wide, len(l.wide))
	}
}

// The entry stays 24 bytes: a million rows are ~24 MB of entries.
func TestLedgerEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n != 24 {
		t.Fatalf("entry is %d bytes", n)
	}
}

// loopCPU runs body b.N times and reports the process's CPU time per
// iteration (user and system, the garbage collector's included): steadier
// than wall time on a shared machine.
func loopCPU(b *testing.B, body func()) {
	cpu0 := processCPU()
	for b.Loop() {
		body()
	}
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// reportLedgerBytes reports the memory that the ledger build returns holds,
// per row: the heap the runtime allocated for it (size classes and pages
// included), measured, not computed from the entry size, plus the mappings
// its large tables live in.
func reportLedgerBytes(b *testing.B, build func() *ledger) {
	b.Helper()
	before := liveHeap()
	l := build()
	after := liveHeap()
	for i := range l.shards {
		if m := l.shards[i].mem; m != nil {
			after += uint64(cap(m.b))
		}
	}
	b.ReportMetric(float64(after-before)/float64(l.len()), "ledger-bytes/row")
	runtime.KeepAlive(l)
	runtime.KeepAlive(build) // and the rows it reads, live in both measurements
}

func ledgerHashes(n int) []rowHash {
	hashes := make([]rowHash, n)
	for i := range hashes {
		hashes[i] = hashBody(binary.LittleEndian.AppendUint64(nil, uint64(i)))
	}
	return hashes
}

// BenchmarkLedgerObserve1M is a backfill's dedup cost: a million new rows
// observed into an empty ledger, which grows as they come.
func BenchmarkLedgerObserve1M(b *testing.B) {
	hashes := ledgerHashes(1_000_000)
	observeAll := func() *ledger {
		l := newLedger()
		for i, h := range hashes {
			l.observe(h, uint32(i), 0, 1, 0, 0)
		}
		return l
	}
	b.ReportAllocs()
	loopCPU(b, func() { observeAll() })
	reportLedgerBytes(b, observeAll)
}

// BenchmarkLedgerSteady1M is the steady state's dedup cost: a run of a
// million rows that the ledger (loaded from a checkpoint) already knows as
// shipped, each iteration a new run.
func BenchmarkLedgerSteady1M(b *testing.B) {
	hashes := ledgerHashes(1_000_000)
	l := newLedger()
	l.reserve(len(hashes))
	for i, h := range hashes {
		l.commit(rowMeta{hash: h, sec: uint32(i), count: 1})
	}
	gen := uint32(0)
	loopCPU(b, func() {
		gen++
		for i, h := range hashes {
			if d, _ := l.observe(h, uint32(i), 0, gen, 0, 0); d != skipShipped {
				b.Fatalf("row %d: %v, want skipShipped", i, d)
			}
		}
	})
}

// TestLedgerReserve: a reserved ledger holds the rows it was sized for
// with few shards growing, each once, and behaves as an unreserved one.
func TestLedgerReserve(t *testing.T) {
	const n = 50_000
	l, ref := newLedger(), newLedger()
	l.reserve(n)
	sizes := make([]int, ledgerShards)
	for i := range l.shards {
		sizes[i] = len(l.shards[i].tags)
	}
	for i := range n {
		m := rowMeta{hash: hashBody(binary.LittleEndian.AppendUint64(nil, uint64(i))), sec: uint32(i), count: 1}
		l.commit(m)
		ref.commit(m)
	}
	grown := 0
	for i := range l.shards {
		switch len(l.shards[i].tags) {
		case sizes[i]:
		case len(allocEntries(grownSize(sizes[i]))):
			grown++
		default:
			t.Fatalf("shard %d reserved with %d slots has %d after loading", i, sizes[i], len(l.shards[i].tags))
		}
	}
	if grown > ledgerShards/6 {
		t.Errorf("%d of %d reserved shards grew while loading the rows they were sized for", grown, ledgerShards)
	}
	if l.len() != n || ref.len() != n {
		t.Fatalf("len %d and %d, want %d", l.len(), ref.len(), n)
	}
	ref.each(func(h rowHash, e *entry, flags uint8) {
		got, _ := l.find(h, 0, 0)
		if got.sec != e.sec || got.shipped != e.shipped {
			t.Fatalf("row %x: reserved ledger has %+v, plain one %+v", h, *got, *e)
		}
	})
}

// BenchmarkLedgerLoad1M is the start-up cost of a checkpoint of a million
// rows: committing them into an empty ledger, with and without reserve.
func BenchmarkLedgerLoad1M(b *testing.B) {
	metas := make([]rowMeta, 1_000_000)
	for i := range metas {
		metas[i] = rowMeta{hash: hashBody(binary.LittleEndian.AppendUint64(nil, uint64(i))), sec: uint32(i), count: 1}
	}
	for _, reserve := range []bool{false, true} {
		b.Run(map[bool]string{false: "grow", true: "reserved"}[reserve], func(b *testing.B) {
			load := func() *ledger {
				l := newLedger()
				if reserve {
					l.reserve(len(metas))
				}
				for _, m := range metas {
					l.commit(m)
				}
				return l
			}
			loopCPU(b, func() { load() })
			reportLedgerBytes(b, load)
		})
	}
}
