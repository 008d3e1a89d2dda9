package digicertin

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssKiB is this process's resident memory.
func rssKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// A batch's memory is reserved at max_bytes_per_collect but costs only what
// is written: an hourly run of a few rows must not hold a backfill's worth.
// Freed memory goes back to the system.
func TestMmapMemoryCostsWhatIsWritten(t *testing.T) {
	const reserved = 512 << 20
	var m mmapMemory
	before := rssKiB(t)
	b, err := m.alloc(reserved)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 0 || cap(b) != reserved {
		t.Fatalf("alloc gave len %d cap %d, want 0 and %d", len(b), cap(b), reserved)
	}
	b = append(b, make([]byte, 64<<10)...)
	if grew := rssKiB(t) - before; grew > 32<<10 {
		t.Fatalf("64 KiB written into a %d MiB batch grew RSS by %d KiB", reserved>>20, grew)
	}
	b = b[:cap(b)]
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	if grew := rssKiB(t) - before; grew < reserved>>10/2 {
		t.Fatalf("writing every page grew RSS by only %d KiB: the measurement does not see the mapping", grew)
	}
	m.free(b)
	if held := rssKiB(t) - before; held > 64<<10 {
		t.Fatalf("after free %d KiB still resident", held)
	}
}
