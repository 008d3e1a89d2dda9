package digicertin

import (
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A large ledger's tables live outside the Go heap, are still exact, and go
// back to the system when the ledger is dropped.
func TestLedgerTablesOffHeap(t *testing.T) {
	const rows = 400_000
	debug.FreeOSMemory() // earlier tests' garbage must not leave during the measurement
	heap0, rss0 := heapObjects(), rssKiB(t)
	l := newLedger()
	for i := range uint64(rows) {
		if d, _ := l.observe(rowN(i), 1000, 0, 1, 0, 0); d != emitRow {
			t.Fatalf("row %d not new", i)
		}
	}
	debug.FreeOSMemory()
	mapped := 0
	for i := range l.shards {
		if l.shards[i].mem != nil {
			mapped++
		}
	}
	if mapped != ledgerShards {
		t.Fatalf("%d of %d shards in a mapping", mapped, ledgerShards)
	}
	// On the heap the tables would take ~11 MB (25 bytes a slot at 90 %).
	if grew := int64(heapObjects()) - int64(heap0); grew > 2<<20 {
		t.Errorf("the heap grew by %d bytes for %d rows", grew, rows)
	}
	tables := rssKiB(t) - rss0
	if tables < 8<<10 {
		t.Fatalf("RSS grew by only %d KiB for %d rows: the measurement does not see the tables", tables, rows)
	}
	for i := range uint64(rows) {
		if d, _ := l.observe(rowN(i), 1000, 0, 2, 0, 0); d != skipShipped {
			t.Fatalf("row %d not known after the tables grew", i)
		}
	}
	l = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		debug.FreeOSMemory()
		if held := rssKiB(t) - rss0; held < tables/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dropped ledger's tables are still resident (%d of %d KiB)", rssKiB(t)-rss0, tables)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
