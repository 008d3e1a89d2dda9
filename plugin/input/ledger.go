package input

import (
	"crypto/sha256"
	"encoding/binary"
)

// rowHash identifies a row by content: SHA-256 of its msgpack body, truncated
// to 128 bits. Rows have no unique id (digicert-reports-api.md §7), so equal
// content is the only identity; 128 bits make an accidental collision among
// millions of rows negligible (~1e-26).
type rowHash [16]byte

func hashBody(body []byte) rowHash {
	sum := sha256.Sum256(body)
	return rowHash(sum[:16])
}

// flagUntimed marks a row whose event time could not be used (unparseable or
// implausibly far in the future). Its sec is then a collection time, see entry.
const flagUntimed uint8 = 1

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

// entry is what the ledger knows about one row content.
//
// For untimed rows (flagUntimed) sec is the collection time at which the row
// was last seen in a run, not an event time. There is no event time to hold
// such a row against the dedup window, so it is pruned dedup_window after the
// last run that contained it: as long as runs keep returning the row it stays
// known and is not shipped again; if it reappears more than dedup_window after
// it was last seen, it is shipped again. Untimed rows never move the watermark,
// so a bad date cannot make the input skip real rows.
type entry struct {
	sec      uint32
	shipped  uint32 // occurrences durably handed to Fluent Bit (released and journaled)
	promised uint32 // occurrences put into the buffer (≥ shipped); memory only
	runCount uint32 // occurrences seen so far in run runGen
	runGen   uint32
	flags    uint8
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
type ledger struct {
	m  map[rowHash]entry
	wm uint32 // durable watermark: newest event time shipped (unix s); 0 = none yet
}

func newLedger() *ledger { return &ledger{m: make(map[rowHash]entry)} }

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
func (l *ledger) observe(h rowHash, sec uint32, flags uint8, gen, cutoff, now uint32) (d decision, count uint32) {
	if flags&flagUntimed == 0 && sec < cutoff {
		return skipOld, 0
	}
	e, ok := l.m[h]
	if !ok {
		e = entry{sec: sec, flags: flags}
	}
	if e.flags&flagUntimed != 0 {
		e.sec = max(e.sec, now)
	}
	if e.runGen != gen {
		e.runGen, e.runCount = gen, 0
	}
	e.runCount++
	count = e.runCount
	d = skipShipped
	if count > e.promised {
		e.promised = count
		d = emitRow
	}
	l.m[h] = e
	return d, count
}

// commit applies released rows: shipped becomes the highest occurrence
// released, and timed rows advance the watermark. It is also how the journal
// and the snapshot are replayed at start.
func (l *ledger) commit(m rowMeta) {
	e, ok := l.m[m.hash]
	if !ok {
		e = entry{sec: m.sec, flags: m.flags}
	}
	e.sec = max(e.sec, m.sec)
	e.shipped = max(e.shipped, m.count)
	e.promised = max(e.promised, e.shipped)
	l.m[m.hash] = e
	if m.flags&flagUntimed == 0 {
		l.wm = max(l.wm, m.sec)
	}
}

// prune forgets rows older than floor (unix s) that are fully released and
// not being counted by the active run (activeGen; 0 = none). Keeping in-flight
// rows means a late Release still finds its entry.
func (l *ledger) prune(floor, activeGen uint32) int {
	n := 0
	for h, e := range l.m {
		if e.sec < floor && e.promised == e.shipped && (activeGen == 0 || e.runGen != activeGen) {
			delete(l.m, h)
			n++
		}
	}
	return n
}

// durable calls fn for every row with released occurrences: what a snapshot holds.
func (l *ledger) durable(fn func(rowMeta)) {
	for h, e := range l.m {
		if e.shipped > 0 {
			fn(rowMeta{hash: h, sec: e.sec, count: e.shipped, flags: e.flags})
		}
	}
}
