package digicert

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// RowReader decodes a report body, a JSON array of objects, one row at a
// time. It validates the JSON fully (including UTF-8 in strings, which
// SecOps requires) but never builds values: each row is returned as the raw
// bytes of its object, copied into a buffer that is reused for the next row.
// encoding/json's Decoder.Token allocates per token and is several times
// slower, which matters at 1,000,000 rows per part.
//
// One bad row never costs the rows after it: a string with invalid UTF-8
// or a raw control character is repaired (U+FFFD, escaped control
// character); a row over the size cap, nested past the depth cap or not
// parseable at all is skipped and reading resumes at the next row. Each
// kind is counted (Stats). Only a body that is not an array of rows, a read
// error and a truncated body end the read with an error.
type RowReader struct {
	br     *bufio.Reader
	in     peeker // br, or the blocks of an inflating goroutine
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

	// Recovery from malformed rows; touched only on the slow paths.
	stats     RowStats
	onIssue   func(RowIssue) // called once, at the first repair or skip
	canSkip   bool           // a syntax error now is inside one row: skip that row
	skipOK    bool           // d.err is such an error
	failDepth int            // nesting depth at the syntax error
	failInStr bool           // the syntax error is inside a string
	failKind  IssueKind      // what skipping the row counts as
	oversize  bool           // the current row passed maxRow: its bytes are dropped
	rowFix    IssueKind      // IssueRepairedUTF8|IssueRepairedControl seen in the current row
	fixOff    int64          // offset of the first repair in the current row
	fixDetail string
	sub       *RowReader // re-reads a repaired row for its member offsets
	fixed     []byte     // the repaired row
}

// IssueKind names one kind of repaired or skipped row (a bit set for
// repairs inside one row).
type IssueKind uint8

// Kinds of rows repaired or skipped.
const (
	IssueRepairedUTF8       IssueKind = 1 << iota // invalid UTF-8 in a string, replaced by U+FFFD
	IssueRepairedControl                          // raw control character in a string, escaped
	IssueSkippedOversize                          // row larger than the maximum row size
	IssueSkippedDepth                             // values nested deeper than the limit
	IssueSkippedUnparseable                       // not parseable as a JSON object
)

func (k IssueKind) String() string {
	switch k {
	case IssueRepairedUTF8:
		return "repaired_utf8"
	case IssueRepairedControl:
		return "repaired_control"
	case IssueSkippedOversize:
		return "skipped_oversize"
	case IssueSkippedDepth:
		return "skipped_depth"
	case IssueSkippedUnparseable:
		return "skipped_unparseable"
	}
	return "issue"
}

// RowIssue locates one repaired or skipped row.
type RowIssue struct {
	Kind   IssueKind
	Part   int    // part of a split run, 0-based
	Member string // ZIP member; "" for a plain JSON body
	Offset int64  // byte offset of the problem in the (decompressed) part or member
	Detail string // what was wrong
}

// RowStats counts the rows a read repaired or skipped (a row with both
// invalid UTF-8 and a control character counts in both repaired counts).
type RowStats struct {
	RepairedUTF8, RepairedControl                     int64
	SkippedOversize, SkippedDepth, SkippedUnparseable int64
	// First is the first repair or skip, for a warning; nil if none.
	First *RowIssue
}

// Repaired is the number of rows shipped repaired.
func (s RowStats) Repaired() int64 { return s.RepairedUTF8 + s.RepairedControl }

// Skipped is the number of rows that could not be shipped.
func (s RowStats) Skipped() int64 {
	return s.SkippedOversize + s.SkippedDepth + s.SkippedUnparseable
}

// Add adds o's counts to s; s keeps its First unless it has none.
func (s *RowStats) Add(o RowStats) {
	s.RepairedUTF8 += o.RepairedUTF8
	s.RepairedControl += o.RepairedControl
	s.SkippedOversize += o.SkippedOversize
	s.SkippedDepth += o.SkippedDepth
	s.SkippedUnparseable += o.SkippedUnparseable
	if s.First == nil {
		s.First = o.First
	}
}

// Stats returns the repairs and skips so far; they add up over every body
// the reader was reset to.
func (d *RowReader) Stats() RowStats { return d.stats }

// OnIssue sets a function called once, at the first repair or skip, e.g.
// to log one warning per report run.
func (d *RowReader) OnIssue(fn func(RowIssue)) { d.onIssue = fn }

// note counts one repaired or skipped row.
func (d *RowReader) note(kind IssueKind, off int64, detail string) {
	switch kind {
	case IssueRepairedUTF8:
		d.stats.RepairedUTF8++
	case IssueRepairedControl:
		d.stats.RepairedControl++
	case IssueSkippedOversize:
		d.stats.SkippedOversize++
	case IssueSkippedDepth:
		d.stats.SkippedDepth++
	default:
		d.stats.SkippedUnparseable++
	}
	if d.stats.First == nil {
		d.stats.First = &RowIssue{Kind: kind, Part: d.part, Member: d.member, Offset: off, Detail: detail}
		if d.onIssue != nil {
			d.onIssue(*d.stats.First)
		}
	}
}

// errMalformedEnd: the input ended while skipping a malformed row.
var errMalformedEnd = errors.New("unexpected end of input in a malformed row (truncated report?)")

// errRowSkipped: next skipped a row and Next goes on with the one after it.
var errRowSkipped = errors.New("row skipped")

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

// peeker is the part of bufio.Reader the decoder reads through.
type peeker interface {
	Peek(n int) ([]byte, error)
	Buffered() int
	Discard(n int) (int, error)
}

// reset reuses the decoder (and its buffers) for another body.
func (d *RowReader) reset(r io.Reader, part int, member string) {
	d.br.Reset(r)
	d.resetInput(d.br, part, member)
}

// resetInput reuses the decoder for a body read through in, which must
// hand out at least 6 bytes to Peek, as bufio.Reader does.
func (d *RowReader) resetInput(in peeker, part int, member string) {
	d.in = in
	d.part, d.member = part, member
	d.buf, d.pos, d.mark, d.base = nil, 0, -1, 0
	d.rows, d.depth, d.state, d.err = 0, 0, stStart, nil
	d.canSkip, d.skipOK, d.oversize, d.rowFix = false, false, false, 0
}

// SetMaxRowSize bounds the size of one row in bytes (default
// DefaultMaxRowSize); a larger row is skipped (and counted). Members' offsets are 32-bit,
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
// but whitespace follows. Rows that cannot be shipped are skipped (see
// Stats). Any other error is a *DecodeError and is returned again by every
// later call. The row is valid until the next call.
func (d *RowReader) Next() (Row, error) {
	for {
		if d.err != nil {
			return nil, d.err
		}
		if d.state == stDone {
			return nil, io.EOF
		}
		row, err := d.next()
		switch {
		case err == nil:
			return row, nil
		case err == errRowSkipped:
		case d.skipOK:
			if !d.resync() {
				return nil, d.err
			}
		default:
			return nil, err
		}
	}
}

// next reads one row: the row, io.EOF, errRowSkipped, or d.err.
func (d *RowReader) next() (Row, error) {
	if cap(d.row) > keepRowCap {
		d.row = nil
	}
	d.row, d.members = d.row[:0], d.members[:0]
	d.oversize, d.rowFix = false, 0
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
	d.rowStart = d.Offset()
	if c != '{' {
		d.canSkip, d.depth = true, 0
		d.failf("row %d is %s, not a JSON object", d.rows+1, describeValue(c))
		d.canSkip = false
		return nil, d.err
	}
	d.mark = d.pos
	d.pos++
	d.depth = 1
	d.canSkip = true
	ok = d.objectBody(true)
	d.canSkip = false
	if !ok {
		d.mark = -1
		return nil, d.err
	}
	d.rows++
	d.state = stNext
	if d.oversize {
		return nil, d.skipOversize()
	}
	row := d.buf[d.mark:d.pos:d.pos]
	if len(d.row) > 0 {
		// The row spans buffer refills: its start was saved in d.row.
		d.row = append(d.row, row...)
		row = d.row
	}
	d.mark = -1
	if len(row) > d.maxRow {
		return nil, d.skipOversize()
	}
	if d.rowFix != 0 {
		return d.repair(row)
	}
	// Usually the row lies in the read buffer and is returned from there,
	// uncopied: the buffer is not touched again before the next call.
	return Row(row), nil
}

func (d *RowReader) skipOversize() error {
	d.mark = -1
	d.note(IssueSkippedOversize, d.rowStart, fmt.Sprintf("row %d is larger than the maximum row size of %d bytes", d.rows, d.maxRow))
	return errRowSkipped
}

// resync skips the rest of a row after a syntax error in it, so that the
// next row is read. It fails only at the end of input or on a read error.
func (d *RowReader) resync() bool {
	de, _ := d.err.(*DecodeError)
	d.err, d.skipOK = nil, false
	d.mark, d.row = -1, d.row[:0]
	if !d.skipRest(d.failDepth, d.failInStr) {
		if de != nil && errors.Is(d.err, errMalformedEnd) {
			// No next row to resume at: the syntax error is the news.
			d.err = de
		}
		return false
	}
	d.rows++
	detail := ""
	var off int64
	if de != nil {
		detail, off = de.Err.Error(), de.Offset
	}
	d.note(d.failKind, off, detail)
	return true
}

// skipRest scans leniently (strings and bracket depth only) to the end of
// the malformed row: the ',' or ']' that follows it at the top level. A ','
// followed by '{' inside the row itself (depth 1, where a key must follow)
// is taken as the start of the next row, so a row missing its closing brace
// costs only itself.
func (d *RowReader) skipRest(depth int, inStr bool) bool {
	if depth == 1 && !inStr && d.pos < len(d.buf) && d.buf[d.pos] == '{' {
		// A key was due and a row starts: the row lost its closing brace.
		d.state = stFirst
		return true
	}
	esc := false
	for {
		if d.pos >= len(d.buf) && !d.refill(1) {
			if d.err == nil {
				d.err = &DecodeError{Part: d.part, Member: d.member, Offset: d.Offset(), Err: errMalformedEnd}
			}
			d.skipOK = false
			return false
		}
		c := d.buf[d.pos]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			d.pos++
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 && c == ']' {
				d.state = stNext // the end of the array
				return true
			}
			depth = max(depth-1, 0)
		case ',':
			if depth == 0 {
				d.state = stNext
				return true
			}
			if depth == 1 {
				d.pos++
				if n, ok := d.peekNonWS(); ok && n == '{' {
					d.state = stFirst // a row follows directly
					return true
				}
				continue
			}
		}
		d.pos++
	}
}

// repair returns the row with invalid UTF-8 replaced by U+FFFD and raw
// control characters escaped, and its members found again (by a second
// reader, as the offsets moved). The key ids of a repaired row are 0.
func (d *RowReader) repair(row []byte) (Row, error) {
	d.fixed = appendRepaired(d.fixed[:0], row)
	if d.sub == nil {
		d.sub = &RowReader{br: bufio.NewReaderSize(nil, 4096), maxRow: math.MaxUint32}
	}
	d.sub.reset(io.MultiReader(strings.NewReader("["), bytes.NewReader(d.fixed), strings.NewReader("]")), d.part, d.member)
	fixed, err := d.sub.Next()
	if err != nil || d.sub.stats.Repaired()+d.sub.stats.Skipped() != 0 {
		// Cannot happen: the row was valid JSON but for what was repaired.
		d.note(IssueSkippedUnparseable, d.fixOff, "row could not be repaired")
		return nil, errRowSkipped
	}
	d.members = append(d.members[:0], d.sub.members...)
	for i := range d.members {
		d.members[i].KeyID = 0
	}
	for _, k := range []IssueKind{IssueRepairedUTF8, IssueRepairedControl} {
		if d.rowFix&k != 0 {
			d.note(k, d.fixOff, d.fixDetail)
		}
	}
	return fixed, nil
}

// fix records a repairable problem in a string of the current row.
func (d *RowReader) fix(kind IssueKind, format string, args ...any) {
	if d.rowFix == 0 {
		d.fixOff, d.fixDetail = d.Offset(), fmt.Sprintf(format, args...)
	}
	d.rowFix |= kind
}

// appendRepaired appends row with the strings made valid: invalid UTF-8
// bytes become U+FFFD, raw control characters JSON escapes.
func appendRepaired(dst, row []byte) []byte {
	in := false
	for i := 0; i < len(row); {
		c := row[i]
		switch {
		case !in:
			in = c == '"'
			dst = append(dst, c)
			i++
		case c == '\\':
			n := 2
			if i+1 < len(row) && row[i+1] == 'u' {
				n = 6
			}
			dst = append(dst, row[i:min(i+n, len(row))]...)
			i += n
		case c == '"':
			in = false
			dst = append(dst, c)
			i++
		case c < 0x20:
			dst = appendControlEscape(dst, c)
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(row[i:])
			if r == utf8.RuneError && size <= 1 {
				dst = append(dst, "\uFFFD"...)
				i++
				continue
			}
			dst = append(dst, row[i:i+size]...)
			i += size
		}
	}
	return dst
}

func appendControlEscape(dst []byte, c byte) []byte {
	switch c {
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	}
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
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
			// Too large to ship: read on to its end, keeping nothing.
			d.oversize, d.row, d.mark = true, nil, -1
		}
	}
	if d.oversize {
		d.members = d.members[:0] // bounded even for a huge row
	}
	d.in.Discard(d.pos)
	d.base += int64(d.pos)
	d.pos = 0
	if d.in.Buffered() < n {
		if _, err := d.in.Peek(n); err != nil && err != io.EOF && d.err == nil {
			d.err = &DecodeError{Part: d.part, Member: d.member, Offset: d.Offset(), Err: err}
			d.skipOK = false
		}
	}
	d.buf, _ = d.in.Peek(d.in.Buffered())
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
			d.failKind = IssueSkippedDepth
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
			d.fix(IssueRepairedControl, "control character U+%04X in a string (it must be escaped)", c)
			d.pos++
		default:
			d.ensure(utf8.UTFMax)
			r, size := utf8.DecodeRune(d.buf[d.pos:])
			if r == utf8.RuneError && size <= 1 {
				d.fix(IssueRepairedUTF8, "invalid UTF-8 byte 0x%02X in a string (SecOps requires UTF-8)", d.buf[d.pos])
				size = 1
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
				d.failInStr = true
				return false
			}
		}
		d.pos += 6
		return true
	}
	d.pos++
	d.failf("invalid escape %s in a string", describe(d.buf[d.pos]))
	d.failInStr = true
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

// eofErr reports the end of input (or keeps an earlier read error): a
// truncated body is a failed download, never a row to skip.
func (d *RowReader) eofErr(inside string) error {
	if d.err != nil {
		return d.err
	}
	d.failf("unexpected end of input in %s (truncated report?)", inside)
	d.skipOK = false
	return d.err
}

// failf records a decode error at the current offset. Inside a row it is
// recoverable: Next skips the row.
func (d *RowReader) failf(format string, args ...any) error {
	if d.err == nil {
		d.err = &DecodeError{Part: d.part, Member: d.member, Offset: d.Offset(), Err: fmt.Errorf(format, args...)}
		d.skipOK, d.failDepth, d.failInStr, d.failKind = d.canSkip, d.depth, false, IssueSkippedUnparseable
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
