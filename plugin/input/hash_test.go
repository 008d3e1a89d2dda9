package input

import (
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"testing"
)

// The hash is persisted in checkpoints: a change to it would make every
// restart re-ship the dedup window. These values pin it (computed by this
// implementation when the format version 2 was introduced).
func TestHashBodyStable(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "44810f45996376340eba221af4f60ba5",
		"a":                "19fd768cd1d5fa9c0693f409808cc53f",
		"0123456789abcdef": "70adf0862ca75ae4f4c82d7dae4ce3f1",
		"the quick brown fox jumps over the lazy dog, 06-Feb-2025 10:28:04": "1cfd56dbd6907b2aa7bd431a31bbf2e7",
	} {
		h := hashBody([]byte(in))
		if got := hex.EncodeToString(h[:]); got != want {
			t.Errorf("hashBody(%q) = %s, want %s", in, got, want)
		}
	}
}

// Inputs that differ in one bit, in length only, or by trailing zero bytes
// all hash differently, and a flipped input bit flips about half of the
// output bits in each lane.
func TestHashBodyDistinguishes(t *testing.T) {
	seen := map[rowHash]string{}
	add := func(b []byte) {
		h := hashBody(b)
		if prev, ok := seen[h]; ok && prev != string(b) {
			t.Fatalf("collision: %x and %x", prev, b)
		}
		seen[h] = string(b)
	}
	base := []byte("\x82\xa4user\xa5alice\xa6action\xb2certificate issued, order 1234567")
	for n := 0; n <= len(base); n++ {
		add(base[:n])
		add(append(append([]byte{}, base[:n]...), 0))
		add(append(append([]byte{}, base[:n]...), 0, 0))
	}
	var flips [2]int
	samples := 0
	for i := range len(base) * 8 {
		b := append([]byte{}, base...)
		b[i/8] ^= 1 << (i % 8)
		add(b)
		h0, h1 := hashBody(base), hashBody(b)
		for lane := range 2 {
			x := binary.LittleEndian.Uint64(h0[lane*8:]) ^ binary.LittleEndian.Uint64(h1[lane*8:])
			flips[lane] += bits.OnesCount64(x)
		}
		samples++
	}
	for lane, f := range flips {
		if avg := float64(f) / float64(samples); avg < 28 || avg > 36 {
			t.Errorf("lane %d: a one-bit input change flips %.1f of 64 bits on average, want ~32", lane, avg)
		}
	}
	// A million sequential counters (the shape of near-identical rows).
	for i := range 1_000_000 {
		h := hashBody(binary.LittleEndian.AppendUint64(nil, uint64(i)))
		if _, ok := seen[h]; ok {
			t.Fatalf("collision at counter %d", i)
		}
		seen[h] = ""
	}
}

func BenchmarkHashBody600(b *testing.B) {
	row := make([]byte, 600)
	for i := range row {
		row[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		hashBody(row)
	}
}
