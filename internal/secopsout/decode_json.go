package secopsout

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// AppendJSON appends body as one compact JSON object, keeping keys and values
// exactly as in the record: strings are written as JSON strings (never
// base64), nested maps and arrays are kept, bin values are strings when they
// are valid UTF-8 (base64 otherwise), and nothing is HTML- or `/`-escaped.
// Invalid UTF-8 in a str value becomes U+FFFD, since JSON text cannot carry it.
func AppendJSON(dst []byte, body RawMap) ([]byte, error) {
	return AppendJSONWithField(dst, body, "", nil)
}

// AppendJSONWithField is AppendJSON with one extra member "key": rawValue put
// first in the object (rawValue must already be JSON). With an empty key no
// member is added. The output plugin uses it for json_date_key.
func AppendJSONWithField(dst []byte, body RawMap, key string, rawValue []byte) ([]byte, error) {
	n, i, err := readMapHeader(body, 0)
	if err != nil {
		return dst, err
	}
	dst = append(dst, '{')
	if key != "" {
		dst = appendString(dst, key)
		dst = append(dst, ':')
		dst = append(dst, rawValue...)
		if n > 0 {
			dst = append(dst, ',')
		}
	}
	dst, _, err = appendMapBody(dst, body, i, n, 0)
	return dst, err
}

// appendMapBody writes the n key/value pairs starting at i and the closing
// brace (the caller wrote the opening one), returning the offset past the map.
func appendMapBody(dst, b []byte, i, n, depth int) ([]byte, int, error) {
	var err error
	for k := 0; k < n; k++ {
		if k > 0 {
			dst = append(dst, ',')
		}
		if dst, i, err = appendKey(dst, b, i, depth); err != nil {
			return dst, 0, err
		}
		dst = append(dst, ':')
		if dst, i, err = appendValue(dst, b, i, depth); err != nil {
			return dst, 0, err
		}
	}
	return append(dst, '}'), i, nil
}

// appendKey writes a map key as a JSON string. Records built from JSON only
// have string keys; other scalar keys are rendered as their JSON text inside
// a string, and map or array keys as base64 of their msgpack bytes (rendering
// them as escaped JSON would grow exponentially with nesting).
func appendKey(dst, b []byte, i, depth int) ([]byte, int, error) {
	if i >= len(b) {
		return dst, 0, truncated(b, i, 1)
	}
	if c := b[i]; c&0xe0 == 0xa0 { // fixstr: nearly every key
		n := int(c & 0x1f)
		if err := need(b, i+1, n); err != nil {
			return dst, 0, err
		}
		return appendStringBytes(dst, b[i+1:i+1+n]), i + 1 + n, nil
	}
	payload, isBin, next, ok, err := readStrOrBin(b, i)
	if err != nil {
		return dst, 0, err
	}
	if ok {
		return appendBytesAsString(dst, payload, isBin), next, nil
	}
	if isMap(b[i]) || isArray(b[i]) {
		end, err := skip(b, i, depth)
		if err != nil {
			return dst, 0, err
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b[i:end])
		return append(dst, '"'), end, nil
	}
	start := len(dst)
	dst, next, err = appendValue(dst, b, i, depth)
	if err != nil {
		return dst, 0, err
	}
	if dst[start] == '"' { // ext values are strings already
		return dst, next, nil
	}
	text := string(dst[start:])
	return appendString(dst[:start], text), next, nil
}

// appendValue writes the value at i as JSON and returns the offset past it.
func appendValue(dst, b []byte, i, depth int) ([]byte, int, error) {
	if err := need(b, i, 1); err != nil {
		return dst, 0, err
	}
	c := b[i]
	switch {
	case c >= 0xa0 && c <= 0xbf: // fixstr: the common case, kept inline
		n := int(c & 0x1f)
		if err := need(b, i+1, n); err != nil {
			return dst, 0, err
		}
		return appendStringBytes(dst, b[i+1:i+1+n]), i + 1 + n, nil
	case c <= 0x7f:
		return strconv.AppendInt(dst, int64(c), 10), i + 1, nil
	case c >= 0xe0:
		return strconv.AppendInt(dst, int64(int8(c)), 10), i + 1, nil
	case c == 0xc0:
		return append(dst, "null"...), i + 1, nil
	case c == 0xc2:
		return append(dst, "false"...), i + 1, nil
	case c == 0xc3:
		return append(dst, "true"...), i + 1, nil
	case c >= 0xcc && c <= 0xd3:
		v, u, isUint, next, err := readInt(b, i)
		if err != nil {
			return dst, 0, err
		}
		if isUint {
			return strconv.AppendUint(dst, u, 10), next, nil
		}
		return strconv.AppendInt(dst, v, 10), next, nil
	case c == 0xca || c == 0xcb:
		f, next, err := readFloat(b, i)
		if err != nil {
			return dst, 0, err
		}
		bits := 64
		if c == 0xca {
			bits = 32
		}
		return appendFloat(dst, f, bits), next, nil
	case (c >= 0xd9 && c <= 0xdb) || (c >= 0xc4 && c <= 0xc6):
		payload, isBin, next, _, err := readStrOrBin(b, i)
		if err != nil {
			return dst, 0, err
		}
		return appendBytesAsString(dst, payload, isBin), next, nil
	case (c >= 0xd4 && c <= 0xd8) || (c >= 0xc7 && c <= 0xc9):
		typ, payload, next, err := readExt(b, i)
		if err != nil {
			return dst, 0, err
		}
		return appendExt(dst, typ, payload), next, nil
	}
	if depth >= maxDepth {
		return dst, 0, syntaxErr(i, "nesting deeper than %d levels", maxDepth)
	}
	switch {
	case isMap(c):
		n, j, err := readMapHeader(b, i)
		if err != nil {
			return dst, 0, err
		}
		return appendMapBody(append(dst, '{'), b, j, n, depth+1)
	case isArray(c):
		n, j, err := readArrayHeader(b, i)
		if err != nil {
			return dst, 0, err
		}
		dst = append(dst, '[')
		for k := 0; k < n; k++ {
			if k > 0 {
				dst = append(dst, ',')
			}
			if dst, j, err = appendValue(dst, b, j, depth+1); err != nil {
				return dst, 0, err
			}
		}
		return append(dst, ']'), j, nil
	}
	return dst, 0, syntaxErr(i, "invalid msgpack type byte 0x%02x", c)
}

// appendFloat writes f the way JavaScript and encoding/json do (shortest
// representation), but keeps integral values visibly floating point ("3.0"),
// as Fluent Bit does. NaN and infinities have no JSON form and become null.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		dst = strconv.AppendFloat(dst, f, 'e', -1, bits)
		// Go writes e-07; JSON readers accept it, but e-7 is the usual form.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst
	}
	dst = strconv.AppendFloat(dst, f, 'f', -1, bits)
	if f == math.Trunc(f) {
		dst = append(dst, ".0"...)
	}
	return dst
}

// appendExt renders ext values: EventTime (type 0, 8 bytes) and the msgpack
// timestamp (type -1) as RFC 3339 strings, anything else as base64 text.
func appendExt(dst []byte, typ int8, p []byte) []byte {
	var t time.Time
	switch {
	case typ == 0 && len(p) == 8:
		t = time.Unix(int64(binary.BigEndian.Uint32(p)), int64(binary.BigEndian.Uint32(p[4:])))
	case typ == -1 && len(p) == 4:
		t = time.Unix(int64(binary.BigEndian.Uint32(p)), 0)
	case typ == -1 && len(p) == 8:
		v := binary.BigEndian.Uint64(p)
		t = time.Unix(int64(v&(1<<34-1)), int64(v>>34))
	case typ == -1 && len(p) == 12:
		t = time.Unix(int64(binary.BigEndian.Uint64(p[4:])), int64(binary.BigEndian.Uint32(p)))
	default:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, p)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendBytesAsString writes a str or bin payload as a JSON string. Binary
// data that is not UTF-8 is base64-encoded rather than mangled.
func appendBytesAsString(dst, p []byte, isBin bool) []byte {
	if isBin && !utf8.Valid(p) {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, p)
		return append(dst, '"')
	}
	return appendStringBytes(dst, p)
}

// appendString is appendStringBytes for a Go string.
func appendString(dst []byte, s string) []byte {
	return appendStringBytes(dst, []byte(s))
}

const hexDigits = "0123456789abcdef"

// appendStringBytes writes p as a quoted JSON string. Only what JSON requires
// is escaped ('"', '\\' and control characters); '<', '>', '&', '/', U+2028
// and U+2029 are written as they are, so keys stay byte-identical. Invalid
// UTF-8 bytes become U+FFFD, as with encoding/json.
func appendStringBytes(dst, p []byte) []byte {
	dst = append(dst, '"')
	start, i := 0, 0
	for i < len(p) {
		if i+8 <= len(p) && jsonbytes.SpecialMask(binary.LittleEndian.Uint64(p[i:])) == 0 {
			i += 8
			continue
		}
		c := p[i]
		if jsonbytes.Plain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, p[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, p[start:i]...)
		dst = appendEscape(dst, c)
		i++
		start = i
	}
	dst = append(dst, p[start:]...)
	return append(dst, '"')
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
