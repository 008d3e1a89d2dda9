package digicertin

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
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

// The open-addressing ledger behaves exactly like the map-based model under a
// random mix of observes (with repeats, untimed and old rows), commits and
// prunes, across growth and shrinking of its shards.
func TestLedgerMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := newLedger()
	ref := &refLedger{m: map[rowHash]refEntry{}}
	// Few distinct rows relative to operations, so rows repeat and collide
	// in probe runs; the first hash byte is reused across rows to crowd
	// home slots.
	hashes := make([]rowHash, 20000)
	for i := range hashes {
		binary.LittleEndian.PutUint64(hashes[i][:8], rng.Uint64()&^0xffff)
		binary.LittleEndian.PutUint64(hashes[i][8:], rng.Uint64())
	}
	var pending []rowMeta
	gen := uint32(0)
	for round := range 40 {
		gen++
		base := uint32(1000 + round*100)
		for range 5000 {
			i := rng.IntN(len(hashes))
			if round > 20 {
				i = rng.IntN(len(hashes)/4) + len(hashes)/2 // a later, narrower set
			}
			sec := base + uint32(i%300)
			var flags uint8
			if i%17 == 0 {
				flags = flagUntimed
			}
			now := base + 500
			d1, c1 := l.observe(hashes[i], sec, flags, gen, base, now)
			d2, c2 := ref.observe(hashes[i], sec, flags, gen, base, now)
			if d1 != d2 || c1 != c2 {
				t.Fatalf("round %d: observe = %v, %d; model %v, %d", round, d1, c1, d2, c2)
			}
			if d1 == emitRow {
				m := rowMeta{hash: hashes[i], sec: sec, count: c1, flags: flags}
				if flags != 0 {
					m.sec = now
				}
				pending = append(pending, m)
			}
		}
		// Release most of what was emitted; keep some in flight.
		keep := len(pending) / 5
		for _, m := range pending[:len(pending)-keep] {
			l.commit(m)
			ref.commit(m)
		}
		pending = append(pending[:0], pending[len(pending)-keep:]...)
		if round%3 == 2 {
			active := uint32(0)
			if round%2 == 0 {
				active = gen
			}
			if a, b := l.prune(base+100, active), ref.prune(base+100, active); a != b {
				t.Fatalf("round %d: pruned %d, model %d", round, a, b)
			}
		}
		compareLedger(t, l, ref)
	}
	// Prune everything: every shard gives its memory back.
	for _, m := range pending {
		l.commit(m)
		ref.commit(m)
	}
	l.prune(1<<31, 0)
	ref.prune(1<<31, 0)
	compareLedger(t, l, ref)
	for i := range l.shards {
		if len(l.shards[i].tags) != 0 {
			t.Fatalf("shard %d keeps %d slots after everything was pruned", i, len(l.shards[i].tags))
		}
	}
}

func compareLedger(t *testing.T, l *ledger, ref *refLedger) {
	t.Helper()
	if l.len() != len(ref.m) || l.wm != ref.wm {
		t.Fatalf("ledger has %d rows, watermark %d; model %d, %d", l.len(), l.wm, len(ref.m), ref.wm)
	}
	seen := 0
	l.each(func(h rowHash, e *entry, flags uint8) {
		seen++
		r, ok := ref.m[h]
		got := refEntry{e.sec, e.shipped, e.promised, e.runCount, e.runGen, flags}
		if !ok || got != r {
			t.Fatalf("row %x: %+v, model %+v (known %v)", h, got, r, ok)
		}
	})
	if seen != len(ref.m) {
		t.Fatalf("each visited %d rows, len says %d", seen, len(ref.m))
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// reportLedgerBytes reports the heap that the ledger build returns holds,
// per row: what the runtime allocated for it (size classes and pages
// included), measured, not computed from the entry size.
func reportLedgerBytes(b *testing.B, build func() *ledger) {
	b.Helper()
	before := liveHeap()
	l := build()
	after := liveHeap()
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
	for b.Loop() {
		observeAll()
	}
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
	for b.Loop() {
		gen++
		for i, h := range hashes {
			if d, _ := l.observe(h, uint32(i), 0, gen, 0, 0); d != skipShipped {
				b.Fatalf("row %d: %v, want skipShipped", i, d)
			}
		}
	}
}

// TestLedgerReserve: a reserved ledger holds the rows it was sized for
// without growing, and behaves as an unreserved one.
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
		if len(l.shards[i].tags) != sizes[i] {
			grown++
		}
	}
	if grown > 0 {
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
			for b.Loop() {
				load()
			}
			reportLedgerBytes(b, load)
		})
	}
}
