package digicertin

import (
	"encoding/binary"
	"math/bits"
)

// rowHash identifies a row by content: a 128-bit keyed hash of its keys and
// values (rowIdent in identity.go). Audit rows carry no unique id, so equal
// content is the only identity; 128 bits make an accidental collision among
// millions of rows negligible (~1e-27 for 1,000,000 rows). Rows are hashed
// with hashKey.sum, keyed per checkpoint. Earlier checkpoint formats hashed
// the row's msgpack body: version 3 with hashKey.sum, version 2 with the
// unkeyed hashBody below; both are kept to recognise rows such a checkpoint
// holds.
type rowHash [16]byte

// hashBody is persisted in version 2 checkpoints, so it must keep giving the
// same value: fixed constants, little-endian reads, no per-process seed. It
// does not resist an attacker: its constants are public, so a crafted block
// can reset its state (see forgedPair in the tests), which is why rows are
// now identified by the keyed hash.
//
// Construction: two independent 64-bit lanes, each a multiply-fold chain in
// the style of wyhash (mix(a, b) = high ^ low of the 128-bit product). Each
// 16-byte block feeds both lanes with the words in swapped roles and with
// different secrets.
const (
	hk0 = 0xa0761d6478bd642f
	hk1 = 0xe7037ed1a0b428db
	hk2 = 0x8ebc6af09c88c6e3
	hk3 = 0x589965cc75374cc3
	hk4 = 0x1d8e4e27c47d124f
	hk5 = 0x9e3779b97f4a7c15
)

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func hashBody(b []byte) rowHash {
	n := uint64(len(b))
	h1, h2 := hk0^n, hk3^(n*hk5)
	for len(b) >= 16 {
		x, y := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		h1 = mix(x^hk1, y^h1)
		h2 = mix(y^hk4, x^h2^hk2)
		b = b[16:]
	}
	// The tail (0..15 bytes) is read as two zero-padded words; the length,
	// mixed in at the start, separates inputs that differ only by trailing
	// zero bytes.
	var x, y uint64
	switch {
	case len(b) >= 8:
		x = binary.LittleEndian.Uint64(b)
		y = tailWord(b[8:])
	default:
		x = tailWord(b)
	}
	h1 = mix(x^hk1, y^h1)
	h2 = mix(y^hk4, x^h2^hk2)
	// Finalize: fold each lane with the other's secret and the length so
	// every input bit reaches every output bit.
	h1 = mix(h1^hk2, n^hk5) ^ h1
	h2 = mix(h2^hk0, n^hk1) ^ h2
	h1 = mix(h1^hk3, hk4) ^ h1
	h2 = mix(h2^hk1, hk5) ^ h2
	var h rowHash
	binary.LittleEndian.PutUint64(h[:], h1)
	binary.LittleEndian.PutUint64(h[8:], h2)
	return h
}

// tailWord reads up to 8 bytes little-endian, zero-padded.
func tailWord(b []byte) uint64 {
	var w uint64
	for i := len(b) - 1; i >= 0; i-- {
		w = w<<8 | uint64(b[i])
	}
	return w
}

// hashKey is the secret of the keyed row hash: 128 random bits created with
// the checkpoint and stored in it (a checkpoint is only as secret as the
// rows it describes, and whoever can read it can read the key anyway).
type hashKey struct{ k0, k1 uint64 }

// sum is SipHash-2-4 with 128-bit output (Aumasson and Bernstein), a keyed
// pseudorandom function: without the key, nobody can craft a row whose hash
// equals another row's, so an outsider who controls text in a row (a common
// name, a comment) cannot make a real audit event be skipped as "already
// shipped". It costs ~4× hashBody (~0.4 µs for 600 bytes, see
// docs/benchmarks.md); a row's identity hashes only its values, ~250 bytes
// for an audit row.
func (k hashKey) sum(b []byte) rowHash {
	n := len(b)
	v0 := k.k0 ^ 0x736f6d6570736575
	v1 := k.k1 ^ 0x646f72616e646f6d ^ 0xee
	v2 := k.k0 ^ 0x6c7967656e657261
	v3 := k.k1 ^ 0x7465646279746573
	for len(b) >= 8 {
		m := binary.LittleEndian.Uint64(b)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
		b = b[8:]
	}
	m := uint64(n)<<56 | tailWord(b)
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	v2 ^= 0xee
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	var h rowHash
	binary.LittleEndian.PutUint64(h[:], v0^v1^v2^v3)
	v1 ^= 0xdd
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	binary.LittleEndian.PutUint64(h[8:], v0^v1^v2^v3)
	return h
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
