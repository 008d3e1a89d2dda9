package digicertin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// This file writes Fluent Bit log records (the msgpack "v2" event form) from
// JSON rows. It is hand-written rather than built on a msgpack library because
// it is on the hot path of a backfill (hundreds of thousands of rows a second)
// and needs to do one thing: turn JSON bytes into msgpack bytes in one pass,
// keeping every key and string byte-for-byte.

// RecordHeaderTimeOffset is where the 8-byte EventTime payload starts in a
// record written by AppendRecordHeader: two array headers, the ext marker and
// the ext type.
const RecordHeaderTimeOffset = 4

// maxNesting bounds JSON nesting so a hostile row cannot exhaust the stack.
const maxNesting = 1000

// ErrNotObject is returned when a row is not a JSON object.
var ErrNotObject = errors.New("row is not a JSON object")

// AppendRecord appends one Fluent Bit v2 record, [[EventTime, {meta}], {row}],
// to dst. Row is one JSON object (a digicert.Row converts implicitly): its keys
// and string values are written exactly as sent (after JSON unescaping),
// numbers become msgpack integers or floats, null becomes nil, and nested
// objects and arrays become maps and arrays. On error dst is returned
// unchanged (truncated to its original length).
func AppendRecord(dst []byte, t time.Time, meta map[string]string, row []byte) ([]byte, error) {
	n := len(dst)
	dst = AppendRecordHeader(dst, t, meta)
	var e RowEncoder
	out, _, err := e.AppendBody(dst, row)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// AppendRecordHeader appends the record prefix `[[EventTime, {meta}],` (the
// body follows). Meta keys are written sorted so equal maps give equal bytes.
// The time can be replaced afterwards with SetEventTime, which lets a caller
// cache the prefix once per run and learn the event time while encoding the body.
func AppendRecordHeader(dst []byte, t time.Time, meta map[string]string) []byte {
	dst = append(dst, 0x92, 0x92, 0xd7, 0x00, 0, 0, 0, 0, 0, 0, 0, 0)
	SetEventTime(dst[len(dst)-12:], t)
	dst = mpMapHeader(dst, len(meta))
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = mpStr(dst, k)
		dst = mpStr(dst, meta[k])
	}
	return dst
}

// SetEventTime writes t as the EventTime of the record that starts at rec[0]
// (as laid out by AppendRecordHeader): big-endian uint32 seconds and uint32
// nanoseconds. Times before 1970 become 0; times past 2106 are clamped below
// the 0xFFFFFFFE/0xFFFFFFFF seconds values Fluent Bit reserves for group markers.
func SetEventTime(rec []byte, t time.Time) {
	sec, nsec := t.Unix(), t.Nanosecond()
	switch {
	case sec < 0:
		sec, nsec = 0, 0
	case sec > 0xFFFFFFFD:
		sec = 0xFFFFFFFD
	}
	binary.BigEndian.PutUint32(rec[RecordHeaderTimeOffset:], uint32(sec))
	binary.BigEndian.PutUint32(rec[RecordHeaderTimeOffset+4:], uint32(nsec))
}

// RowEncoder converts JSON rows to msgpack maps. It keeps scratch space between
// calls, so use one per goroutine. The zero value is ready to use.
type RowEncoder struct {
	// TimeKey, if set, names a top-level key whose string value AppendBody
	// returns (e.g. "Date and time (UTC)"), saving a second pass over the row.
	TimeKey string

	in       []byte
	pos      int
	depth    int
	scratch  []byte
	timeVal  []byte
	haveTime bool

	// The top-level keys of the rows seen so far, in order. A report's rows
	// all have the same columns, so a key is usually recognised by comparing
	// its raw JSON bytes with the cached ones, and its msgpack form copied,
	// instead of scanning and encoding it again (a third of the encoding time).
	keys     []cachedKey
	keyArena []byte // backing bytes of keys' raw and mp
	keysFor  string // the TimeKey both caches were built with

	// AppendMembers' keys by the decoder's key id: no comparison needed.
	ids     []idKey
	idArena []byte
	idKeys  *jsonbytes.Keys // the table the ids belong to,
	idGen   uint64          // and its generation

	// members, when set, receives where the row's top-level members are,
	// as the decoder's Members would say (the row identity's fallback).
	members *[]jsonbytes.Member
}

// idKey is an interned key's msgpack str encoding and whether it is TimeKey.
// An encoding of up to 32 bytes is also kept in an array, which is copied
// with two 16-byte moves instead of a call to memmove.
type idKey struct {
	mp     []byte
	short  [32]byte
	isTime bool
}

// cachedKey is one top-level key: its exact JSON text including both quotes,
// its msgpack str encoding, and whether it is TimeKey.
type cachedKey struct {
	raw, mp []byte
	isTime  bool
}

// maxKeyArena bounds the cache's memory for rows whose keys keep changing.
const maxKeyArena = 16 << 10

// SyntaxError reports malformed JSON in a row.
type SyntaxError struct {
	Offset int // byte offset in the row
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// AppendBody appends the msgpack map for the JSON object row to dst. It
// returns the extended slice and, when TimeKey is set and present with a
// string value, that value unescaped (nil otherwise; valid until the next
// call). On error dst is returned truncated to its original length.
func (e *RowEncoder) AppendBody(dst, row []byte) ([]byte, []byte, error) {
	n := len(dst)
	e.in, e.pos, e.depth, e.timeVal = row, 0, 0, e.timeVal[:0]
	e.haveTime = false
	e.skipSpace()
	if e.pos >= len(e.in) || e.in[e.pos] != '{' {
		e.in = nil
		return dst[:n], nil, ErrNotObject
	}
	e.checkTimeKey()
	out, err := e.object(dst, true)
	if err == nil {
		e.skipSpace()
		if e.pos != len(e.in) {
			err = e.errorf("unexpected data after the row object")
		}
	}
	e.in = nil // do not pin the caller's row
	if err != nil {
		return dst[:n], nil, err
	}
	if !e.haveTime {
		return out, nil, nil
	}
	return out, e.timeVal, nil
}

// AppendMembers is AppendBody for a row whose top-level members a validating
// decoder has already located (digicert's RowReader.Members, with its Keys):
// a member with an unescaped string value, nearly every member of an audit
// row, is copied without being scanned again, and a key with an id is
// written from the key table's text (encoded once per id). Members and keys
// must come from the decoder that returned row; offsets that do not fit the
// row make AppendMembers fall back to AppendBody. The result is AppendBody's,
// byte for byte; unlike append, AppendMembers may also write scratch bytes in
// dst's spare capacity past the result.
func (e *RowEncoder) AppendMembers(dst, row []byte, members []jsonbytes.Member, keys *jsonbytes.Keys) ([]byte, []byte, error) {
	if len(members) == 0 || len(row) > math.MaxUint32 {
		return e.AppendBody(dst, row)
	}
	n := len(dst)
	e.timeVal, e.haveTime = e.timeVal[:0], false
	e.checkTimeKey()
	if keys != nil && (keys != e.idKeys || keys.Gen() != e.idGen) {
		e.ids, e.idArena = e.ids[:0], nil
		e.idKeys, e.idGen = keys, keys.Gen()
	}
	dst = mpMapHeader(dst, len(members))
	// Room for the whole row up front, so that short keys and values are
	// copied in fixed-size moves (string members are never longer in
	// msgpack than in JSON).
	dst = slices.Grow(dst, len(row)+64)
	end := uint32(len(row))
	nkeys := 0
	if keys != nil {
		nkeys = keys.Len()
	}
	for i := range members {
		m := &members[i]
		if m.ValueStart >= m.ValueEnd || m.ValueEnd > end {
			return e.AppendBody(dst[:n], row)
		}
		var isTime bool
		if id := int(m.KeyID); id != 0 && id <= nkeys {
			// An interned key: written from the table's text, so its
			// offsets are not needed at all.
			if id >= len(e.ids) || e.ids[id].mp == nil {
				e.cacheID(id, keys.Key(uint32(id)))
			}
			k := &e.ids[id]
			if l := len(dst); len(k.mp) <= len(k.short) && cap(dst)-l >= len(k.short) {
				// Room for the whole array: copy it, keep the key.
				dst = dst[:l+len(k.short)]
				*(*[32]byte)(dst[l:]) = k.short
				dst = dst[:l+len(k.mp)]
			} else {
				dst = append(dst, k.mp...)
			}
			isTime = k.isTime
		} else {
			if m.KeyStart == 0 || m.KeyStart > m.KeyEnd || m.KeyEnd >= m.ValueStart {
				return e.AppendBody(dst[:n], row)
			}
			rawKey := row[m.KeyStart-1 : m.KeyEnd+1] // with its quotes, as cached
			if i < len(e.keys) && string(e.keys[i].raw) == string(rawKey) {
				dst = append(dst, e.keys[i].mp...)
				isTime = e.keys[i].isTime
			} else {
				keyStart := len(dst)
				e.in, e.pos = row, int(m.KeyStart-1)
				var err error
				if dst, err = e.str(dst); err != nil || e.pos != int(m.KeyEnd+1) {
					e.in = nil
					return e.AppendBody(dst[:n], row)
				}
				if e.TimeKey != "" {
					isTime = string(strPayload(dst[keyStart:])) == e.TimeKey
				}
				e.cacheKey(i, rawKey, dst[keyStart:], isTime)
			}
		}
		valStart := len(dst)
		if v := row[m.ValueStart:m.ValueEnd]; v[0] == '"' && !m.ValueEscaped && len(v) >= 2 {
			s := row[m.ValueStart+1:] // the value's text and what follows it in the row
			if l, vl := len(dst), len(v)-2; vl <= 16 && len(s) >= 16 && cap(dst)-l >= 17 {
				// A short value: one 16-byte move (bytes past the value
				// land beyond dst's length and are overwritten later).
				dst = dst[:l+17]
				dst[l] = 0xa0 | byte(vl) // fixstr
				*(*[16]byte)(dst[l+1:]) = *(*[16]byte)(s)
				dst = dst[:l+1+vl]
			} else {
				dst = mpStrHeader(dst, vl)
				dst = append(dst, v[1:len(v)-1]...)
			}
		} else if v[0] == '"' && len(v) >= 2 {
			// Escapes: the decoder found the string's end and checked it.
			u, bad := jsonbytes.Unescape(e.scratch[:0], v[1:len(v)-1])
			e.scratch = u
			if bad >= 0 {
				return e.AppendBody(dst[:n], row)
			}
			dst = mpStrHeader(dst, len(u))
			dst = append(dst, u...)
		} else {
			e.in, e.pos, e.depth = row, int(m.ValueStart), 1
			var err error
			if dst, err = e.value(dst); err != nil || e.pos != int(m.ValueEnd) {
				e.in = nil
				return e.AppendBody(dst[:n], row)
			}
		}
		if isTime {
			e.noteTime(dst[valStart:])
		}
	}
	e.in = nil
	if !e.haveTime {
		return dst, nil, nil
	}
	return dst, e.timeVal, nil
}

func (e *RowEncoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: e.pos, Msg: fmt.Sprintf(format, args...)}
}

func (e *RowEncoder) skipSpace() {
	if e.pos < len(e.in) && e.in[e.pos] > ' ' {
		return // compact JSON: no whitespace between tokens
	}
	for e.pos < len(e.in) {
		switch e.in[e.pos] {
		case ' ', '\t', '\n', '\r':
			e.pos++
		default:
			return
		}
	}
}

// value appends the JSON value at e.pos.
func (e *RowEncoder) value(dst []byte) ([]byte, error) {
	e.skipSpace()
	if e.pos >= len(e.in) {
		return dst, e.errorf("unexpected end of row")
	}
	switch c := e.in[e.pos]; {
	case c == '"':
		return e.str(dst)
	case c == '{':
		return e.object(dst, false)
	case c == '[':
		return e.array(dst)
	case c == 't':
		return e.literal(dst, "true", 0xc3)
	case c == 'f':
		return e.literal(dst, "false", 0xc2)
	case c == 'n':
		return e.literal(dst, "null", 0xc0)
	case c == '-' || (c >= '0' && c <= '9'):
		return e.number(dst)
	default:
		return dst, e.errorf("unexpected character %q", c)
	}
}

func (e *RowEncoder) literal(dst []byte, word string, code byte) ([]byte, error) {
	if !bytes.HasPrefix(e.in[e.pos:], []byte(word)) {
		return dst, e.errorf("invalid literal")
	}
	e.pos += len(word)
	return append(dst, code), nil
}

// object appends a JSON object as a msgpack map. For the row itself (top) it
// uses the key cache and captures the first string value of the member named
// TimeKey.
func (e *RowEncoder) object(dst []byte, top bool) ([]byte, error) {
	findTime := top && e.TimeKey != ""
	if e.depth++; e.depth > maxNesting {
		return dst, e.errorf("nesting deeper than %d", maxNesting)
	}
	e.pos++ // '{'
	start := len(dst)
	dst = append(dst, 0xde, 0, 0) // map16 placeholder, fixed in finishContainer
	count := 0
	e.skipSpace()
	if e.pos < len(e.in) && e.in[e.pos] == '}' {
		e.pos++
		e.depth--
		return finishContainer(dst, start, 0, 0x80, 0xde), nil
	}
	for {
		e.skipSpace()
		if e.pos >= len(e.in) || e.in[e.pos] != '"' {
			return dst, e.errorf("expected a string key")
		}
		keyStart, rawKey := len(dst), e.pos
		var err error
		isTime := false
		if top && count < len(e.keys) && bytes.HasPrefix(e.in[e.pos:], e.keys[count].raw) {
			k := &e.keys[count]
			e.pos += len(k.raw)
			dst = append(dst, k.mp...)
			isTime = k.isTime
		} else {
			rawStart := e.pos
			if dst, err = e.str(dst); err != nil {
				return dst, err
			}
			if findTime {
				isTime = string(strPayload(dst[keyStart:])) == e.TimeKey
			}
			if top {
				e.cacheKey(count, e.in[rawStart:e.pos], dst[keyStart:], isTime)
			}
		}
		keyEnd := e.pos - 1 // its closing quote
		e.skipSpace()
		if e.pos >= len(e.in) || e.in[e.pos] != ':' {
			return dst, e.errorf("expected ':' after a key")
		}
		e.pos++
		e.skipSpace()
		valStart, rawVal := len(dst), e.pos
		if e.pos < len(e.in) && e.in[e.pos] == '"' {
			dst, err = e.str(dst) // the usual audit value, without value's dispatch
		} else {
			dst, err = e.value(dst)
		}
		if err != nil {
			return dst, err
		}
		if top && e.members != nil {
			v := e.in[rawVal:e.pos]
			*e.members = append(*e.members, jsonbytes.Member{
				KeyStart: uint32(rawKey + 1), KeyEnd: uint32(keyEnd),
				ValueStart: uint32(rawVal), ValueEnd: uint32(e.pos),
				ValueEscaped: v[0] == '"' && bytes.IndexByte(v, '\\') >= 0,
			})
		}
		if isTime {
			e.noteTime(dst[valStart:])
		}
		count++
		e.skipSpace()
		if e.pos >= len(e.in) {
			return dst, e.errorf("unexpected end of row in an object")
		}
		switch e.in[e.pos] {
		case ',':
			e.pos++
		case '}':
			e.pos++
			e.depth--
			return finishContainer(dst, start, count, 0x80, 0xde), nil
		default:
			return dst, e.errorf("expected ',' or '}' in an object")
		}
	}
}

// checkTimeKey drops both key caches when TimeKey changed: they record
// which key is the time key.
func (e *RowEncoder) checkTimeKey() {
	if e.keysFor != e.TimeKey {
		e.keys, e.keyArena, e.keysFor = e.keys[:0], e.keyArena[:0], e.TimeKey
		e.ids, e.idArena = e.ids[:0], nil
	}
}

// noteTime keeps the first string value of the TimeKey member, given as the
// msgpack value just written (other types are not a time).
func (e *RowEncoder) noteTime(val []byte) {
	if !e.haveTime && isStr(val[0]) {
		e.timeVal = append(e.timeVal[:0], strPayload(val)...)
		e.haveTime = true
	}
}

// cacheID records the encoding of interned key id (an unescaped key, whose
// text is the string's value).
func (e *RowEncoder) cacheID(id int, key []byte) {
	if id >= len(e.ids) {
		e.ids = append(e.ids, make([]idKey, id+1-len(e.ids))...)
	}
	a := len(e.idArena)
	e.idArena = append(mpStrHeader(e.idArena, len(key)), key...)
	isTime := e.TimeKey != "" && string(key) == e.TimeKey
	// Earlier entries keep pointing into an old array when the arena
	// grows; they stay valid.
	k := &e.ids[id]
	k.mp, k.isTime = e.idArena[a:len(e.idArena):len(e.idArena)], isTime
	copy(k.short[:], k.mp)
}

// cacheKey records the key at position i of the row (after a miss there):
// later positions are forgotten, since they followed a different key.
func (e *RowEncoder) cacheKey(i int, raw, mp []byte, isTime bool) {
	if i > len(e.keys) {
		return // an earlier position was not cached (arena reset)
	}
	e.keys = e.keys[:i]
	if len(e.keyArena)+len(raw)+len(mp) > maxKeyArena {
		// Keys vary too much to be worth caching; start over, keeping
		// earlier rows' slices valid (they point into the old array).
		e.keys, e.keyArena = e.keys[:0], nil
		return
	}
	a := len(e.keyArena)
	e.keyArena = append(append(e.keyArena, raw...), mp...)
	e.keys = append(e.keys, cachedKey{raw: e.keyArena[a : a+len(raw) : a+len(raw)], mp: e.keyArena[a+len(raw) : len(e.keyArena) : len(e.keyArena)], isTime: isTime})
}

func (e *RowEncoder) array(dst []byte) ([]byte, error) {
	if e.depth++; e.depth > maxNesting {
		return dst, e.errorf("nesting deeper than %d", maxNesting)
	}
	e.pos++ // '['
	start := len(dst)
	dst = append(dst, 0xdc, 0, 0) // array16 placeholder
	count := 0
	e.skipSpace()
	if e.pos < len(e.in) && e.in[e.pos] == ']' {
		e.pos++
		e.depth--
		return finishContainer(dst, start, 0, 0x90, 0xdc), nil
	}
	for {
		var err error
		if dst, err = e.value(dst); err != nil {
			return dst, err
		}
		count++
		e.skipSpace()
		if e.pos >= len(e.in) {
			return dst, e.errorf("unexpected end of row in an array")
		}
		switch e.in[e.pos] {
		case ',':
			e.pos++
		case ']':
			e.pos++
			e.depth--
			return finishContainer(dst, start, count, 0x90, 0xdc), nil
		default:
			return dst, e.errorf("expected ',' or ']' in an array")
		}
	}
}

// finishContainer rewrites the 3-byte placeholder at dst[start] with the
// shortest header for count entries: fix (≤15, shifts the content left by 2),
// 16-bit in place, or 32-bit (shifts right by 2). Audit rows have ~24 keys, so
// the common case is in place.
func finishContainer(dst []byte, start, count int, fix, code16 byte) []byte {
	switch {
	case count <= 15:
		dst[start] = fix | byte(count)
		copy(dst[start+1:], dst[start+3:])
		return dst[:len(dst)-2]
	case count <= math.MaxUint16:
		dst[start] = code16
		binary.BigEndian.PutUint16(dst[start+1:], uint16(count))
		return dst
	default:
		dst = append(dst, 0, 0)
		copy(dst[start+5:], dst[start+3:len(dst)-2])
		dst[start] = code16 + 1 // map32 / array32
		binary.BigEndian.PutUint32(dst[start+1:], uint32(count))
		return dst
	}
}

// str appends the JSON string at e.pos as a msgpack str.
func (e *RowEncoder) str(dst []byte) ([]byte, error) {
	e.pos++ // opening quote
	rest := e.in[e.pos:]
	q := valueEnd(rest)
	if q < len(rest) && rest[q] == '"' {
		// Fast path: no escapes, the bytes are the value.
		e.pos += q + 1
		dst = mpStrHeader(dst, q)
		return append(dst, rest[:q]...), nil
	}
	return e.strEscaped(dst, rest)
}

// strEscaped is str's slow path: the string has escapes (or no end).
func (e *RowEncoder) strEscaped(dst, rest []byte) ([]byte, error) {
	// The closing quote is the first one not escaped.
	end := 0
	for {
		end += jsonbytes.IndexQuote(rest[end:])
		if end >= len(rest) {
			e.pos += end
			return dst, e.errorf("unterminated string")
		}
		if rest[end] == '"' {
			break
		}
		if end+1 >= len(rest) {
			e.pos += end
			return dst, e.errorf("unterminated escape")
		}
		end += 2
	}
	s, bad := jsonbytes.Unescape(e.scratch[:0], rest[:end])
	e.scratch = s
	if bad >= 0 {
		e.pos += bad
		if rest[bad+1] == 'u' {
			return dst, e.errorf(`invalid \u escape`)
		}
		return dst, e.errorf("invalid escape %q", rest[bad+1])
	}
	e.pos += end + 1
	dst = mpStrHeader(dst, len(s))
	return append(dst, s...), nil
}

// valueEnd is jsonbytes.IndexQuote with the first word tested before the loop: most
// audit values are empty or short.
func valueEnd(b []byte) int {
	if len(b) >= 8 {
		if m := jsonbytes.QuoteMask(binary.LittleEndian.Uint64(b)); m != 0 {
			return bits.TrailingZeros64(m) >> 3
		}
		return 8 + jsonbytes.IndexQuote(b[8:])
	}
	return jsonbytes.IndexQuote(b)
}

// number appends a JSON number: an integer that fits int64/uint64 becomes a
// msgpack int, anything else a float64.
func (e *RowEncoder) number(dst []byte) ([]byte, error) {
	start := e.pos
	i := e.pos
	in := e.in
	if in[i] == '-' {
		i++
	}
	digits := i
	for i < len(in) && in[i] >= '0' && in[i] <= '9' {
		i++
	}
	if i == digits || (in[digits] == '0' && i-digits > 1) {
		e.pos = start
		return dst, e.errorf("invalid number")
	}
	isInt := true
	if i < len(in) && in[i] == '.' {
		isInt = false
		i++
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			e.pos = i
			return dst, e.errorf("invalid number")
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		isInt = false
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			e.pos = i
			return dst, e.errorf("invalid number")
		}
	}
	e.pos = i
	text := in[start:i]
	if isInt && i-digits <= 18 {
		// Fast path without strconv (its errors would make the text escape).
		var v int64
		for _, c := range in[digits:i] {
			v = v*10 + int64(c-'0')
		}
		if in[start] == '-' {
			v = -v
		}
		return mpInt(dst, v), nil
	}
	if isInt {
		if in[start] == '-' {
			if v, err := strconv.ParseInt(string(text), 10, 64); err == nil {
				return mpInt(dst, v), nil
			}
		} else if v, err := strconv.ParseUint(string(text), 10, 64); err == nil {
			return mpUint(dst, v), nil
		}
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return dst, e.errorf("invalid number")
	}
	// Out-of-range values become ±Inf, as the closest float64 (strconv's answer).
	return mpFloat64(dst, f), nil
}

func isStr(code byte) bool {
	return code&0xe0 == 0xa0 || code == 0xd9 || code == 0xda || code == 0xdb
}

// strPayload returns the bytes of the msgpack str that starts at b[0].
func strPayload(b []byte) []byte {
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		n := int(c & 0x1f)
		return b[1 : 1+n]
	case c == 0xd9:
		n := int(b[1])
		return b[2 : 2+n]
	case c == 0xda:
		n := int(binary.BigEndian.Uint16(b[1:]))
		return b[3 : 3+n]
	default:
		n := int(binary.BigEndian.Uint32(b[1:]))
		return b[5 : 5+n]
	}
}

func mpStrHeader(dst []byte, n int) []byte {
	switch {
	case n <= 31:
		return append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xda, byte(n>>8), byte(n))
	default:
		return append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func mpStr(dst []byte, s string) []byte {
	return append(mpStrHeader(dst, len(s)), s...)
}

func mpMapHeader(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xde, byte(n>>8), byte(n))
	default:
		return append(dst, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func mpUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 127:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return append(dst, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return append(dst, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
	}
}

func mpInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return mpUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, 0xd0, byte(v))
	case v >= math.MinInt16:
		return append(dst, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return append(dst, 0xd2, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
	}
}

func mpFloat64(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(f))
}
