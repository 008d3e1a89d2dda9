package digicertin

import (
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// heldRow is a row read and identified whose ledger decision waits for the
// next row (readRun). A ledger lookup is a cache miss that nothing around
// it hides; decided one row later, it finds the memory fetched while the
// next row was decoded (checkpoint.observe's next). Rows are still observed
// in order, and the reader has moved on, so the row is kept as a copy: its
// bytes, members and the key table their ids refer to.
type heldRow struct {
	ok         bool
	m          rowMeta
	t          time.Time
	untimedSec uint32
	row        []byte
	members    []jsonbytes.Member
	keys       *jsonbytes.Keys
	keysGen    uint64 // keys.Gen() when the row was read
}

// keepHeldCap bounds the row buffer kept from one held row to the next, so
// that one huge row does not pin its size for the rest of the run.
const keepHeldCap = 4 << 20

// hold keeps a copy of the current row of rows.
func (h *heldRow) hold(rows rowIterator, m rowMeta, t time.Time, untimedSec uint32) {
	if cap(h.row) > keepHeldCap {
		h.row = nil
	}
	row, members := h.row, h.members
	*h = currentRow(rows, m, t, untimedSec)
	h.row = append(row[:0], h.row...)
	h.members = append(members[:0], h.members...)
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
