package digicertin

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// flagUntimed marks a row whose event time could not be used (unparseable or
// implausibly far in the future). Its sec is then a collection time, see entry.
const flagUntimed uint8 = 1

// flagLegacyHash marks, in the checkpoint files only, a row whose hash is
// the unkeyed hashBody of format version 2 (see snapshot.go).
const flagLegacyHash uint8 = 2

// rowMeta travels with each buffered row and becomes its journal record once
// the row's batch is released.
type rowMeta struct {
	hash  rowHash
	sec   uint32 // event time (unix s), or collection time when untimed
	count uint32 // this row is occurrence number count of hash within its run
	flags uint8
}

// metaSize is the encoded size of a rowMeta in the journal and the snapshot.
const metaSize = 16 + 4 + 4 + 1

func appendMeta(dst []byte, m rowMeta) []byte {
	dst = append(dst, m.hash[:]...)
	dst = binary.BigEndian.AppendUint32(dst, m.sec)
	dst = binary.BigEndian.AppendUint32(dst, m.count)
	return append(dst, m.flags)
}

func readMeta(b []byte) rowMeta {
	var m rowMeta
	copy(m.hash[:], b[:16])
	m.sec = binary.BigEndian.Uint32(b[16:])
	m.count = binary.BigEndian.Uint32(b[20:])
	m.flags = b[24]
	return m
}

// entry is what the ledger knows about one row content: 24 bytes, plus the
// table's tag byte (which holds its untimed flag) and the table's slack,
// 28-35 bytes a row in all. A Go map of the same data took ~100.
//
// Counts are occurrences of identical rows within one second, almost always
// 1, so they are held in a byte each. They are never allowed to be wrong (too
// low repeats rows, too high loses them): a row whose counts do not fit is
// "wide", its three counts set to wideCount and held exactly in the ledger's
// wide table. promised is the largest of the three (see observe, commit,
// adopt), so promised == wideCount tells a wide entry.
//
// For untimed rows (flagUntimed) sec is the collection time at which the row
// was last seen in a run, not an event time. There is no event time to hold
// such a row against the dedup window, so it is pruned dedup_window after the
// last run that contained it: as long as runs keep returning the row it stays
// known and is not shipped again; if it reappears more than dedup_window after
// it was last seen, it is shipped again. Untimed rows never move the watermark,
// so a bad date cannot make the input skip real rows.
type entry struct {
	hash     rowHash
	sec      uint32
	shipped  uint8 // occurrences durably handed to Fluent Bit (released and journaled)
	promised uint8 // occurrences put into the buffer (≥ shipped); memory only
	runCount uint8 // occurrences seen so far in run runGen
	runGen   uint8 // the ledger's number of that run (ledger.run); 0 = none
}

// wideCount marks an entry whose counts are in ledger.wide; narrow counts
// are at most wideCount-1.
const wideCount = 0xff

// rowCounts are a row's counts at full width.
type rowCounts struct {
	shipped, promised, runCount uint32
}

// ledger is the dedup state: per-row occurrence counts and the watermark.
// Rows are not unique (identical events happen within one second), so counts,
// not a set: the c-th occurrence of a row within a run is emitted iff c is
// more than the occurrences already emitted.
//
// Two counts are kept. promised includes rows still in the buffer or in
// flight to Fluent Bit, so a run that starts before the previous run's rows
// are released does not emit them again. shipped only includes released rows;
// it is what the checkpoint stores, so a crash can only repeat rows, never
// lose them. Not safe for concurrent use: the engine's mutex guards it.
//
// The table is split into shards by hash, each an open-addressing table
// grown on its own, so growing never holds two copies of the whole ledger
// (a backfill's heap stays flat) and no pointer-free entry costs the GC.
type ledger struct {
	shards [ledgerShards]shard
	n      int    // rows known
	wm     uint32 // durable watermark: newest event time shipped (unix s); 0 = none yet

	wide map[rowHash]*rowCounts // counts of the wide entries (see entry)

	// Entries number runs in a byte: gen is the caller's generation of the
	// run last observed and run its number. When run would wrap, every
	// entry's runGen is cleared first, so no entry counted in an old run
	// looks counted in the new one.
	gen uint32
	run uint8
}

func newLedger() *ledger { return &ledger{} }

// len is the number of distinct rows known.
func (l *ledger) len() int { return l.n }

// each calls fn for every known row; fn must not change the ledger. The
// row's counts are l.counts(e).
func (l *ledger) each(fn func(h rowHash, e *entry, flags uint8)) {
	for si := range l.shards {
		s := &l.shards[si]
		for i, t := range s.tags {
			if t != 0 {
				fn(s.ents[i].hash, &s.ents[i], tagFlags(t))
			}
		}
	}
}

// counts returns the counts of e, an entry of l.
func (l *ledger) counts(e *entry) rowCounts {
	if e.promised == wideCount {
		return *l.wide[e.hash]
	}
	return rowCounts{uint32(e.shipped), uint32(e.promised), uint32(e.runCount)}
}

// widen makes e wide, if it is not, and returns its counts to update.
func (l *ledger) widen(e *entry) *rowCounts {
	if e.promised == wideCount {
		return l.wide[e.hash]
	}
	c := &rowCounts{uint32(e.shipped), uint32(e.promised), uint32(e.runCount)}
	if l.wide == nil {
		l.wide = map[rowHash]*rowCounts{}
	}
	l.wide[e.hash] = c
	e.shipped, e.promised, e.runCount = wideCount, wideCount, wideCount
	return c
}

// runOf returns the entries' number for run generation gen; a new gen is
// the next run.
func (l *ledger) runOf(gen uint32) uint8 {
	if gen != l.gen {
		l.gen = gen
		if l.run == math.MaxUint8 {
			l.clearRuns()
		}
		l.run++
	}
	return l.run
}

// clearRuns forgets which run every entry was last counted in (once every
// 255 runs: one pass over the table).
func (l *ledger) clearRuns() {
	for si := range l.shards {
		ents := l.shards[si].ents
		for i := range ents {
			ents[i].runGen = 0
		}
	}
	l.run = 0
}

// find returns the entry for h and its flags, inserting a new one with
// sec and flags when h is unknown.
func (l *ledger) find(h rowHash, sec uint32, flags uint8) (*entry, uint8) {
	s := &l.shards[h[15]]
	e, t, added := s.findOrAdd(h, sec, flags)
	if added {
		l.n++
	}
	return e, tagFlags(t)
}

// prefetch starts loading the memory where a lookup of h begins (its home
// slot's tag and entry; the entry it finds is usually there or in the next
// line), so that a lookup issued a while later finds it in cache. A row's
// lookup is otherwise a cache miss or two (the table of a million rows is
// ~30 MiB), which the work around it cannot hide: ~150 ns of ~2 µs a row in
// the steady state.
func (l *ledger) prefetch(h *rowHash) {
	s := &l.shards[h[15]]
	if len(s.tags) == 0 {
		return
	}
	i := s.home(h)
	prefetch(unsafe.Pointer(&s.tags[i]))
	prefetch(unsafe.Pointer(&s.ents[i]))
}

// belowCutoff says whether a row is older than a run's cutoff (unix s,
// 0 = none): a timed row older than it is skipped, known or not. Untimed
// rows have no event time to judge, so they never are.
func belowCutoff(sec uint32, flags uint8, cutoff uint32) bool {
	return flags&flagUntimed == 0 && sec < cutoff
}

// decision is the outcome of observing one row.
type decision uint8

const (
	emitRow     decision = iota // new: emit it
	skipShipped                 // this occurrence was already emitted
	skipOld                     // older than the run's cutoff
)

// observe counts one occurrence of a row in run gen and decides whether to
// emit it. cutoff (unix s, 0 = none) drops timed rows older than the window
// without touching the ledger. now is the collection time (unix s) used for
// untimed rows. On emitRow, count is the occurrence number to journal.
// Runs are counted one after another: a gen other than the last one's starts
// a new count.
func (l *ledger) observe(h rowHash, sec uint32, flags uint8, gen, cutoff, now uint32) (d decision, count uint32) {
	if belowCutoff(sec, flags, cutoff) {
		return skipOld, 0
	}
	run := l.runOf(gen)
	e, eflags := l.find(h, sec, flags)
	if eflags&flagUntimed != 0 {
		e.sec = max(e.sec, now)
	}
	fresh := e.runGen != run
	e.runGen = run
	if e.promised != wideCount {
		if fresh {
			e.runCount = 0
		}
		if e.runCount < wideCount-1 {
			e.runCount++
			if e.runCount > e.promised {
				e.promised = e.runCount
				return emitRow, uint32(e.runCount)
			}
			return skipShipped, uint32(e.runCount)
		}
	}
	c := l.widen(e)
	if fresh {
		c.runCount = 0
	}
	c.runCount++
	if c.runCount > c.promised {
		c.promised = c.runCount
		return emitRow, c.runCount
	}
	return skipShipped, c.runCount
}

// unpromise undoes observe's emitRow for occurrence m.count of a row that
// was not queued after all (no memory for its batch), so the next run emits
// it again: promised and the run's count go back to the occurrence before.
func (l *ledger) unpromise(m rowMeta) {
	if m.count == 0 {
		return
	}
	e, _ := l.find(m.hash, m.sec, m.flags)
	before := m.count - 1
	if e.promised != wideCount {
		e.promised = max(e.shipped, min(e.promised, uint8(before)))
		e.runCount = min(e.runCount, uint8(before))
		return
	}
	c := l.wide[e.hash]
	c.promised = max(c.shipped, min(c.promised, before))
	c.runCount = min(c.runCount, before)
}

// commit applies released rows: shipped becomes the highest occurrence
// released, and timed rows advance the watermark. It is also how the journal
// and the snapshot are replayed at start.
func (l *ledger) commit(m rowMeta) {
	e, _ := l.find(m.hash, m.sec, m.flags)
	e.sec = max(e.sec, m.sec)
	if e.promised != wideCount && m.count < wideCount {
		e.shipped = max(e.shipped, uint8(m.count))
		e.promised = max(e.promised, e.shipped)
	} else {
		c := l.widen(e)
		c.shipped = max(c.shipped, m.count)
		c.promised = max(c.promised, c.shipped)
	}
	if m.flags&flagUntimed == 0 {
		l.wm = max(l.wm, m.sec)
	}
}

// prune forgets rows older than floor (unix s) that are fully released and
// not being counted by the active run (activeGen; 0 = none). Keeping in-flight
// rows means a late Release still finds its entry.
func (l *ledger) prune(floor, activeGen uint32) int {
	var active uint8 // entries' number of the active run; 0 = none counted yet
	if activeGen != 0 && activeGen == l.gen {
		active = l.run
	}
	n := 0
	for si := range l.shards {
		n += l.shards[si].removeIf(func(e *entry) bool {
			if e.sec >= floor || (active != 0 && e.runGen == active) {
				return false
			}
			if e.promised != wideCount {
				return e.promised == e.shipped
			}
			if c := l.wide[e.hash]; c.promised != c.shipped {
				return false
			}
			delete(l.wide, e.hash)
			return true
		})
	}
	l.n -= n
	return n
}

// take removes and returns the entry for h, if known, with its counts.
func (l *ledger) take(h rowHash) (entry, rowCounts, uint8, bool) {
	s := &l.shards[h[15]]
	if len(s.tags) == 0 {
		return entry{}, rowCounts{}, 0, false
	}
	want := tagUsed | h[14]&tagHash
	for i := s.home(&h); s.tags[i] != 0; {
		if t := s.tags[i]; t&^tagUntimed == want && s.ents[i].hash == h {
			e := s.ents[i]
			c := l.counts(&e)
			if e.promised == wideCount {
				delete(l.wide, h)
			}
			s.remove(i)
			l.n--
			return e, c, tagFlags(t), true
		}
		if i++; i == len(s.tags) {
			i = 0
		}
	}
	return entry{}, rowCounts{}, 0, false
}

// adopt moves what old knows about a row under hash lh (its format version
// 2 hash) to the same row's keyed hash h in l, keeping the larger counts.
func (l *ledger) adopt(old *ledger, lh, h rowHash) {
	oe, oc, flags, ok := old.take(lh)
	if !ok {
		return
	}
	e, _ := l.find(h, oe.sec, flags)
	e.sec = max(e.sec, oe.sec)
	c := l.counts(e)
	shipped := max(c.shipped, oc.shipped)
	promised := max(c.promised, oc.promised, shipped)
	if e.promised != wideCount && promised < wideCount {
		e.shipped, e.promised = uint8(shipped), uint8(promised)
		return
	}
	w := l.widen(e)
	w.shipped, w.promised = shipped, promised
}

// durable calls fn for every row with released occurrences: what a snapshot holds.
func (l *ledger) durable(fn func(rowMeta)) {
	l.each(func(h rowHash, e *entry, flags uint8) {
		if shipped := l.counts(e).shipped; shipped > 0 {
			fn(rowMeta{hash: h, sec: e.sec, count: shipped, flags: flags})
		}
	})
}

// ledgerShards splits the table by the hash's last byte.
const ledgerShards = 256

// Tag bytes: 0 is an empty slot; a used slot has tagUsed, the row's untimed
// flag, and 6 hash bits that let a probe skip most other rows without
// comparing their hashes.
const (
	tagUsed    = 0x80
	tagUntimed = 0x40
	tagHash    = 0x3f
)

func tagFlags(t uint8) uint8 {
	if t&tagUntimed != 0 {
		return flagUntimed
	}
	return 0
}

// shard is a linear-probing hash table. Its size need not be a power of two:
// a row's home slot is its hash scaled to the size (multiply-shift), so the
// table grows by a quarter at a time and its slack stays small.
type shard struct {
	tags []uint8
	ents []entry
	mem  *tableMem // the mapping holding tags and ents; nil on the Go heap
	n    int
	max  int // rows it holds before it grows
}

const (
	shardMinSize = 8
	shardMaxLoad = 0.9  // grow above this; a new row's probe then reads ~50 tags on average, in a cache line or two
	shardGrow    = 1.25 // and grow by this factor once large,
	shardDouble  = 256  // doubling below this size (fewer rebuilds while the slack is a few bytes)
)

// grownSize is the next size of a shard of size slots.
func grownSize(size int) int {
	if size < shardDouble {
		return max(shardMinSize, 2*size)
	}
	return int(float64(size)*shardGrow) + 1
}

func (s *shard) home(h *rowHash) int {
	hi, _ := bits.Mul64(binary.LittleEndian.Uint64(h[:8]), uint64(len(s.tags)))
	return int(hi)
}

func (s *shard) findOrAdd(h rowHash, sec uint32, flags uint8) (e *entry, tag uint8, added bool) {
	if s.n >= s.max {
		s.resize(grownSize(len(s.tags)))
	}
	want := tagUsed | h[14]&tagHash
	size := len(s.tags)
	for i := s.home(&h); ; {
		t := s.tags[i]
		if t == 0 {
			if flags&flagUntimed != 0 {
				want |= tagUntimed
			}
			s.tags[i] = want
			s.ents[i] = entry{hash: h, sec: sec}
			s.n++
			return &s.ents[i], want, true
		}
		if t&^tagUntimed == want && s.ents[i].hash == h {
			return &s.ents[i], t, false
		}
		if i++; i == size {
			i = 0
		}
	}
}

// resize rebuilds the shard with at least size slots (see allocEntries).
func (s *shard) resize(size int) {
	old, oldEnts, oldMem := s.tags, s.ents, s.mem
	s.tags, s.ents, s.mem = allocTable(size)
	size = len(s.ents)
	s.n, s.max = 0, int(shardMaxLoad*float64(size))
	defer oldMem.free()
	for i, t := range old {
		if t == 0 {
			continue
		}
		j := s.home(&oldEnts[i].hash)
		for s.tags[j] != 0 {
			if j++; j == size {
				j = 0
			}
		}
		s.tags[j], s.ents[j] = t, oldEnts[i]
		s.n++
	}
}

// allocEntries returns at least n zeroed entries: all that fit the memory
// the runtime allocates for n (a large allocation takes whole pages, a small
// one its size class).
func allocEntries(n int) []entry {
	e := slices.Grow([]entry(nil), n)
	return e[:cap(e)]
}

// removeIf deletes the entries drop selects and returns how many. Deletion
// shifts later rows of the same probe run back (no tombstones), so the slot
// just emptied is examined again; every row is examined at least once. A
// shard left mostly empty is shrunk, so a pruned ledger gives memory back.
func (s *shard) removeIf(drop func(*entry) bool) int {
	n := 0
	for i := 0; i < len(s.tags); {
		if s.tags[i] != 0 && drop(&s.ents[i]) {
			s.remove(i)
			n++
			continue
		}
		i++
	}
	if len(s.tags) > shardMinSize && float64(s.n) < 0.3*float64(len(s.tags)) {
		if s.n == 0 {
			s.mem.free()
			*s = shard{}
		} else {
			s.resize(max(shardMinSize, int(float64(s.n)/0.6)+1))
		}
	}
	return n
}

// remove empties slot i by backward-shift deletion: a later row of the probe
// run moves into the hole when its home is not in the cyclic range (i, j].
func (s *shard) remove(i int) {
	size := len(s.tags)
	for j := i; ; {
		if j++; j == size {
			j = 0
		}
		if s.tags[j] == 0 {
			break
		}
		h := s.home(&s.ents[j].hash)
		if (i < j && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			s.tags[i], s.ents[i] = s.tags[j], s.ents[j]
			i = j
		}
	}
	s.tags[i], s.ents[i] = 0, entry{}
	s.n--
}
