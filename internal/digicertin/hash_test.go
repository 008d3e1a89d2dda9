package digicertin

import (
	"bytes"
	"fmt"
	"strings"

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

// SipHash-2-4-128 vectors (key 00…0f, message 00…(n-1)), as computed by
// `openssl mac -macopt hexkey:000102030405060708090a0b0c0d0e0f -macopt size:16 SIPHASH`
// (0 and 1 bytes are also in the reference implementation's table).
func TestKeyedHashVectors(t *testing.T) {
	k := hashKey{k0: 0x0706050403020100, k1: 0x0f0e0d0c0b0a0908}
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, want := range map[int]string{
		0:  "a3817f04ba25a8e66df67214c7550293",
		1:  "da87c1d86b99af44347659119b22fc45",
		15: "5493e99933b0a8117e08ec0f97cfc3d9",
		63: "5150d1772f50834a503e069a973fbd7c",
	} {
		h := k.sum(msg[:n])
		if got := hex.EncodeToString(h[:]); got != want {
			t.Errorf("sum(%d bytes) = %s, want %s", n, got, want)
		}
	}
}

func BenchmarkKeyedHash600(b *testing.B) {
	row := make([]byte, 600)
	for i := range row {
		row[i] = byte(i * 7)
	}
	k := hashKey{1, 2}
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		k.sum(row)
	}
}

// forgedPair builds two audit rows that differ in their Action but whose
// bodies collide under the unkeyed hashBody: a comment (text an outsider can
// often choose) carries, 16-byte aligned in the msgpack body, the block that
// zeroes both lanes whatever came before (x = hk1, y = hk4).
func forgedPair(t *testing.T) (a, b string) {
	t.Helper()
	var blk [16]byte
	binary.LittleEndian.PutUint64(blk[:], hk1)
	binary.LittleEndian.PutUint64(blk[8:], hk4)
	var esc strings.Builder
	for _, c := range blk {
		if c < 0x20 || c == '"' || c == '\\' {
			fmt.Fprintf(&esc, `\u%04x`, c)
		} else {
			esc.WriteByte(c)
		}
	}
	mk := func(action string, pad int) string {
		return `{"Date and time (UTC)":"06-Feb-2025 10:00:00","Action":"` + action + `","Comment":"` +
			strings.Repeat("p", pad) + esc.String() + strings.Repeat("t", 40-pad) + `"}`
	}
	var enc RowEncoder
	for pad := range 16 {
		ba, _, err := enc.AppendBody(nil, []byte(mk("A", pad)))
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(ba, blk[:]); i >= 0 && i%16 == 0 {
			bb, _, _ := enc.AppendBody(nil, []byte(mk("Z", pad)))
			if hashBody(ba) != hashBody(bb) {
				t.Fatal("the crafted rows do not collide under hashBody; the test proves nothing")
			}
			return mk("A", pad), mk("Z", pad)
		}
	}
	t.Fatal("no padding aligns the block")
	return "", ""
}

// Row identity cannot be forged: two different rows whose unkeyed hashes
// collide (crafted by an outsider) are both shipped, because rows are
// identified by a keyed hash under the checkpoint's secret key.
func TestForgedCollisionDoesNotSkipARow(t *testing.T) {
	a, b := forgedPair(t)
	src := newFakeSource()
	src.add("r1", b) // the outsider's row comes first
	src.add("r2", a) // then the real event
	r := newFakeRig(t, src, nil)
	r.poll()
	r.poll()
	if r.count("A") != 1 || r.count("Z") != 1 {
		t.Fatalf("shipped A %d×, Z %d×; want each once (the real event A was taken for the forged Z)", r.count("A"), r.count("Z"))
	}
}

// Each checkpoint gets its own random key, kept across restarts.
func TestHashKeyPerCheckpoint(t *testing.T) {
	r1 := newFakeRig(t, newFakeSource(), nil)
	r2 := newFakeRig(t, newFakeSource(), nil)
	k1, k2 := r1.e.cp.key, r2.e.cp.key
	if k1 == k2 || k1 == (hashKey{}) {
		t.Fatalf("keys %x and %x: want two different random keys", k1, k2)
	}
	r1.crash() // the key was saved when the checkpoint was created
	r1.open()
	if r1.e.cp.key != k1 {
		t.Fatal("the key changed across a restart")
	}
}
