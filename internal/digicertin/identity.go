package digicertin

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// A row's identity (checkpoint format version 4) is computed from the
// decoder's view of the row, without building its msgpack record: a row
// that was shipped before costs a walk over its values and one hash, and
// only rows that are emitted are encoded. It is hashKey.sum of
//
//	0x01 ‖ keyset digest ‖ for each member, in order: uvarint(2·len + kind) ‖ value
//
// where value is a string's text after JSON unescaping (kind 0; most values
// have no escape, and their bytes are taken as they are) or, for any other
// value, its msgpack encoding (kind 1). The keyset digest is hashKey.sum of
//
//	0x02 ‖ for each member, in order: uvarint(len) ‖ key text after unescaping
//
// Rows of a report share their columns, so the digest is computed once and
// reused while each row's keys have the same ids in the decoder's key table:
// per row only the values are hashed: ~250 bytes of a 680-byte audit row.
//
// What counts as the same row is what it was in format version 3 (the keyed
// hash of the msgpack body): the same keys in the same order with the same
// values, a string compared by its unescaped text and any other value by its
// msgpack encoding. JSON whitespace and escaping make no difference.
//
// The framing is injective: byte 0 separates the two kinds of input; after
// the fixed-size digest, the rest reads back in one way only, since a uvarint
// is self-delimiting and gives the kind and the length of the value after it
// (the member count needs no field: the input ends after the last value).
// The kind keeps a string apart from a number whose msgpack bytes are the
// same text ("\u0005" and 5). The keyset input reads back the same way, so
// two rows with equal input have equal values and equal key digests; their
// keys then differ only if the keyed hash collides, which is the bound the
// row hash itself rests on (~1e-27 for a million rows). Inputs of format
// version 3 were msgpack maps, which start with 0x80-0x8f, 0xde or 0xdf,
// never 0x01: an identity of one format cannot stand for a row of the other.
const (
	identRow  byte = 0x01
	identKeys byte = 0x02
)

// errIdentity marks member offsets that do not describe the row; the row is
// then scanned again.
var errIdentity = errors.New("member offsets do not fit the row")

// rowIdent computes row identities. Use one per goroutine.
type rowIdent struct {
	key     hashKey
	timeKey string // the member whose first string value is the event time

	enc  RowEncoder // scans rows and encodes non-string values (scratch of its own)
	in   []byte     // the hash input being built
	tmp  []byte
	scan []jsonbytes.Member // members found by scanMembers
	kin  []byte             // keyset input

	// The keyset of the last row whose keys all had ids, reused while
	// the rows that follow have the same ids in the same table.
	set struct {
		ids    []uint32
		keys   *jsonbytes.Keys
		gen    uint64
		time   []bool // member i's key is timeKey
		digest [16]byte
		ok     bool
	}
}

// sum returns the identity of row and the first string value of its
// timeKey member (see read).
func (ri *rowIdent) sum(row []byte, members []jsonbytes.Member, keys *jsonbytes.Keys) (rowHash, []byte, error) {
	tv, err := ri.read(row, members, keys)
	if err != nil {
		return rowHash{}, nil, err
	}
	return ri.id(), tv, nil
}

// read prepares the identity of row (id returns it) and returns the first
// string value of its timeKey member, unescaped (nil if none; valid until
// the next call). A row whose time puts it below the dedup cutoff needs no
// identity, and so costs no hash. members and keys are the decoder's (see
// RowEncoder.AppendMembers); without them, or when they do not fit the row,
// the row is scanned here. An error means the row is not a JSON object, and
// RowEncoder cannot encode it either.
func (ri *rowIdent) read(row []byte, members []jsonbytes.Member, keys *jsonbytes.Keys) ([]byte, error) {
	if len(members) > 0 && len(row) <= math.MaxUint32 {
		if tv, err := ri.readMembers(row, members, keys); err == nil {
			return tv, nil
		}
	}
	ms, err := ri.scanMembers(row)
	if err != nil {
		return nil, err
	}
	return ri.readMembers(row, ms, nil)
}

// id is the identity of the row read last.
func (ri *rowIdent) id() rowHash { return ri.key.sum(ri.in) }

// readMembers is read for members that the row is checked against as
// RowEncoder.AppendMembers checks them: whatever makes AppendMembers fall
// back to scanning makes this return errIdentity, so a row identified here
// from the decoder's members is also encoded from them.
func (ri *rowIdent) readMembers(row []byte, members []jsonbytes.Member, keys *jsonbytes.Keys) ([]byte, error) {
	if err := ri.keyset(row, members, keys); err != nil {
		return nil, err
	}
	in := ri.in[:0]
	if cap(in) < len(row)+64 {
		in = make([]byte, 0, 2*len(row)+64)
	}
	in = append(in, identRow)
	in = append(in, ri.set.digest[:]...)
	end := uint32(len(row))
	tvStart, tvEnd := -1, -1
	for i := range members {
		m := &members[i]
		vs, ve := m.ValueStart, m.ValueEnd
		if vs >= ve || ve > end {
			ri.in = in
			return nil, errIdentity
		}
		if row[vs] != '"' || ve-vs < 2 || m.ValueEscaped {
			var ok bool
			if in, ok = ri.appendOther(in, row, m); !ok {
				ri.in = in
				return nil, errIdentity
			}
			if tvStart < 0 && ri.set.time[i] && row[vs] == '"' {
				n := len(ri.tmp)
				tvStart, tvEnd = len(in)-n, len(in)
			}
			continue
		}
		// A string without escapes: its bytes are its text. A short one
		// (most audit values) is copied in one 16-byte move; the bytes
		// past it land beyond in's length and are overwritten next.
		s := row[vs+1 : ve-1]
		l, n := len(in), len(s)
		if n <= 16 && int(end-vs-1) >= 16 && cap(in)-l >= 17 {
			in = in[:l+17]
			in[l] = byte(n << 1) // kind 0
			*(*[16]byte)(in[l+1:]) = *(*[16]byte)(row[vs+1:])
			in = in[:l+1+n]
		} else {
			in = appendLen(in, n, 0)
			in = append(in, s...)
		}
		if tvStart < 0 && ri.set.time[i] {
			tvStart, tvEnd = len(in)-n, len(in)
		}
	}
	ri.in = in
	if tvStart < 0 {
		return nil, nil
	}
	return in[tvStart:tvEnd], nil
}

// appendOther appends member m's value when it is not a string without
// escapes: an escaped string's text (ri.tmp holds it after the call), or
// another value's msgpack encoding. ok is false when it does not read as
// AppendMembers reads it.
func (ri *rowIdent) appendOther(in, row []byte, m *jsonbytes.Member) (out []byte, ok bool) {
	v := row[m.ValueStart:m.ValueEnd]
	if v[0] == '"' && len(v) >= 2 {
		u, bad := jsonbytes.Unescape(ri.tmp[:0], v[1:len(v)-1])
		ri.tmp = u
		if bad >= 0 {
			return in, false
		}
		in = appendLen(in, len(u), 0)
		return append(in, u...), true
	}
	e := &ri.enc
	e.in, e.pos, e.depth = row, int(m.ValueStart), 1
	var err error
	ri.tmp, err = e.value(ri.tmp[:0])
	e.in = nil
	if err != nil || e.pos != int(m.ValueEnd) {
		return in, false
	}
	in = appendLen(in, len(ri.tmp), 1)
	return append(in, ri.tmp...), true
}

// appendLen appends uvarint(2·n + kind), in one byte for the usual value.
func appendLen(b []byte, n int, kind uint64) []byte {
	if v := uint64(n)<<1 | kind; v < 0x80 {
		return append(b, byte(v))
	} else {
		return binary.AppendUvarint(b, v)
	}
}

// keyset sets ri.set to the keys of members: their digest, and which of
// them is timeKey.
func (ri *rowIdent) keyset(row []byte, members []jsonbytes.Member, keys *jsonbytes.Keys) error {
	s := &ri.set
	nkeys := 0
	if keys != nil {
		nkeys = keys.Len()
	}
	if s.ok && keys == s.keys && keys.Gen() == s.gen && len(members) == len(s.ids) {
		same := true
		for i := range members {
			if members[i].KeyID != s.ids[i] {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	s.ok = false
	s.ids, s.time = s.ids[:0], s.time[:0]
	allIDs := true
	kin := append(ri.kin[:0], identKeys)
	for i := range members {
		m := &members[i]
		var k []byte
		if id := int(m.KeyID); id != 0 && id <= nkeys {
			k = keys.Key(uint32(id)) // an interned key is its text
		} else {
			allIDs = false
			if m.KeyStart == 0 || m.KeyStart > m.KeyEnd || m.KeyEnd >= m.ValueStart || m.ValueStart > uint32(len(row)) {
				ri.kin = kin
				return errIdentity
			}
			// As AppendMembers reads such a key: a JSON string that must
			// end at KeyEnd.
			e := &ri.enc
			e.in, e.pos = row, int(m.KeyStart-1)
			var err error
			ri.tmp, err = e.str(ri.tmp[:0])
			e.in = nil
			if err != nil || e.pos != int(m.KeyEnd+1) {
				ri.kin = kin
				return errIdentity
			}
			k = strPayload(ri.tmp)
		}
		kin = binary.AppendUvarint(kin, uint64(len(k)))
		kin = append(kin, k...)
		s.ids = append(s.ids, m.KeyID)
		s.time = append(s.time, ri.timeKey != "" && string(k) == ri.timeKey)
	}
	ri.kin = kin
	s.digest = ri.key.sum(kin)
	if allIDs && keys != nil {
		s.ok, s.keys, s.gen = true, keys, keys.Gen()
	}
	return nil
}

// scanMembers finds the members of row by encoding it (RowEncoder.AppendBody,
// into scratch): the same checks and errors, and the members as the
// decoder would have located them. Keys get no id. Only rows that come
// without members, or with members that do not fit, take this way.
func (ri *rowIdent) scanMembers(row []byte) ([]jsonbytes.Member, error) {
	if len(row) > math.MaxUint32 {
		return nil, &SyntaxError{Msg: "row too large"}
	}
	ms := ri.scan[:0]
	e := &ri.enc
	e.members = &ms
	var err error
	ri.tmp, _, err = e.AppendBody(ri.tmp[:0], row)
	e.members = nil
	ri.scan = ms
	if err != nil {
		return nil, err
	}
	return ms, nil
}
