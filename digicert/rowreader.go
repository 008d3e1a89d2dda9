package digicert

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"unicode/utf8"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// RowReader decodes a report body, a JSON array of objects, one row at a
// time. It validates the JSON fully (including UTF-8 in strings, which
// SecOps requires) but never builds values: each row is returned as the raw
// bytes of its object, copied into a buffer that is reused for the next row.
// encoding/json's Decoder.Token allocates per token and is several times
// slower, which matters at 1,000,000 rows per part.
type RowReader struct {
	br     *bufio.Reader
	part   int
	member string
	maxRow int

	buf  []byte // buffered, not yet discarded bytes of br
	pos  int    // next unread byte in buf
	mark int    // start in buf of row bytes not yet copied to row; -1 outside a row
	base int64  // stream offset of buf[0]

	row      []byte
	rowStart int64    // stream offset of the current row
	members  []Member // top-level members of the current row
	escaped  bool     // an escape was seen since last cleared
	keys     jsonbytes.Keys
	prevKeys []prevKey // the key at each member position of the last row
	rows     int64     // rows returned so far
	depth    int
	state    uint8
	err      error // sticky
}

const (
	stStart uint8 = iota // before '['
	stFirst              // after '[': a row or ']'
	stNext               // after a row: ',' or ']'
	stDone               // after ']' and the end of input
)

const (
	readBufSize = 64 << 10
	maxDepth    = 1000
	// A row buffer grown past this by one huge row is dropped afterwards,
	// so that one 10 MB row does not pin 10 MB for the rest of the report.
	keepRowCap = 4 << 20
	// maxKeyPositions bounds how many member positions remember their key.
	maxKeyPositions = 256
)

// NewRowReader returns a decoder for r; part and member only label errors.
func NewRowReader(r io.Reader, part int, member string) *RowReader {
	d := &RowReader{br: bufio.NewReaderSize(r, readBufSize), maxRow: DefaultMaxRowSize}
	d.reset(r, part, member)
	return d
}

// reset reuses the decoder (and its buffers) for another body.
func (d *RowReader) reset(r io.Reader, part int, member string) {
	d.br.Reset(r)
	d.part, d.member = part, member
	d.buf, d.pos, d.mark, d.base = nil, 0, -1, 0
	d.rows, d.depth, d.state, d.err = 0, 0, stStart, nil
}

// SetMaxRowSize bounds the size of one row in bytes (default
// DefaultMaxRowSize); a larger row is an error. Members' offsets are 32-bit,
// so the bound is at most 4 GiB - 1.
func (d *RowReader) SetMaxRowSize(n int) {
	if n > 0 {
		d.maxRow = min(n, math.MaxUint32)
	}
}

// Member locates one top-level member of a row by byte offsets into the
// Row: the key between its quotes and the value's JSON text (a string keeps
// its quotes), with flags for backslash escapes in the key or a string value.
type Member = jsonbytes.Member

// Members returns where the top-level members of the row last returned by
// Next are, in order; valid until the next call to Next. The decoder finds
// them while validating the row, so a consumer can copy plain members
// instead of scanning the row again.
func (d *RowReader) Members() []Member { return d.members }

// Keys interns row keys; see Member.KeyID.
type Keys = jsonbytes.Keys

// Keys is the table of the keys in Members' KeyID. It belongs to the
// decoder and lives as long as it does; ids keep their meaning while
// Keys().Gen() stays the same.
func (d *RowReader) Keys() *Keys { return &d.keys }

// rel is the offset of the next unread byte within the current row.
func (d *RowReader) rel() uint32 { return uint32(d.base + int64(d.pos) - d.rowStart) }

// Offset is the stream offset of the next unread byte.
func (d *RowReader) Offset() int64 { return d.base + int64(d.pos) }

// Next returns the next row, or io.EOF after the closing ']' when nothing
// but whitespace follows. Any other error is a *DecodeError and is returned
// again by every later call. The row is valid until the next call.
func (d *RowReader) Next() (Row, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.state == stDone {
		return nil, io.EOF
	}
	if cap(d.row) > keepRowCap {
		d.row = nil
	}
	d.row, d.members = d.row[:0], d.members[:0]
	if d.state == stStart && !d.start() {
		return nil, d.err
	}
	c, ok := d.peekNonWS()
	if !ok {
		return nil, d.eofErr("the array of rows")
	}
	switch {
	case d.state == stNext && c == ',':
		d.pos++
		if c, ok = d.peekNonWS(); !ok {
			return nil, d.eofErr("the array of rows")
		}
	case c == ']':
		d.pos++
		return nil, d.finish()
	case d.state == stNext:
		return nil, d.failf("expected ',' or ']' after row %d, found %s", d.rows, describe(c))
	}
	if c != '{' {
		return nil, d.failf("row %d is %s, not a JSON object", d.rows+1, describeValue(c))
	}
	d.rowStart = d.Offset()
	d.mark = d.pos
	d.pos++
	d.depth = 1
	if !d.objectBody(true) {
		d.mark = -1
		return nil, d.err
	}
	row := d.buf[d.mark:d.pos:d.pos]
	if len(d.row) > 0 {
		// The row spans buffer refills: its start was saved in d.row.
		d.row = append(d.row, row...)
		row = d.row
	}
	d.mark = -1
	if len(row) > d.maxRow {
		return nil, d.rowTooLarge()
	}
	d.rows++
	d.state = stNext
	// Usually the row lies in the read buffer and is returned from there,
	// uncopied: the buffer is not touched again before the next call.
	return Row(row), nil
}

// start consumes an optional UTF-8 byte order mark and the opening '['.
func (d *RowReader) start() bool {
	if d.ensure(3) && d.buf[d.pos] == 0xEF && d.buf[d.pos+1] == 0xBB && d.buf[d.pos+2] == 0xBF {
		d.pos += 3
	}
	c, ok := d.peekNonWS()
	switch {
	case !ok && d.err == nil:
		d.failf("empty input: expected a JSON array of rows")
		return false
	case !ok:
		return false
	case c == '{':
		d.failf("the report is a JSON object, not an array of rows (an error answer, or not a DigiCert JSON report?)")
		return false
	case c == '<':
		d.failf("the report is not JSON but starts with '<' (an HTML page from a proxy?)")
		return false
	case c != '[':
		d.failf("expected a JSON array of rows, found %s", describe(c))
		return false
	}
	d.pos++
	d.state = stFirst
	return true
}

// finish checks that only whitespace follows the closing ']'.
func (d *RowReader) finish() error {
	if c, ok := d.peekNonWS(); ok {
		return d.failf("unexpected %s after the end of the array of rows", describe(c))
	}
	if d.err != nil {
		return d.err
	}
	d.state = stDone
	return io.EOF
}

// refill discards consumed bytes (saving pending row bytes first) and makes
// at least n unread bytes available if the input has them. It returns false
// when fewer are available; d.err is then set if reading failed or the row
// grew too large.
func (d *RowReader) refill(n int) bool {
	if d.mark >= 0 {
		d.row = append(d.row, d.buf[d.mark:d.pos]...)
		d.mark = 0
		if len(d.row) > d.maxRow {
			d.rowTooLarge()
			return false
		}
	}
	d.br.Discard(d.pos)
	d.base += int64(d.pos)
	d.pos = 0
	if d.br.Buffered() < n {
		if _, err := d.br.Peek(n); err != nil && err != io.EOF && d.err == nil {
			d.err = &DecodeError{Part: d.part, Member: d.member, Offset: d.Offset(), Err: err}
		}
	}
	d.buf, _ = d.br.Peek(d.br.Buffered())
	return len(d.buf) >= n && d.err == nil
}

// ensure makes n unread bytes available if possible.
func (d *RowReader) ensure(n int) bool {
	if len(d.buf)-d.pos >= n {
		return true
	}
	return d.refill(n)
}

// peekNonWS skips whitespace and returns the next byte without consuming it.
// Reports are usually compact, so the next byte is checked first in a body
// small enough to inline.
func (d *RowReader) peekNonWS() (byte, bool) {
	if d.pos < len(d.buf) && d.buf[d.pos] > ' ' {
		return d.buf[d.pos], true
	}
	return d.skipWS()
}

// skipWS is peekNonWS's loop over whitespace and buffer refills.
func (d *RowReader) skipWS() (byte, bool) {
	for {
		for d.pos < len(d.buf) {
			c := d.buf[d.pos]
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				return c, true
			}
			d.pos++
		}
		if !d.refill(1) {
			return 0, false
		}
	}
}

// objectBody scans the rest of an object after its '{'. For the row itself
// (top) it records the members.
func (d *RowReader) objectBody(top bool) bool {
	c, ok := d.peekNonWS()
	if !ok {
		d.eofErr("an object")
		return false
	}
	if c == '}' {
		d.pos++
		return true
	}
	for {
		var m Member
		if top {
			if d.compactMembers() {
				return true
			}
			if c, ok = d.peekNonWS(); !ok {
				d.eofErr("an object")
				return false
			}
			m.KeyStart = d.rel() + 1
		}
		if c != '"' {
			d.failf("expected a string key, found %s", describe(c))
			return false
		}
		d.pos++
		if !d.str() {
			return false
		}
		if top {
			m.KeyEnd = d.rel() - 1
		}
		if c, ok = d.peekNonWS(); !ok || c != ':' {
			d.expected("':' after a key", c, ok)
			return false
		}
		d.pos++
		if c, ok = d.peekNonWS(); !ok {
			d.eofErr("a value")
			return false
		}
		if top {
			m.ValueStart = d.rel()
			d.escaped = false
		}
		if !d.value(c) {
			return false
		}
		if top {
			m.ValueEnd, m.ValueEscaped = d.rel(), c == '"' && d.escaped
			d.members = append(d.members, m)
		}
		if c, ok = d.peekNonWS(); !ok || (c != ',' && c != '}') {
			d.expected("',' or '}' in an object", c, ok)
			return false
		}
		d.pos++
		if c == '}' {
			return true
		}
		if c, ok = d.peekNonWS(); !ok {
			d.eofErr("an object")
			return false
		}
	}
}

// compactMembers is objectBody's fast path for the usual member of a row,
// "key":"value" directly followed by ',' or '}', all in the read buffer: it
// checks and records such members straight from the buffer, and stops at the
// first member that is anything else (whitespace, another value type, a
// string it cannot finish in the buffer or that is malformed), leaving it at
// d.pos for the general loop, which accepts the same members, only slower,
// and words the errors. done means it consumed the closing '}'.
func (d *RowReader) compactMembers() (done bool) {
	buf, pos := d.buf, d.pos
	off := uint32(d.base - d.rowStart) // a row offset is off + buffer index
	ms := d.members                    // kept in a register, stored back on return
	for pos < len(buf) && buf[pos] == '"' {
		// The member is appended first and filled in place (fewer values
		// live across the scans); it is dropped if it is not taken here.
		i := len(ms)
		ms = append(ms, Member{})
		m := &ms[i]
		// Rows repeat their keys: the key the last row had here, if the
		// bytes match and its closing quote follows, needs no scan.
		ke, kesc := -1, false
		if i < len(d.prevKeys) {
			if pk := &d.prevKeys[i]; pk.id != 0 {
				if end := pos + 1 + len(pk.text); end < len(buf) && buf[end] == '"' && string(buf[pos+1:end]) == string(pk.text) {
					ke, m.KeyID = end, pk.id
				}
			}
		}
		if ke < 0 {
			if ke, kesc = scanString(buf, pos+1); ke < 0 {
				ms = ms[:i]
				break
			}
		}
		if ke+2 >= len(buf) || buf[ke+1] != ':' || buf[ke+2] != '"' {
			ms = ms[:i]
			break
		}
		ve, vesc := scanString(buf, ke+3)
		if ve < 0 || ve+1 >= len(buf) || (buf[ve+1] != ',' && buf[ve+1] != '}') {
			ms = ms[:i]
			break
		}
		m = &ms[i]
		m.KeyStart, m.KeyEnd = off+uint32(pos+1), off+uint32(ke)
		m.ValueStart, m.ValueEnd = off+uint32(ke+2), off+uint32(ve+1)
		m.ValueEscaped = vesc
		if m.KeyID == 0 && !kesc {
			d.members = ms
			m.KeyID = d.internKey(i, buf[pos+1:ke])
		}
		pos = ve + 2
		if buf[ve+1] == '}' {
			d.pos, d.members = pos, ms
			return true
		}
	}
	d.pos, d.members = pos, ms
	return false
}

// prevKey is an interned key with its text, which the key table keeps for
// as long as the id is valid (the table starting over clears prevKeys).
type prevKey struct {
	id   uint32
	text []byte
}

// internKey gives the key of member i of the current row an id and
// remembers it for that position in the next row.
func (d *RowReader) internKey(i int, key []byte) uint32 {
	gen := d.keys.Gen()
	id := d.keys.Intern(key)
	if d.keys.Gen() != gen {
		// The table started over: earlier ids, in this row and the
		// remembered ones, mean nothing now.
		clear(d.prevKeys)
		for j := range d.members {
			d.members[j].KeyID = 0
		}
	}
	if i >= len(d.prevKeys) {
		if i >= maxKeyPositions {
			return id
		}
		d.prevKeys = append(d.prevKeys, make([]prevKey, i+1-len(d.prevKeys))...)
	}
	d.prevKeys[i] = prevKey{id: id}
	if id != 0 {
		d.prevKeys[i].text = d.keys.Key(id)
	}
	return id
}

// scanString returns the index of the quote that closes a string whose body
// starts at buf[i], and whether the body has escapes, validating it as str
// does; -1 if the body is malformed or not finished within buf (str then
// reads it, and words any error).
func scanString(buf []byte, i int) (int, bool) {
	escaped := false
	for {
		for {
			if i+8 > len(buf) {
				for i < len(buf) && jsonbytes.Plain[buf[i]] {
					i++
				}
				break
			}
			if m := jsonbytes.SpecialMask(binary.LittleEndian.Uint64(buf[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(buf) {
			return -1, false
		}
		switch c := buf[i]; {
		case c == '"':
			return i, escaped
		case c == '\\':
			if i+1 >= len(buf) {
				return -1, false
			}
			switch buf[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(buf) || jsonbytes.Unhex(buf[i+2])|jsonbytes.Unhex(buf[i+3])|jsonbytes.Unhex(buf[i+4])|jsonbytes.Unhex(buf[i+5]) < 0 {
					return -1, false
				}
				i += 6
			default:
				return -1, false
			}
			escaped = true
		case c < 0x20:
			return -1, false
		default:
			// An incomplete sequence at the end of buf decodes as an
			// error too; str reads on and decides.
			r, size := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && size <= 1 {
				return -1, false
			}
			i += size
		}
	}
}

// arrayBody scans the rest of an array after its '['.
func (d *RowReader) arrayBody() bool {
	c, ok := d.peekNonWS()
	if !ok {
		d.eofErr("an array")
		return false
	}
	if c == ']' {
		d.pos++
		return true
	}
	for {
		if !d.value(c) {
			return false
		}
		if c, ok = d.peekNonWS(); !ok || (c != ',' && c != ']') {
			d.expected("',' or ']' in an array", c, ok)
			return false
		}
		d.pos++
		if c == ']' {
			return true
		}
		if c, ok = d.peekNonWS(); !ok {
			d.eofErr("an array")
			return false
		}
	}
}

// value scans one value starting with c (not yet consumed).
func (d *RowReader) value(c byte) bool {
	switch {
	case c == '"':
		d.pos++
		return d.str()
	case c == '{' || c == '[':
		if d.depth >= maxDepth {
			d.failf("values nested deeper than %d levels", maxDepth)
			return false
		}
		d.depth++
		d.pos++
		var ok bool
		if c == '{' {
			ok = d.objectBody(false)
		} else {
			ok = d.arrayBody()
		}
		d.depth--
		return ok
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	d.failf("invalid character %s at the start of a value", describe(c))
	return false
}

// str scans the rest of a string after its opening quote, validating escapes
// and UTF-8.
func (d *RowReader) str() bool {
	for {
		buf, i := d.buf, d.pos
		for i+8 <= len(buf) {
			if m := jsonbytes.SpecialMask(binary.LittleEndian.Uint64(buf[i:])); m != 0 {
				// Straight to the first special byte; the byte loop
				// below then stops at once.
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(buf) && jsonbytes.Plain[buf[i]] {
			i++
		}
		d.pos = i
		if i == len(buf) {
			if !d.refill(1) {
				d.eofErr("a string")
				return false
			}
			continue
		}
		switch c := buf[i]; {
		case c == '"':
			d.pos++
			return true
		case c == '\\':
			if !d.escape() {
				return false
			}
		case c < 0x20:
			d.failf("control character U+%04X in a string (it must be escaped)", c)
			return false
		default:
			d.ensure(utf8.UTFMax)
			r, size := utf8.DecodeRune(d.buf[d.pos:])
			if r == utf8.RuneError && size <= 1 {
				d.failf("invalid UTF-8 byte 0x%02X in a string (SecOps requires UTF-8)", d.buf[d.pos])
				return false
			}
			d.pos += size
		}
	}
}

// escape scans one backslash escape.
func (d *RowReader) escape() bool {
	if !d.ensure(2) {
		d.eofErr("a string escape")
		return false
	}
	d.escaped = true
	switch d.buf[d.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		d.pos += 2
		return true
	case 'u':
		if !d.ensure(6) {
			d.eofErr("a \\u escape")
			return false
		}
		for _, h := range d.buf[d.pos+2 : d.pos+6] {
			if jsonbytes.Unhex(h) < 0 {
				d.failf("invalid \\u escape in a string")
				return false
			}
		}
		d.pos += 6
		return true
	}
	d.pos++
	d.failf("invalid escape %s in a string", describe(d.buf[d.pos]))
	return false
}

func (d *RowReader) literal(lit string) bool {
	if !d.ensure(len(lit)) {
		if d.err == nil {
			d.failf("invalid literal (want %s)", lit)
		}
		return false
	}
	if string(d.buf[d.pos:d.pos+len(lit)]) != lit {
		d.failf("invalid literal (want %s)", lit)
		return false
	}
	d.pos += len(lit)
	return true
}

// number scans a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *RowReader) number() bool {
	if d.peekIs('-') {
		d.pos++
	}
	if d.peekIs('0') {
		d.pos++
	} else if !d.digits() {
		return false
	}
	if d.peekIs('.') {
		d.pos++
		if !d.digits() {
			return false
		}
	}
	if d.peekIs('e') || d.peekIs('E') {
		d.pos++
		if d.peekIs('+') || d.peekIs('-') {
			d.pos++
		}
		if !d.digits() {
			return false
		}
	}
	return d.err == nil
}

// digits scans one or more decimal digits.
func (d *RowReader) digits() bool {
	n := 0
	for d.ensure(1) && d.buf[d.pos] >= '0' && d.buf[d.pos] <= '9' {
		d.pos++
		n++
	}
	if n == 0 && d.err == nil {
		if d.ensure(1) {
			d.failf("invalid number: expected a digit, found %s", describe(d.buf[d.pos]))
		} else {
			d.eofErr("a number")
		}
	}
	return n > 0
}

func (d *RowReader) peekIs(c byte) bool { return d.ensure(1) && d.buf[d.pos] == c }

func (d *RowReader) expected(what string, c byte, ok bool) {
	if !ok {
		d.eofErr(what)
		return
	}
	d.failf("expected %s, found %s", what, describe(c))
}

// eofErr reports the end of input (or keeps an earlier read error).
func (d *RowReader) eofErr(inside string) error {
	if d.err != nil {
		return d.err
	}
	return d.failf("unexpected end of input in %s (truncated report?)", inside)
}

func (d *RowReader) rowTooLarge() error {
	d.err = &DecodeError{Part: d.part, Member: d.member, Offset: d.rowStart,
		Err: fmt.Errorf("row %d is larger than the maximum row size of %d bytes", d.rows+1, d.maxRow)}
	return d.err
}

// failf records a decode error at the current offset.
func (d *RowReader) failf(format string, args ...any) error {
	if d.err == nil {
		d.err = &DecodeError{Part: d.part, Member: d.member, Offset: d.Offset(), Err: fmt.Errorf(format, args...)}
	}
	return d.err
}

func describe(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("'%c'", c)
	}
	return fmt.Sprintf("byte 0x%02X", c)
}

func describeValue(c byte) string {
	switch {
	case c == '"':
		return "a string"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return describe(c)
}
