package digicertin

import (
	"os"
	"runtime"
	"unsafe"
)

// tableMapMin is the size from which a shard's table lives in a mapping of
// its own instead of on the Go heap. A million-row ledger's ~28 MiB are then
// outside the heap: the garbage collector neither scans them nor lets the
// heap grow by GOGC percent of them (~14 MiB at the input's GOGC 50), and a
// shard that grows or empties returns its old table to the system at once.
const tableMapMin = 16 << 10

// tableMem is a mapping holding one shard's table. It is unmapped when the
// shard replaces its table, or by a cleanup once the ledger is unreachable.
type tableMem struct {
	b       []byte
	cleanup runtime.Cleanup
}

// free unmaps the table; nil-safe. Its slices must not be used after.
func (m *tableMem) free() {
	if m == nil || m.b == nil {
		return
	}
	m.cleanup.Stop()
	unmapMemory(m.b)
	m.b = nil
}

// allocTable returns zeroed tags and entries for at least n slots: all that
// fit the memory taken (whole pages for a mapping, the size class on the
// heap), and the mapping, if any.
func allocTable(n int) ([]uint8, []entry, *tableMem) {
	const slot = int(unsafe.Sizeof(entry{})) + 1
	if n*slot >= tableMapMin {
		page := os.Getpagesize()
		size := (n*slot + page - 1) / page * page
		if b, err := mapMemory(size); err == nil {
			b = b[:size]
			n = size / slot
			ents := unsafe.Slice((*entry)(unsafe.Pointer(unsafe.SliceData(b))), n)
			tags := b[n*int(unsafe.Sizeof(entry{})) : n*slot : n*slot]
			m := &tableMem{b: b}
			m.cleanup = runtime.AddCleanup(m, unmapMemory, b)
			return tags, ents, m
		}
		// No mapping to be had: the heap will do.
	}
	ents := allocEntries(n)
	return make([]uint8, len(ents)), ents, nil
}
