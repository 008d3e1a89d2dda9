package digicertsim

import (
	"sort"
	"sync"
	"time"
)

// event is one audit event inside an hour bucket: 8 bytes, the row content
// is regenerated from (seed, hour, key) when served.
type event struct {
	off uint16 // seconds into the hour
	key uint32 // content key; a duplicate repeats its predecessor's key
}

// maxCachedBuckets bounds memory; evicted buckets are simply regenerated.
const maxCachedBuckets = 256

// generator produces the deterministic event stream.
type generator struct {
	seed     uint64
	eph      int
	dupEvery int
	origin   int64 // first second at which events exist (Unix)
	layout   string

	mu    sync.Mutex
	cache map[int64][]event
	order []int64 // insertion order for eviction
}

func newGenerator(cfg Config) *generator {
	layout := "02-Jan-2006 15:04:05"
	if cfg.DateFormat == DateFormatNumeric {
		layout = "02-01-2006 15:04:05"
	}
	return &generator{
		seed:     uint64(cfg.Seed),
		eph:      cfg.EventsPerHour,
		dupEvery: cfg.DuplicateEvery,
		origin:   cfg.Start.Add(-cfg.Backlog).Unix(),
		layout:   layout,
		cache:    map[int64][]event{},
	}
}

// bucket returns the sorted events of hour h (Unix seconds / 3600).
func (g *generator) bucket(h int64) []event {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.cache[h]; ok {
		return b
	}
	r := newPRNG(g.seed, uint64(h), 0xb0c4e7)
	// ±10 % per hour so counts are not suspiciously round.
	n := g.eph*9/10 + r.intn(g.eph/5+1)
	offs := make([]uint16, n)
	for i := range offs {
		offs[i] = uint16(r.intn(3600))
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	b := make([]event, n)
	for i, o := range offs {
		b[i] = event{off: o, key: uint32(i)}
		if i > 0 && g.dupEvery > 0 && r.intn(g.dupEvery) == 0 {
			b[i] = b[i-1] // exact duplicate: same second, same content
		}
	}
	if len(g.order) >= maxCachedBuckets {
		delete(g.cache, g.order[0])
		g.order = g.order[1:]
	}
	g.cache[h] = b
	g.order = append(g.order, h)
	return b
}

// span returns the events of hour h whose time is in [from, to] (Unix
// seconds, inclusive) and not before the origin.
func (g *generator) span(h, from, to int64) []event {
	if from < g.origin {
		from = g.origin
	}
	b := g.bucket(h)
	base := h * 3600
	lo := sort.Search(len(b), func(i int) bool { return base+int64(b[i].off) >= from })
	hi := sort.Search(len(b), func(i int) bool { return base+int64(b[i].off) > to })
	if lo >= hi {
		return nil
	}
	return b[lo:hi]
}

// count returns the number of events in [from, to].
func (g *generator) count(from, to int64) int {
	n := 0
	for h := floorDiv(from, 3600); h <= floorDiv(to, 3600); h++ {
		n += len(g.span(h, from, to))
	}
	return n
}

// each calls fn for the events in [from, to] in time order, skipping the
// first skip events and stopping after max events (max < 0: no limit) or
// when fn returns false.
func (g *generator) each(from, to int64, skip, max int, fn func(h int64, e event) bool) {
	if max == 0 {
		return
	}
	for h := floorDiv(from, 3600); h <= floorDiv(to, 3600); h++ {
		s := g.span(h, from, to)
		if skip >= len(s) {
			skip -= len(s)
			continue
		}
		s = s[skip:]
		skip = 0
		for _, e := range s {
			if !fn(h, e) {
				return
			}
			if max > 0 {
				max--
				if max == 0 {
					return
				}
			}
		}
	}
}

func (g *generator) eventTime(h int64, e event) time.Time {
	return time.Unix(h*3600+int64(e.off), 0).UTC()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
