package digicertin

import (
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// heldRow is a row read and identified whose ledger decision waits for the
// next row (readRun). A ledger lookup is a cache miss that nothing around
// it hides; decided one row later, it finds the memory fetched while the
// next row was decoded (checkpoint.observe's next). Rows are still observed
// in order, and the reader has moved on, so the row is kept as a copy.
type heldRow struct {
	ok         bool
	m          rowMeta
	t          time.Time
	untimedSec uint32
	row        []byte
	members    []jsonbytes.Member // nil: encoding scans the row
	keys       *jsonbytes.Keys
	keysGen    uint64 // keys.Gen() when the row was read

	// emitting says the row decided last was emitted. Only then are the
	// members kept: copying them costs as much as the bytes, and only a
	// row that is emitted needs them, to be encoded without a scan. In a
	// backfill nearly every row is emitted, in the steady state nearly
	// none; a row that is emitted unlike the one before is scanned, which
	// gives the same record.
	emitting bool
}

// keepHeldCap bounds the row buffer kept from one held row to the next, so
// that one huge row does not pin its size for the rest of the run.
const keepHeldCap = 4 << 20

// hold keeps a copy of the current row of rows.
func (h *heldRow) hold(rows rowIterator, m rowMeta, t time.Time, untimedSec uint32) {
	if cap(h.row) > keepHeldCap {
		h.row = nil
	}
	h.ok, h.m, h.t, h.untimedSec = true, m, t, untimedSec
	h.row = append(h.row[:0], rows.Row()...)
	h.members, h.keys = h.members[:0], nil
	if h.emitting {
		h.members = append(h.members, rows.Members()...)
		if h.keys = rows.Keys(); h.keys != nil {
			h.keysGen = h.keys.Gen()
		}
	}
}

// currentRow is the current row of rows, valid until rows moves on.
func currentRow(rows rowIterator, m rowMeta, t time.Time, untimedSec uint32) heldRow {
	h := heldRow{ok: true, m: m, t: t, untimedSec: untimedSec, row: rows.Row(), members: rows.Members(), keys: rows.Keys()}
	if h.keys != nil {
		h.keysGen = h.keys.Gen()
	}
	return h
}

// validKeys returns the key table for the row's members' key ids, or nil
// with the ids cleared when the table started over since the row was read
// (its ids name other keys now; the keys are then read from the row).
func (h *heldRow) validKeys() *jsonbytes.Keys {
	if h.keys == nil || h.keys.Gen() == h.keysGen {
		return h.keys
	}
	for i := range h.members {
		h.members[i].KeyID = 0
	}
	h.keys = nil
	return nil
}
