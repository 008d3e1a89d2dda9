package jsonbytes

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"testing"
)

// Every byte value at every position of a word that is otherwise plain, or
// has a second special byte after it: the lowest flagged byte must be exactly
// the first one that matches, since the scanners jump straight to it.
func TestMasksFlagTheFirstMatchExactly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mask  func(uint64) uint64
		match func(byte) bool
	}{
		{"SpecialMask", SpecialMask, func(b byte) bool { return !Plain[b] }},
		{"QuoteMask", QuoteMask, func(b byte) bool { return b == '"' || b == '\\' }},
	} {
		for _, fill := range []string{"abcdefgh", "abcdefg\x00", "abcdefg\""} {
			for pos := 0; pos < 8; pos++ {
				for c := 0; c < 256; c++ {
					w := []byte(fill)
					w[pos] = byte(c)
					want := 8
					for i, b := range w {
						if tc.match(b) {
							want = i
							break
						}
					}
					got := 8
					if m := tc.mask(binary.LittleEndian.Uint64(w)); m != 0 {
						got = bits.TrailingZeros64(m) >> 3
					}
					if got != want {
						t.Fatalf("%s(%q): first flagged byte %d, want %d", tc.name, w, got, want)
					}
				}
			}
		}
	}
}

func TestPlainTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
		if Plain[c] != want {
			t.Errorf("Plain[%#x] = %v, want %v", c, Plain[c], want)
		}
	}
}

func TestIndexQuote(t *testing.T) {
	for _, s := range []string{"", "a", `"`, `\`, "abcdefgh", "abcdefgh\"", "abcdefghijklmnop\\x", "ünïcødé and more text\"", "no end at all, longer than eight"} {
		want := bytes.IndexAny([]byte(s), `"\`)
		if want < 0 {
			want = len(s)
		}
		if got := IndexQuote([]byte(s)); got != want {
			t.Errorf("IndexQuote(%q) = %d, want %d", s, got, want)
		}
	}
}
