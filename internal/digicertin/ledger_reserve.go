package digicertin

import "math"

// reserve sizes the shards for about n more rows, so loading a checkpoint
// of n rows does not rebuild each shard a dozen times as it grows (a quarter
// at a time): for 1,000,000 rows that was most of the start-up time.
// Shards only grow here. Rows spread over shards by hash, so a shard's count
// varies by about its square root. A shard is sized for one such deviation
// above the mean (plus what allocEntries rounds up to): the few
// shards that get more rows grow once while loading, which costs less, in
// time and memory, than a wider margin for every shard.
func (l *ledger) reserve(n int) {
	if n <= 0 {
		return
	}
	per := float64((n+ledgerShards-1)/ledgerShards + l.n/ledgerShards)
	size := int((per+math.Sqrt(per)+8)/shardMaxLoad) + 1
	if size <= shardMinSize {
		return
	}
	for i := range l.shards {
		if s := &l.shards[i]; len(s.tags) < size {
			s.resize(size)
		}
	}
}
