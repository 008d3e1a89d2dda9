package secopsout

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// RawMap is one msgpack-encoded map exactly as it appears in a chunk. It
// aliases the chunk's memory, so it is valid only while the chunk is.
// A nil RawMap stands for "no map" (v1 records carry no metadata).
type RawMap []byte

// Len returns the number of key/value pairs in m, or 0 when m is nil or not a map.
func (m RawMap) Len() int {
	if len(m) == 0 {
		return 0
	}
	n, _, err := readMapHeader(m, 0)
	if err != nil {
		return 0
	}
	return n
}

// DecodeError reports malformed msgpack in a chunk.
type DecodeError struct {
	Offset int    // byte offset in the chunk where the problem was found
	Record int    // index of the record (0-based) being decoded
	Reason string // what was wrong
}

// Error describes where the chunk is malformed.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("msgpack chunk: record %d at byte %d: %s", e.Record, e.Offset, e.Reason)
}

// maxDepth bounds nesting of maps and arrays so that hostile or corrupt input
// cannot drive recursion arbitrarily deep.
const maxDepth = 256

// errSyntax is the internal error; DecodeChunk wraps it into a DecodeError.
type errSyntax struct {
	off    int
	reason string
}

func (e *errSyntax) Error() string { return fmt.Sprintf("byte %d: %s", e.off, e.reason) }

func syntaxErr(off int, format string, args ...any) error {
	return &errSyntax{off: off, reason: fmt.Sprintf(format, args...)}
}

// Group markers (OpenTelemetry group start/end) use these EventTime seconds
// with 0 ns; they carry no log line and are skipped.
const (
	groupStartSec = 0xFFFFFFFF
	groupEndSec   = 0xFFFFFFFE
)

// DecodeChunk walks every record of a Fluent Bit chunk: concatenated entries
// of the v1 form [ts, {body}] or the v2 form [[ts, {meta}], {body}], where ts
// is an integer or float number of seconds or an EventTime (ext type 0).
// fn is called once per record, in order; meta is nil for v1 records. Group
// markers are skipped. An error from fn stops the walk and is returned as is;
// malformed input, including a body that is not a map, yields a *DecodeError.
func DecodeChunk(data []byte, fn func(ts time.Time, meta, body RawMap) error) error {
	return DecodeChunkValues(data, func(v Value) error {
		if !isMap(v.Body[0]) {
			return &DecodeError{Offset: v.Offset, Record: v.Record, Reason: "record body is not a map"}
		}
		return fn(v.Time, v.Meta, RawMap(v.Body))
	})
}

// Value is one record as DecodeChunkValues sees it.
type Value struct {
	Time   time.Time
	Meta   RawMap // nil for v1 records
	Body   []byte // one complete msgpack value; a map in every well-formed record
	Record int    // index of the entry in the chunk (0-based)
	Offset int    // byte offset of Body in the chunk
}

// IsMap reports whether a record body (as DecodeChunkValues gives it) is a map.
func (v Value) IsMap() bool { return isMap(v.Body[0]) }

// DecodeChunkValues is DecodeChunk for callers that can deal with a record
// whose body is valid msgpack but not a map (a broken or foreign producer):
// such a record does not stop the walk, the caller decides. Only msgpack the
// walk cannot get past yields a *DecodeError.
func DecodeChunkValues(data []byte, fn func(Value) error) error {
	i := 0
	for rec := 0; i < len(data); rec++ {
		start := i
		ts, marker, meta, body, next, err := decodeEntry(data, i)
		if err != nil {
			var se *errSyntax
			if errors.As(err, &se) {
				return &DecodeError{Offset: se.off, Record: rec, Reason: se.reason}
			}
			return &DecodeError{Offset: start, Record: rec, Reason: err.Error()}
		}
		i = next
		if marker {
			continue
		}
		if err := fn(Value{Time: ts, Meta: meta, Body: body, Record: rec, Offset: next - len(body)}); err != nil {
			return err
		}
	}
	return nil
}

// decodeEntry parses one [header, body] entry starting at i. The body may
// be any msgpack value; DecodeChunk insists on a map.
func decodeEntry(b []byte, i int) (ts time.Time, marker bool, meta, body RawMap, next int, err error) {
	n, i, err := readArrayHeader(b, i)
	if err != nil {
		return ts, false, nil, nil, 0, err
	}
	if n != 2 {
		return ts, false, nil, nil, 0, syntaxErr(i, "record is an array of %d elements, want 2", n)
	}
	if i >= len(b) {
		return ts, false, nil, nil, 0, syntaxErr(i, "truncated record")
	}
	if isArray(b[i]) {
		// v2: [[ts, meta], body]
		hn, j, err := readArrayHeader(b, i)
		if err != nil {
			return ts, false, nil, nil, 0, err
		}
		if hn != 2 {
			return ts, false, nil, nil, 0, syntaxErr(i, "record header is an array of %d elements, want 2", hn)
		}
		ts, marker, j, err = readTimestamp(b, j)
		if err != nil {
			return ts, false, nil, nil, 0, err
		}
		if j >= len(b) {
			return ts, false, nil, nil, 0, syntaxErr(j, "truncated record metadata")
		}
		if b[j] == 0xc0 { // nil metadata is tolerated as "none"
			i = j + 1
		} else {
			if !isMap(b[j]) {
				return ts, false, nil, nil, 0, syntaxErr(j, "record metadata is not a map")
			}
			end, err := skip(b, j, 0)
			if err != nil {
				return ts, false, nil, nil, 0, err
			}
			meta, i = RawMap(b[j:end:end]), end
		}
	} else {
		ts, marker, i, err = readTimestamp(b, i)
		if err != nil {
			return ts, false, nil, nil, 0, err
		}
	}
	if i >= len(b) {
		return ts, false, nil, nil, 0, syntaxErr(i, "truncated record: body missing")
	}
	end, err := skip(b, i, 0)
	if err != nil {
		return ts, false, nil, nil, 0, err
	}
	return ts, marker, meta, RawMap(b[i:end:end]), end, nil
}

// readTimestamp reads an integer, float or EventTime timestamp. marker
// reports a group start/end marker.
func readTimestamp(b []byte, i int) (ts time.Time, marker bool, next int, err error) {
	if i >= len(b) {
		return ts, false, 0, syntaxErr(i, "truncated timestamp")
	}
	c := b[i]
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		v, u, isUint, next, err := readInt(b, i)
		if err != nil {
			return ts, false, 0, err
		}
		if isUint {
			if u > math.MaxInt64 {
				return ts, false, 0, syntaxErr(i, "timestamp %d out of range", u)
			}
			v = int64(u)
		}
		return time.Unix(v, 0).UTC(), false, next, nil
	case c == 0xca || c == 0xcb:
		f, next, err := readFloat(b, i)
		if err != nil {
			return ts, false, 0, err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<62 {
			return ts, false, 0, syntaxErr(i, "timestamp %v out of range", f)
		}
		sec := math.Floor(f)
		ns := math.Round((f - sec) * 1e9)
		return time.Unix(int64(sec), int64(ns)).UTC(), false, next, nil
	case c == 0xd7 || c == 0xc7:
		typ, payload, next, err := readExt(b, i)
		if err != nil {
			return ts, false, 0, err
		}
		if typ != 0 || len(payload) != 8 {
			return ts, false, 0, syntaxErr(i, "timestamp is ext type %d of %d bytes, want EventTime (type 0, 8 bytes)", typ, len(payload))
		}
		sec := binary.BigEndian.Uint32(payload)
		ns := binary.BigEndian.Uint32(payload[4:])
		if ns == 0 && (sec == groupStartSec || sec == groupEndSec) {
			return ts, true, next, nil
		}
		return time.Unix(int64(sec), int64(ns)).UTC(), false, next, nil
	}
	return ts, false, 0, syntaxErr(i, "timestamp has msgpack type 0x%02x, want integer, float or EventTime", c)
}
