package secopsout

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A minimal msgpack writer for the decoder tests. It picks the smallest
// header for each size so that every length form gets exercised.

type dtKV struct {
	k any
	v any
}

// dtMap is an ordered map (msgpack maps keep their order; Go maps do not).
type dtMap []dtKV

// dtRaw is inserted verbatim, to build encodings the writer would not choose.
type dtRaw []byte

func dtEnc(v any) []byte { return dtAppend(nil, v) }

func dtHeader(dst []byte, n int, fix, b16, b32 byte, fixMax int) []byte {
	switch {
	case n <= fixMax:
		return append(dst, fix|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, b16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, b32), uint32(n))
	}
}

func dtAppend(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, 0xc0)
	case dtRaw:
		return append(dst, x...)
	case bool:
		if x {
			return append(dst, 0xc3)
		}
		return append(dst, 0xc2)
	case int:
		return dtInt(dst, int64(x))
	case int64:
		return dtInt(dst, x)
	case uint64:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), x)
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(x))
	case float32:
		return binary.BigEndian.AppendUint32(append(dst, 0xca), math.Float32bits(x))
	case string:
		n := len(x)
		switch {
		case n < 32:
			dst = append(dst, 0xa0|byte(n))
		case n < 256:
			dst = append(dst, 0xd9, byte(n))
		case n <= math.MaxUint16:
			dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
		default:
			dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
		}
		return append(dst, x...)
	case []byte:
		n := len(x)
		switch {
		case n < 256:
			dst = append(dst, 0xc4, byte(n))
		case n <= math.MaxUint16:
			dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
		default:
			dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
		}
		return append(dst, x...)
	case []any:
		dst = dtHeader(dst, len(x), 0x90, 0xdc, 0xdd, 15)
		for _, e := range x {
			dst = dtAppend(dst, e)
		}
		return dst
	case dtMap:
		dst = dtHeader(dst, len(x), 0x80, 0xde, 0xdf, 15)
		for _, e := range x {
			dst = dtAppend(dst, e.k)
			dst = dtAppend(dst, e.v)
		}
		return dst
	}
	panic(fmt.Sprintf("mp: unsupported %T", v))
}

func dtInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 0x7f:
		return append(dst, byte(v))
	case v < 0 && v >= -32:
		return append(dst, byte(int8(v)))
	case v >= math.MinInt8 && v <= math.MaxInt8:
		return append(dst, 0xd0, byte(int8(v)))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(int32(v)))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
	}
}

// eventTime encodes an EventTime (fixext8, type 0).
func dtEventTime(sec, nsec uint32) dtRaw {
	b := []byte{0xd7, 0x00}
	b = binary.BigEndian.AppendUint32(b, sec)
	return binary.BigEndian.AppendUint32(b, nsec)
}

// recordV1 builds [ts, body]; recordV2 builds [[ts, meta], body].
func dtRecordV1(ts any, body dtMap) []byte { return dtEnc([]any{ts, body}) }

func dtRecordV2(ts any, meta, body dtMap) []byte {
	return dtEnc([]any{[]any{ts, meta}, body})
}
