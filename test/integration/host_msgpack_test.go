package integration

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A small msgpack reader, independent of the plugins' codecs on purpose: these tests
// check what the plugins encode, so they do not decode with the same code.

// dcKV is one map entry, in wire order.
type dcKV struct {
	Key   string
	Value any // string, int64, uint64, float64, bool, nil, []any, []dcKV, []byte
}

// dcRecord is one Fluent Bit log record.
type dcRecord struct {
	Sec, Nsec uint32 // EventTime; v1 integer times have Nsec 0
	EventTime bool   // the time was an EventTime (ext type 0), as required
	Meta      []dcKV // nil for the v1 form
	Body      []dcKV
}

// dcDecodeRecords splits concatenated msgpack entries into records. Only
// the forms Fluent Bit accepts from an input are valid: [[t, {meta}], {body}]
// and [t, {body}].
func dcDecodeRecords(b []byte) ([]dcRecord, error) {
	var out []dcRecord
	r := &dcReader{b: b}
	for r.off < len(b) {
		v, err := r.value()
		if err != nil {
			return out, fmt.Errorf("record %d: %w", len(out), err)
		}
		rec, err := dcToRecord(v)
		if err != nil {
			return out, fmt.Errorf("record %d: %w", len(out), err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// dcExt is a msgpack extension value.
type dcExt struct {
	Type int8
	Data []byte
}

func dcToRecord(v any) (dcRecord, error) {
	var rec dcRecord
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return rec, fmt.Errorf("entry is %T, not a 2-element array", v)
	}
	body, ok := arr[1].([]dcKV)
	if !ok {
		return rec, fmt.Errorf("body is %T, not a map", arr[1])
	}
	rec.Body = body
	head := arr[0]
	if h, ok := head.([]any); ok {
		if len(h) != 2 {
			return rec, fmt.Errorf("header has %d elements", len(h))
		}
		meta, ok := h[1].([]dcKV)
		if !ok {
			return rec, fmt.Errorf("metadata is %T, not a map", h[1])
		}
		rec.Meta = meta
		if rec.Meta == nil {
			rec.Meta = []dcKV{}
		}
		head = h[0]
	}
	switch t := head.(type) {
	case dcExt:
		if t.Type != 0 || len(t.Data) != 8 {
			return rec, fmt.Errorf("time is ext type %d with %d bytes, not EventTime", t.Type, len(t.Data))
		}
		rec.Sec = binary.BigEndian.Uint32(t.Data)
		rec.Nsec = binary.BigEndian.Uint32(t.Data[4:])
		rec.EventTime = true
	case int64:
		rec.Sec = uint32(t)
	case uint64:
		rec.Sec = uint32(t)
	default:
		return rec, fmt.Errorf("time is %T", head)
	}
	return rec, nil
}

type dcReader struct {
	b   []byte
	off int
}

func (r *dcReader) take(n int) ([]byte, error) {
	if n < 0 || r.off+n > len(r.b) {
		return nil, fmt.Errorf("truncated at offset %d (need %d bytes)", r.off, n)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *dcReader) uint(n int) (uint64, error) {
	p, err := r.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

func (r *dcReader) value() (any, error) {
	p, err := r.take(1)
	if err != nil {
		return nil, err
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c&0xf0 == 0x80:
		return r.mapN(int(c & 0x0f))
	case c&0xf0 == 0x90:
		return r.arrayN(int(c & 0x0f))
	case c&0xe0 == 0xa0:
		return r.str(int(c & 0x1f))
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := r.uint(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		b, err := r.take(int(n))
		return append([]byte(nil), b...), err
	case 0xca:
		v, err := r.uint(4)
		return float64(math.Float32frombits(uint32(v))), err
	case 0xcb:
		v, err := r.uint(8)
		return math.Float64frombits(v), err
	case 0xcc, 0xcd, 0xce, 0xcf:
		v, err := r.uint(1 << (c - 0xcc))
		if err != nil {
			return nil, err
		}
		if v > math.MaxInt64 {
			return v, nil
		}
		return int64(v), nil
	case 0xd0, 0xd1, 0xd2, 0xd3:
		n := 1 << (c - 0xd0)
		v, err := r.uint(n)
		shift := 64 - 8*n
		return int64(v<<shift) >> shift, err
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return r.ext(1 << (c - 0xd4))
	case 0xc7, 0xc8, 0xc9:
		n, err := r.uint(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return r.ext(int(n))
	case 0xd9, 0xda, 0xdb:
		n, err := r.uint(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		return r.str(int(n))
	case 0xdc, 0xdd:
		n, err := r.uint(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return r.arrayN(int(n))
	case 0xde, 0xdf:
		n, err := r.uint(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return r.mapN(int(n))
	}
	return nil, fmt.Errorf("unknown msgpack byte 0x%02x at offset %d", c, r.off-1)
}

func (r *dcReader) str(n int) (any, error) {
	b, err := r.take(n)
	return string(b), err
}

func (r *dcReader) ext(n int) (any, error) {
	t, err := r.take(1)
	if err != nil {
		return nil, err
	}
	b, err := r.take(n)
	return dcExt{Type: int8(t[0]), Data: append([]byte(nil), b...)}, err
}

func (r *dcReader) arrayN(n int) (any, error) {
	out := make([]any, 0, min(n, 1024))
	for i := 0; i < n; i++ {
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (r *dcReader) mapN(n int) (any, error) {
	out := make([]dcKV, 0, min(n, 1024))
	for i := 0; i < n; i++ {
		k, err := r.value()
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("map key is %T, not a string", k)
		}
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		out = append(out, dcKV{Key: ks, Value: v})
	}
	return out, nil
}
