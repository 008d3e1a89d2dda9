package secopsout

import (
	"encoding/binary"
	"math"
)

// Readers for single msgpack values. Each takes the buffer and an offset and
// returns the offset past what it read; none allocates on success.

func isMap(c byte) bool   { return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf }
func isArray(c byte) bool { return (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd }

// need checks that n more bytes are available at i. It is kept tiny so the
// compiler inlines it; the error is built out of line.
func need(b []byte, i, n int) error {
	if n < 0 || i > len(b)-n {
		return truncated(b, i, n)
	}
	return nil
}

//go:noinline
func truncated(b []byte, i, n int) error {
	return syntaxErr(i, "truncated: need %d bytes, have %d", n, len(b)-i)
}

// readLen reads a big-endian length of width 1, 2 or 4 bytes at i.
func readLen(b []byte, i, width int) (int, int, error) {
	if err := need(b, i, width); err != nil {
		return 0, 0, err
	}
	switch width {
	case 1:
		return int(b[i]), i + 1, nil
	case 2:
		return int(binary.BigEndian.Uint16(b[i:])), i + 2, nil
	default:
		return int(binary.BigEndian.Uint32(b[i:])), i + 4, nil
	}
}

// readMapHeader returns the pair count of the map at i and the offset of its first key.
func readMapHeader(b []byte, i int) (int, int, error) {
	return readCount(b, i, 0x80, 0xde, 0xdf, 2, "a map")
}

// readArrayHeader returns the element count of the array at i and the offset of its first element.
func readArrayHeader(b []byte, i int) (int, int, error) {
	return readCount(b, i, 0x90, 0xdc, 0xdd, 1, "an array")
}

// readCount reads a map or array header (fix form, 16- or 32-bit count).
// Each element needs at least one byte (a map pair two), so impossible
// counts are rejected before any loop runs over them.
func readCount(b []byte, i int, fix, c16, c32 byte, minBytes int, what string) (int, int, error) {
	if err := need(b, i, 1); err != nil {
		return 0, 0, err
	}
	c := b[i]
	var n, next int
	var err error
	switch {
	case c&0xf0 == fix:
		n, next = int(c&0x0f), i+1
	case c == c16:
		n, next, err = readLen(b, i+1, 2)
	case c == c32:
		n, next, err = readLen(b, i+1, 4)
	default:
		return 0, 0, syntaxErr(i, "expected %s, found type 0x%02x", what, c)
	}
	if err != nil {
		return 0, 0, err
	}
	if n > (len(b)-next)/minBytes {
		return 0, 0, syntaxErr(i, "%s of %d elements does not fit in the remaining %d bytes", what, n, len(b)-next)
	}
	return n, next, nil
}

// readInt reads any msgpack integer at i. For uint64 values the result is in
// u with isUint set; otherwise in v.
func readInt(b []byte, i int) (v int64, u uint64, isUint bool, next int, err error) {
	c := b[i]
	switch {
	case c <= 0x7f:
		return int64(c), 0, false, i + 1, nil
	case c >= 0xe0:
		return int64(int8(c)), 0, false, i + 1, nil
	}
	width := 1 << ((c - 0xcc) & 3) // cc..cf and d0..d3 → 1, 2, 4, 8
	if err := need(b, i+1, width); err != nil {
		return 0, 0, false, 0, err
	}
	p := b[i+1:]
	next = i + 1 + width
	switch c {
	case 0xcc:
		return int64(p[0]), 0, false, next, nil
	case 0xcd:
		return int64(binary.BigEndian.Uint16(p)), 0, false, next, nil
	case 0xce:
		return int64(binary.BigEndian.Uint32(p)), 0, false, next, nil
	case 0xcf:
		return 0, binary.BigEndian.Uint64(p), true, next, nil
	case 0xd0:
		return int64(int8(p[0])), 0, false, next, nil
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(p))), 0, false, next, nil
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(p))), 0, false, next, nil
	default: // 0xd3
		return int64(binary.BigEndian.Uint64(p)), 0, false, next, nil
	}
}

// readFloat reads a float32 (0xca) or float64 (0xcb) at i.
func readFloat(b []byte, i int) (float64, int, error) {
	if b[i] == 0xca {
		if err := need(b, i+1, 4); err != nil {
			return 0, 0, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b[i+1:]))), i + 5, nil
	}
	if err := need(b, i+1, 8); err != nil {
		return 0, 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b[i+1:])), i + 9, nil
}

// readStrOrBin returns the payload of a str or bin value at i; ok is false
// when the value is of another type.
func readStrOrBin(b []byte, i int) (payload []byte, isBin bool, next int, ok bool, err error) {
	c := b[i]
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n, next = int(c&0x1f), i+1
	case c == 0xd9:
		n, next, err = readLen(b, i+1, 1)
	case c == 0xda:
		n, next, err = readLen(b, i+1, 2)
	case c == 0xdb:
		n, next, err = readLen(b, i+1, 4)
	case c == 0xc4:
		n, next, err = readLen(b, i+1, 1)
		isBin = true
	case c == 0xc5:
		n, next, err = readLen(b, i+1, 2)
		isBin = true
	case c == 0xc6:
		n, next, err = readLen(b, i+1, 4)
		isBin = true
	default:
		return nil, false, i, false, nil
	}
	if err != nil {
		return nil, false, 0, true, err
	}
	if err := need(b, next, n); err != nil {
		return nil, false, 0, true, err
	}
	return b[next : next+n], isBin, next + n, true, nil
}

// readExt returns the type and payload of an ext value at i.
func readExt(b []byte, i int) (typ int8, payload []byte, next int, err error) {
	c := b[i]
	var n int
	switch c {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		n, next = 1<<(c-0xd4), i+1
	case 0xc7:
		n, next, err = readLen(b, i+1, 1)
	case 0xc8:
		n, next, err = readLen(b, i+1, 2)
	case 0xc9:
		n, next, err = readLen(b, i+1, 4)
	default:
		return 0, nil, 0, syntaxErr(i, "expected an ext value, found type 0x%02x", c)
	}
	if err != nil {
		return 0, nil, 0, err
	}
	if err := need(b, next, n+1); err != nil {
		return 0, nil, 0, err
	}
	return int8(b[next]), b[next+1 : next+1+n], next + 1 + n, nil
}

// skip returns the offset just past the value at i, validating its structure.
func skip(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, truncated(b, i, 1)
	}
	c := b[i]
	if c&0xe0 == 0xa0 { // fixstr, by far the most common in records
		end := i + 1 + int(c&0x1f)
		if end > len(b) {
			return 0, truncated(b, i+1, int(c&0x1f))
		}
		return end, nil
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return i + 1, nil
	case c >= 0xcc && c <= 0xd3:
		_, _, _, next, err := readInt(b, i)
		return next, err
	case c == 0xca || c == 0xcb:
		_, next, err := readFloat(b, i)
		return next, err
	case (c >= 0xd9 && c <= 0xdb) || (c >= 0xc4 && c <= 0xc6):
		_, _, next, _, err := readStrOrBin(b, i)
		return next, err
	case (c >= 0xd4 && c <= 0xd8) || (c >= 0xc7 && c <= 0xc9):
		_, _, next, err := readExt(b, i)
		return next, err
	}
	if depth >= maxDepth {
		return 0, syntaxErr(i, "nesting deeper than %d levels", maxDepth)
	}
	switch {
	case isMap(c):
		n, j, err := readMapHeader(b, i)
		if err != nil {
			return 0, err
		}
		for k := 0; k < 2*n; k++ {
			if j, err = skip(b, j, depth+1); err != nil {
				return 0, err
			}
		}
		return j, nil
	case isArray(c):
		n, j, err := readArrayHeader(b, i)
		if err != nil {
			return 0, err
		}
		for k := 0; k < n; k++ {
			if j, err = skip(b, j, depth+1); err != nil {
				return 0, err
			}
		}
		return j, nil
	}
	return 0, syntaxErr(i, "invalid msgpack type byte 0x%02x", c)
}
