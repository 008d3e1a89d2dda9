// Package jsonbytes holds what the row decoder (package digicert) and the
// record encoder (internal/digicertin) share at the byte level: which bytes of a JSON
// string need attention, tested eight at a time (SWAR) on the hot paths, and
// where a validated row's members and keys are (Member, Keys), so that an
// encoder copies what the decoder has already checked.
package jsonbytes

import (
	"encoding/binary"
	"math/bits"
)

// Plain marks the bytes that need no attention inside a JSON string:
// printable ASCII except '"' and '\\'. Control bytes must be escaped and
// bytes from 0x80 up must be checked as UTF-8.
var Plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// SpecialMask flags, in their high bit, the bytes of x (8 bytes,
// little-endian) that are not Plain: '"', '\\', a control byte or a non-ASCII
// byte. It uses haszero(v) = (v - 0x01…) & ^v & 0x80… ("Bit Twiddling
// Hacks"): a borrow only runs upwards from a true match, so the lowest
// flagged byte is always exact; flags above it may not be.
func SpecialMask(x uint64) uint64 {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	ctl := (x - ones*0x20) &^ x
	return (x | ctl | (q-ones)&^q | (b-ones)&^b) & highs
}

// QuoteMask flags the bytes of x that are '"' or '\\', with the same
// exactness as SpecialMask: the lowest flagged byte is a real one.
func QuoteMask(x uint64) uint64 {
	q, b := x^(ones*'"'), x^(ones*'\\')
	return ((q-ones)&^q | (b-ones)&^b) & highs
}

// IndexQuote returns the index of the first '"' or '\\' in b, or len(b).
// Audit values are too short for bytes.IndexAny's setup to pay off.
func IndexQuote(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := QuoteMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' || b[i] == '\\' {
			return i
		}
	}
	return i
}

// Member locates one member of a JSON object by byte offsets into the
// object's text: the key between its quotes, and the value's JSON text (a
// string value keeps its quotes). A decoder that has validated the object
// records them so that an encoder can copy plain members instead of
// scanning them again. ValueEscaped says a string value contains a
// backslash escape. KeyID, when not 0, is the key's id in the decoder's
// Keys (only keys without escapes get one).
type Member struct {
	KeyStart, KeyEnd     uint32
	ValueStart, ValueEnd uint32
	KeyID                uint32
	ValueEscaped         bool
}
