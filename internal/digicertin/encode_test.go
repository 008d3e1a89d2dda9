package digicertin

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// This test file carries its own small msgpack reader, an oracle independent
// of the encoder: maps decode to ordered []mpKV so key order and duplicate
// keys are checked too.

type mpKV struct {
	K string
	V any
}

type mpExt struct {
	Type int8
	Data []byte
}

type mpReader struct {
	b []byte
	i int
}

func (r *mpReader) need(n int) []byte {
	if r.i+n > len(r.b) {
		panic(fmt.Sprintf("msgpack truncated at %d (need %d of %d)", r.i, n, len(r.b)))
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	return p
}

func (r *mpReader) uint(n int) uint64 {
	p := r.need(n)
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v
}

// read decodes one value: string, int64, uint64, float64, bool, nil, []any, []mpKV or mpExt.
func (r *mpReader) read() any {
	c := r.need(1)[0]
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	case c&0xf0 == 0x80:
		return r.mapN(int(c & 0x0f))
	case c&0xf0 == 0x90:
		return r.arrN(int(c & 0x0f))
	case c&0xe0 == 0xa0:
		return string(r.need(int(c & 0x1f)))
	}
	switch c {
	case 0xc0:
		return nil
	case 0xc2:
		return false
	case 0xc3:
		return true
	case 0xcb:
		return math.Float64frombits(r.uint(8))
	case 0xcc, 0xcd, 0xce, 0xcf:
		return r.uint(1 << (c - 0xcc))
	case 0xd0:
		return int64(int8(r.uint(1)))
	case 0xd1:
		return int64(int16(r.uint(2)))
	case 0xd2:
		return int64(int32(r.uint(4)))
	case 0xd3:
		return int64(r.uint(8))
	case 0xd7:
		t := int8(r.need(1)[0])
		return mpExt{t, r.need(8)}
	case 0xd9, 0xda, 0xdb:
		return string(r.need(int(r.uint(1 << (c - 0xd9)))))
	case 0xdc:
		return r.arrN(int(r.uint(2)))
	case 0xdd:
		return r.arrN(int(r.uint(4)))
	case 0xde:
		return r.mapN(int(r.uint(2)))
	case 0xdf:
		return r.mapN(int(r.uint(4)))
	}
	panic(fmt.Sprintf("unexpected msgpack code %#x at %d", c, r.i-1))
}

func (r *mpReader) mapN(n int) []mpKV {
	m := make([]mpKV, 0, n)
	for range n {
		k, ok := r.read().(string)
		if !ok {
			panic("non-string map key")
		}
		m = append(m, mpKV{k, r.read()})
	}
	return m
}

func (r *mpReader) arrN(n int) []any {
	a := make([]any, 0, n)
	for range n {
		a = append(a, r.read())
	}
	return a
}

// decodeOne decodes exactly one msgpack value from b.
func decodeOne(t testing.TB, b []byte) any {
	t.Helper()
	r := &mpReader{b: b}
	v := r.read()
	if r.i != len(b) {
		t.Fatalf("%d trailing bytes after the msgpack value", len(b)-r.i)
	}
	return v
}

// jsonOracle decodes JSON with encoding/json's tokenizer into the same shapes
// the msgpack reader yields (numbers normalised as the encoder promises).
func jsonOracle(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := oracleValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func oracleValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		if x == '{' {
			m := []mpKV{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := oracleValue(d)
				if err != nil {
					return nil, err
				}
				m = append(m, mpKV{k.(string), v})
			}
			_, err := d.Token()
			return m, err
		}
		a := []any{}
		for d.More() {
			v, err := oracleValue(d)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := d.Token()
		return a, err
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				if i >= 0 {
					return uint64(i), nil
				}
				return i, nil
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return f, nil
	default:
		return x, nil // string, bool, nil
	}
}

// normInts makes non-negative integers uint64 and negative ones int64 so the
// reader's and the oracle's numbers compare equal whatever msgpack form was used.
func normInts(v any) any {
	switch x := v.(type) {
	case int64:
		if x >= 0 {
			return uint64(x)
		}
		return x
	case []any:
		for i := range x {
			x[i] = normInts(x[i])
		}
	case []mpKV:
		for i := range x {
			x[i].V = normInts(x[i].V)
		}
	}
	return v
}

func encodeBody(t testing.TB, row string) any {
	t.Helper()
	var e RowEncoder
	out, _, err := e.AppendBody(nil, []byte(row))
	if err != nil {
		t.Fatalf("AppendBody(%q): %v", row, err)
	}
	return normInts(decodeOne(t, out))
}

func TestAppendBodyExactBytes(t *testing.T) {
	cases := []struct {
		row  string
		want []byte
	}{
		{`{"a":"b"}`, []byte{0x81, 0xa1, 'a', 0xa1, 'b'}},
		{` { "a" : 1 , "b":null,"c":true,"d":false } `, []byte{0x84, 0xa1, 'a', 0x01, 0xa1, 'b', 0xc0, 0xa1, 'c', 0xc3, 0xa1, 'd', 0xc2}},
		{`{}`, []byte{0x80}},
		{`{"x":[]}`, []byte{0x81, 0xa1, 'x', 0x90}},
		{`{"x":[-1,-33,128]}`, []byte{0x81, 0xa1, 'x', 0x93, 0xff, 0xd0, 0xdf, 0xcc, 0x80}},
		{`{"x":1.5}`, append([]byte{0x81, 0xa1, 'x', 0xcb}, binary.BigEndian.AppendUint64(nil, math.Float64bits(1.5))...)},
		{`{"\u00e9":"a\nb"}`, []byte{0x81, 0xa2, 0xc3, 0xa9, 0xa3, 'a', '\n', 'b'}},
	}
	for _, c := range cases {
		var e RowEncoder
		got, _, err := e.AppendBody([]byte{0xee}, []byte(c.row))
		if err != nil {
			t.Fatalf("%s: %v", c.row, err)
		}
		if !bytes.Equal(got[1:], c.want) || got[0] != 0xee {
			t.Errorf("%s:\n got % x\nwant % x", c.row, got[1:], c.want)
		}
	}
}

func TestAppendBodyValues(t *testing.T) {
	cases := []struct {
		row  string
		want any
	}{
		{`{"s":"plain","e":"q\"b\\s\/f\bf\fn\nr\rt\t"}`, []mpKV{{"s", "plain"}, {"e", "q\"b\\s/f\bf\fn\nr\rt\t"}}},
		{`{"u":"\u0041\u00e9\u20ac\ud83d\ude00"}`, []mpKV{{"u", "Aé€😀"}}},
		{`{"lone":"\ud800x","pair_bad":"\ud800\u0041"}`, []mpKV{{"lone", "\uFFFDx"}, {"pair_bad", "\uFFFDA"}}},
		{`{"raw":"héllo wörld ✓"}`, []mpKV{{"raw", "héllo wörld ✓"}}},
		{`{"Date and time (UTC)":"06-Feb-2025 10:28:04","n":0,"neg":-9223372036854775808,"max":18446744073709551615}`,
			[]mpKV{{"Date and time (UTC)", "06-Feb-2025 10:28:04"}, {"n", uint64(0)}, {"neg", int64(math.MinInt64)}, {"max", uint64(math.MaxUint64)}}},
		{`{"big":18446744073709551616,"small":-9223372036854775809,"exp":1e3,"huge":1e400}`,
			[]mpKV{{"big", 18446744073709551616.0}, {"small", -9223372036854775809.0}, {"exp", 1000.0}, {"huge", math.Inf(1)}}},
		{`{"ints":[127,128,255,256,65535,65536,4294967295,4294967296,-32,-128,-129,-32768,-32769,-2147483648,-2147483649]}`,
			[]mpKV{{"ints", []any{uint64(127), uint64(128), uint64(255), uint64(256), uint64(65535), uint64(65536), uint64(4294967295), uint64(4294967296),
				int64(-32), int64(-128), int64(-129), int64(-32768), int64(-32769), int64(-2147483648), int64(-2147483649)}}}},
		{`{"nested":{"a":[1,{"b":null}],"c":{}},"dup":1,"dup":2}`,
			[]mpKV{{"nested", []mpKV{{"a", []any{uint64(1), []mpKV{{"b", nil}}}}, {"c", []mpKV{}}}}, {"dup", uint64(1)}, {"dup", uint64(2)}}},
	}
	for _, c := range cases {
		if got := encodeBody(t, c.row); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.row, got, c.want)
		}
	}
}

// TestAppendBodyHeaderSizes crosses every msgpack length boundary for
// strings, maps and arrays, checking the header form chosen and the content.
func TestAppendBodyHeaderSizes(t *testing.T) {
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		var e RowEncoder
		out, _, err := e.AppendBody(nil, []byte(`{"k":"`+s+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]byte{true: 0xa0 | byte(n)}[n <= 31]
		switch {
		case n > 65535:
			want = 0xdb
		case n > 255:
			want = 0xda
		case n > 31:
			want = 0xd9
		}
		if out[3] != want {
			t.Errorf("string of %d: header %#x, want %#x", n, out[3], want)
		}
		if got := decodeOne(t, out).([]mpKV)[0].V.(string); got != s {
			t.Errorf("string of %d: content differs", n)
		}
		// The escaped path must pick the same header.
		out2, _, err := e.AppendBody(nil, []byte(`{"k":"`+s+`\u0021"}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeOne(t, out2).([]mpKV)[0].V.(string); got != s+"!" {
			t.Errorf("escaped string of %d: content differs", n)
		}
	}
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		var obj, arr strings.Builder
		obj.WriteString("{")
		arr.WriteString(`{"a":[`)
		for i := range n {
			if i > 0 {
				arr.WriteString(",")
			}
			fmt.Fprintf(&obj, `"k%d":%d,`, i, i%100)
			arr.WriteString(strconv.Itoa(i % 100))
		}
		obj.WriteString(`"last":"end"}`)
		arr.WriteString(`],"last":"end"}`)
		m := encodeBody(t, obj.String()).([]mpKV)
		if len(m) != n+1 || m[n].K != "last" || (n > 0 && m[n-1].V != uint64((n-1)%100)) {
			t.Errorf("object of %d members decoded wrong (len %d)", n+1, len(m))
		}
		a := encodeBody(t, arr.String()).([]mpKV)
		if len(a) != 2 || len(a[0].V.([]any)) != n || a[1].V != "end" {
			t.Errorf("array of %d decoded wrong", n)
		}
	}
}

func TestAppendBodyErrors(t *testing.T) {
	bad := []string{
		``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":1}{}`, `{a:1}`,
		`{"a":"x}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`,
		`{"a":1e}`, `{"a":tru}`, `{"a":nul}`, `{"a":[1,2}`, `{"a":[1 2]}`, `{"a":"\`,
		`{"a":` + strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1) + `}`,
	}
	for _, row := range bad {
		var e RowEncoder
		prefix := []byte("keep")
		out, tv, err := e.AppendBody(prefix, []byte(row))
		if err == nil {
			t.Errorf("%q: no error", row)
			continue
		}
		if string(out) != "keep" || tv != nil {
			t.Errorf("%q: dst not restored on error: %q", row, out)
		}
		var se *SyntaxError
		if !errors.As(err, &se) && !errors.Is(err, ErrNotObject) {
			t.Errorf("%q: unexpected error type %T: %v", row, err, err)
		}
	}
	// String errors name the problem and point at it.
	for _, tc := range []struct {
		row, msg string
		offset   int
	}{
		{`{"a":"\x"}`, `invalid escape 'x'`, 6},
		{`{"a":"ok\u12"}`, `invalid \u escape`, 8},
		{`{"a":"\n\u12g4"}`, `invalid \u escape`, 8},
		{`{"a":"x}`, `unterminated string`, 8},
		{`{"a":"\`, `unterminated escape`, 6},
	} {
		_, _, err := new(RowEncoder).AppendBody(nil, []byte(tc.row))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Msg != tc.msg || se.Offset != tc.offset {
			t.Errorf("%s: got %v, want %q at offset %d", tc.row, err, tc.msg, tc.offset)
		}
	}
	// Just inside the nesting limit is fine.
	deep := `{"a":` + strings.Repeat("[", maxNesting-1) + strings.Repeat("]", maxNesting-1) + `}`
	if _, _, err := new(RowEncoder).AppendBody(nil, []byte(deep)); err != nil {
		t.Errorf("nesting %d: %v", maxNesting, err)
	}
}

func TestAppendBodyTimeKey(t *testing.T) {
	e := RowEncoder{TimeKey: "Date and time (UTC)"}
	cases := []struct{ row, want string }{
		{`{"Action":"x","Date and time (UTC)":"06-Feb-2025 10:28:04"}`, "06-Feb-2025 10:28:04"},
		{`{"Date and time \u0028UTC)":"06-02-2025\u002010:28:04"}`, "06-02-2025 10:28:04"},
		{`{"n":{"Date and time (UTC)":"nested is not it"},"Date and time (UTC)":"top"}`, "top"},
		{`{"Date and time (UTC)":"first","Date and time (UTC)":"second"}`, "first"},
	}
	for _, c := range cases {
		_, tv, err := e.AppendBody(nil, []byte(c.row))
		if err != nil || string(tv) != c.want {
			t.Errorf("%s: time value %q, %v; want %q", c.row, tv, err, c.want)
		}
	}
	for _, row := range []string{`{"Action":"x"}`, `{"Date and time (UTC)":12}`, `{"Date and time (UTC)":null}`} {
		if _, tv, err := e.AppendBody(nil, []byte(row)); err != nil || tv != nil {
			t.Errorf("%s: time value %q, %v; want none", row, tv, err)
		}
	}
}

func TestAppendRecord(t *testing.T) {
	ts := time.Date(2025, 2, 6, 10, 28, 4, 123456789, time.UTC)
	meta := map[string]string{"run_id": "r1", "report_id": "rep"}
	out, err := AppendRecord([]byte("prev"), ts, meta, []byte(`{"Action":"login","Count":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out[:4]) != "prev" {
		t.Fatal("dst prefix lost")
	}
	rec := decodeOne(t, out[4:]).([]any)
	head := rec[0].([]any)
	ext := head[0].(mpExt)
	if ext.Type != 0 || binary.BigEndian.Uint32(ext.Data) != uint32(ts.Unix()) || binary.BigEndian.Uint32(ext.Data[4:]) != 123456789 {
		t.Errorf("EventTime = %+v", ext)
	}
	// Meta keys are sorted, so equal maps give equal bytes.
	if !reflect.DeepEqual(head[1], []mpKV{{"report_id", "rep"}, {"run_id", "r1"}}) {
		t.Errorf("meta = %#v", head[1])
	}
	if !reflect.DeepEqual(rec[1], []mpKV{{"Action", "login"}, {"Count", int64(3)}}) {
		t.Errorf("body = %#v", rec[1])
	}
	// Empty metadata is an empty map (what the s3 output needs to add nothing).
	out, err = AppendRecord(nil, ts, nil, []byte(`{"a":"b"}`))
	if err != nil || out[12] != 0x80 {
		t.Fatalf("empty meta: % x, %v", out, err)
	}
	if _, err := AppendRecord([]byte("prev"), ts, nil, []byte(`{"a":`)); err == nil {
		t.Error("malformed row accepted")
	}
}

func TestSetEventTimeClamps(t *testing.T) {
	cases := []struct {
		t         time.Time
		sec, nsec uint32
	}{
		{time.Unix(0, 0), 0, 0},
		{time.Unix(-5, 7), 0, 0},
		{time.Unix(1738837684, 5), 1738837684, 5},
		{time.Unix(0xFFFFFFFF, 0), 0xFFFFFFFD, 0},
		{time.Unix(1<<40, 9), 0xFFFFFFFD, 9},
	}
	for _, c := range cases {
		rec := AppendRecordHeader(nil, c.t, nil)
		sec := binary.BigEndian.Uint32(rec[RecordHeaderTimeOffset:])
		nsec := binary.BigEndian.Uint32(rec[RecordHeaderTimeOffset+4:])
		if sec != c.sec || nsec != c.nsec {
			t.Errorf("%v: got %d.%d want %d.%d", c.t, sec, nsec, c.sec, c.nsec)
		}
	}
}

var fuzzShared = RowEncoder{TimeKey: "a"}

// FuzzAppendBody checks the encoder against encoding/json on every valid
// UTF-8 JSON object, and that it never panics or corrupts dst otherwise.
func FuzzAppendBody(f *testing.F) {
	for _, s := range []string{
		`{"a":"b"}`, `{"a":[1,2.5,-3e2,{"b":null}],"c":true}`, `{"\ud83d\ude00":"\ud800"}`,
		`{"Date and time (UTC)":"06-Feb-2025 10:28:04","Activity":"User SSO login #9999999\nLogged through SAML SSO"}`,
		`{"x":18446744073709551616}`, `{"x":"\u0000\"\\"}`, `{}`, `{"a":{"b":{"c":[[]]}}}`, `{"a":1}  `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := RowEncoder{TimeKey: "a"}
		out, tv, err := e.AppendBody([]byte{1, 2}, data)
		// An encoder reused across inputs (its key cache warm from earlier
		// ones) must give the same answer as a fresh one.
		sout, stv, serr := fuzzShared.AppendBody([]byte{1, 2}, data)
		if !bytes.Equal(sout, out) || !bytes.Equal(stv, tv) || (serr == nil) != (err == nil) {
			t.Fatalf("reused encoder: %x %q %v; fresh: %x %q %v", sout, stv, serr, out, tv, err)
		}
		if !bytes.Equal(out[:2], []byte{1, 2}) {
			t.Fatal("dst prefix changed")
		}
		if err != nil {
			if len(out) != 2 {
				t.Fatal("dst not restored on error")
			}
			if json.Valid(data) && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
				t.Fatalf("valid JSON object rejected: %v", err)
			}
			return
		}
		got := normInts(decodeOne(t, out[2:]))
		if !json.Valid(data) || !utf8.Valid(data) {
			return // accepted leniently (raw control bytes, invalid UTF-8 kept as sent)
		}
		want, jerr := jsonOracle(data)
		if jerr != nil {
			t.Fatalf("oracle failed on valid JSON: %v", jerr)
		}
		if !reflect.DeepEqual(got, normInts(want)) && !nanEqual(got, want) {
			t.Fatalf("mismatch for %q:\n got %#v\nwant %#v", data, got, want)
		}
	})
}

// nanEqual is never needed for JSON (which has no NaN) but keeps the fuzz
// comparison honest if DeepEqual meets NaN through some path.
func nanEqual(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

var benchRow = []byte(`{"Account ID":"0000000","Action":"User SSO login","Action taken via":"CertCentral",` +
	`"Activity":"User SSO login #9999999\nLogged through SAML SSO","Adjustment/Ledger ID":"",` +
	`"Date and time (UTC)":"06-Feb-2025 10:28:04","Division/Container ID":"111222",` +
	`"Division/Container name":"Global_Internal_Division","Domain ID":"","Domain name":"",` +
	`"IP address":"192.168.1.100","IP country":"US","Message":"Logged through SAML SSO","Order ID":"",` +
	`"Order request ID":"","Organization ID":"","Organization name":"","Primary organization name":"Example Corp, Inc.",` +
	`"Result":"Successful","Revocation comments":"","User ID":"9999999","User name":"John Doe","Voucher code ID":"","Voucher order ID":""}`)

func BenchmarkAppendBody(b *testing.B) {
	e := RowEncoder{TimeKey: "Date and time (UTC)"}
	var dst []byte
	b.SetBytes(int64(len(benchRow)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, _, err = e.AppendBody(dst[:0], benchRow)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// jsonbytes.IndexQuote must agree with a plain byte loop wherever the quote or
// backslash sits relative to the 8-byte words it scans.
func TestStringEnd(t *testing.T) {
	for n := 0; n < 40; n++ {
		for at := 0; at <= n; at++ {
			for _, c := range []byte{'"', '\\'} {
				b := bytes.Repeat([]byte{0xe9}, n) // high bytes must not match
				if at < n {
					b[at] = c
				}
				want := bytes.IndexAny(b, "\"\\")
				if want < 0 {
					want = n
				}
				if got := jsonbytes.IndexQuote(b); got != want {
					t.Fatalf("len %d, %q at %d: got %d want %d", n, c, at, got, want)
				}
			}
		}
	}
	// A '"' (0x22) after a "!" (0x21) or '#' (0x23) byte: borrow cases.
	for _, s := range []string{`!!!!!!!"`, `########"`, "\x00\x00\x00\"", `abc\def"`} {
		if got, want := jsonbytes.IndexQuote([]byte(s)), strings.IndexAny(s, "\"\\"); got != want {
			t.Errorf("%q: got %d want %d", s, got, want)
		}
	}
}

// One encoder reused across rows whose keys change (added, dropped,
// reordered, escaped differently, prefixes of each other) gives exactly what
// a fresh encoder gives for each row: the key cache never substitutes a key.
func TestRowEncoderKeyCache(t *testing.T) {
	rows := []string{
		`{"a":"1","b":"2","Date and time (UTC)":"06-Feb-2025 10:28:04"}`,
		`{"a":"1","b":"2","Date and time (UTC)":"06-Feb-2025 10:28:05"}`,
		`{"a":"1","c":"2","Date and time (UTC)":"06-Feb-2025 10:28:06"}`,
		`{"a":"1","c":"2","Date and time (UTC)x":"06-Feb-2025 10:28:06"}`,
		`{"\u0061":"1","b":"2"}`,
		`{"ab":"1","b":"2"}`,
		`{"a" : "1", "b":"2","Date and time (UTC)":"x"}`,
		`{"b":"2","a":"1"}`,
		`{"a":{"a":"1","b":"2"},"b":[{"a":1}]}`,
		`{"Date and time (UTC)":7,"Date and time (UTC)":"06-Feb-2025 10:28:07"}`,
		`{}`,
		`{"a":"1","b":"2","Date and time (UTC)":"06-Feb-2025 10:28:08"}`,
		`{"a":"1","b":`, // malformed: must not poison the cache
		`{"a":"1","b":"2","Date and time (UTC)":"06-Feb-2025 10:28:09"}`,
		// Cut or altered after cached keys: the cache must not carry a
		// key past the point where the row stops matching.
		`{"a":"1","b":"2`,
		`{"a":"1","b":"2"`,
		`{"a":"1","b":"2"x`,
		`{"a":"1","b":"2" }`,
		`{"a":"1","b":"2"}  `,
		`{"a":"1","b":"2"} x`,
		`{"a":"1","b":"2",`,
		`{"a":"1","b":"2","Date and time (UTC)":"06-Feb-2025 \u0031\"0:28:09"}`,
		`{"a":"12345678","b":"1234567","Date and time (UTC)":"06-Feb-2025 10:28:10"}`,
		`{"a":"1\n2","b":"2","Date and time (UTC)":"06-Feb-2025 10:28:11"}`,
		`{"a":"1","b":2,"Date and time (UTC)":"06-Feb-2025 10:28:12"}`,
		`{"a":"1","b":"","Date and time (UTC)":""}`,
		"{\"a\":\"1\t\xff\",\"b\":\"2\"}",
	}
	for _, timeKey := range []string{"Date and time (UTC)", "", "a"} {
		reused := RowEncoder{TimeKey: timeKey}
		for round := range 2 {
			for _, r := range rows {
				fresh := RowEncoder{TimeKey: timeKey}
				want, wantT, wantErr := fresh.AppendBody(nil, []byte(r))
				got, gotT, gotErr := reused.AppendBody(nil, []byte(r))
				if !bytes.Equal(got, want) || !bytes.Equal(gotT, wantT) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Fatalf("TimeKey %q, round %d, row %s: reused encoder gave %x %q %v; fresh %x %q %v",
						timeKey, round, r, got, gotT, gotErr, want, wantT, wantErr)
				}
			}
		}
	}
	// Many distinct keys: the cache resets rather than growing without bound.
	var e RowEncoder
	for i := range 5000 {
		row := fmt.Sprintf(`{"key number %d with some length":"v"}`, i)
		if _, _, err := e.AppendBody(nil, []byte(row)); err != nil {
			t.Fatal(err)
		}
		if cap(e.keyArena) > 2*maxKeyArena {
			t.Fatalf("key cache holds %d bytes after %d rows", cap(e.keyArena), i+1)
		}
	}
}
