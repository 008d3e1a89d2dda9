package secopsout

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

type dtDecoded struct {
	ts   time.Time
	meta string
	json string
}

func dtDecodeAll(t testing.TB, chunk []byte) ([]dtDecoded, error) {
	t.Helper()
	var out []dtDecoded
	err := DecodeChunk(chunk, func(ts time.Time, meta, body RawMap) error {
		line, err := AppendJSON(nil, body)
		if err != nil {
			return err
		}
		var m string
		if meta != nil {
			mb, err := AppendJSON(nil, meta)
			if err != nil {
				return err
			}
			m = string(mb)
		}
		out = append(out, dtDecoded{ts: ts, meta: m, json: string(line)})
		return nil
	})
	return out, err
}

func TestDecodeChunkTimestampsAndForms(t *testing.T) {
	body := dtMap{{"a", "b"}}
	cases := []struct {
		name     string
		chunk    []byte
		wantTS   time.Time
		wantMeta string
	}{
		{"v1 positive fixint", dtRecordV1(5, body), time.Unix(5, 0), ""},
		{"v1 uint32", dtRecordV1(1700000000, body), time.Unix(1700000000, 0), ""},
		{"v1 uint64", dtRecordV1(uint64(1700000001), body), time.Unix(1700000001, 0), ""},
		{"v1 float64", dtRecordV1(1700000000.25, body), time.Unix(1700000000, 250000000), ""},
		{"v1 float32", dtRecordV1(float32(1.5), body), time.Unix(1, 500000000), ""},
		{"v1 EventTime fixext8", dtRecordV1(dtEventTime(1700000000, 123456789), body), time.Unix(1700000000, 123456789), ""},
		{"v1 EventTime ext8", dtRecordV1(dtRaw(append([]byte{0xc7, 8, 0}, dtEventTime(7, 9)[2:]...)), body), time.Unix(7, 9), ""},
		{"v2 empty meta", dtRecordV2(dtEventTime(1738837684, 0), dtMap{}, body), time.Unix(1738837684, 0), "{}"},
		{"v2 meta", dtRecordV2(dtEventTime(1, 2), dtMap{{"m", 1}}, body), time.Unix(1, 2), `{"m":1}`},
		{"v2 nil meta", dtEnc([]any{[]any{dtEventTime(3, 0), nil}, body}), time.Unix(3, 0), ""},
		{"v2 int ts", dtRecordV2(42, dtMap{}, body), time.Unix(42, 0), "{}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dtDecodeAll(t, tc.chunk)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d records, want 1", len(got))
			}
			if !got[0].ts.Equal(tc.wantTS) || got[0].ts.Location() != time.UTC {
				t.Errorf("ts = %v, want %v in UTC", got[0].ts, tc.wantTS.UTC())
			}
			if got[0].meta != tc.wantMeta {
				t.Errorf("meta = %q, want %q", got[0].meta, tc.wantMeta)
			}
			if got[0].json != `{"a":"b"}` {
				t.Errorf("body = %s", got[0].json)
			}
		})
	}
}

func TestAppendJSONValues(t *testing.T) {
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 70000)
	cases := []struct {
		name string
		body dtMap
		want string
	}{
		{"strings stay strings", dtMap{{"User name", "Jane Doe"}, {"Action", "login"}}, `{"User name":"Jane Doe","Action":"login"}`},
		{"no html or slash escaping", dtMap{{"Division/Container Name", "<a href='x'>&</a>/"}}, `{"Division/Container Name":"<a href='x'>&</a>/"}`},
		{"json escapes", dtMap{{"q", "say \"hi\"\\ \n\r\t\b\f\x01\x1f"}}, `{"q":"say \"hi\"\\ \n\r\t\b\f\u0001\u001f"}`},
		{"unicode kept raw", dtMap{{"ключ", "日本語 🙂 \u2028\u2029 é"}}, "{\"ключ\":\"日本語 🙂 \u2028\u2029 é\"}"},
		{"invalid utf8 replaced", dtMap{{"k", "a\xffb"}}, "{\"k\":\"a\uFFFDb\"}"},
		{"str8 str16 str32", dtMap{{"s8", long}, {"s16", huge}}, `{"s8":"` + long + `","s16":"` + huge + `"}`},
		{"integers", dtMap{{"a", 0}, {"b", -1}, {"c", -33}, {"d", 200}, {"e", 70000}, {"f", -70000}, {"g", int64(-1 << 40)}, {"h", uint64(1<<64 - 1)}}, `{"a":0,"b":-1,"c":-33,"d":200,"e":70000,"f":-70000,"g":-1099511627776,"h":18446744073709551615}`},
		{"floats", dtMap{{"a", 1.5}, {"b", 3.0}, {"c", float32(0.1)}, {"d", 1e21}, {"e", 1e-7}, {"f", math.Copysign(0, -1)}}, `{"a":1.5,"b":3.0,"c":0.1,"d":1e+21,"e":1e-7,"f":-0.0}`},
		{"bool nil", dtMap{{"t", true}, {"f", false}, {"n", nil}}, `{"t":true,"f":false,"n":null}`},
		{"bin utf8 is string", dtMap{{"b", []byte("héllo")}}, `{"b":"héllo"}`},
		{"bin binary is base64", dtMap{{"b", []byte{0xff, 0x00, 0x01}}}, `{"b":"/wAB"}`},
		{"nested", dtMap{{"m", dtMap{{"x", []any{1, "two", dtMap{{"y", nil}}, []any{}}}}}, {"e", dtMap{}}}, `{"m":{"x":[1,"two",{"y":null},[]]},"e":{}}`},
		{"non-string keys", dtMap{{1, "a"}, {true, "b"}, {[]byte("k"), "c"}, {dtEventTime(1, 0), "d"}, {[]any{1}, "e"}}, `{"1":"a","true":"b","k":"c","1970-01-01T00:00:01Z":"d","kQE=":"e"}`},
		{"ext EventTime value", dtMap{{"t", dtEventTime(1738837684, 5)}}, `{"t":"2025-02-06T10:28:04.000000005Z"}`},
		{"ext other", dtMap{{"x", dtRaw{0xd4, 5, 0xab}}}, `{"x":"qw=="}`},
		{"empty", dtMap{}, `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendJSON(nil, RawMap(dtEnc(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}

func TestAppendJSONWithField(t *testing.T) {
	got, err := AppendJSONWithField([]byte("prefix "), RawMap(dtEnc(dtMap{{"a", 1}})), "date", []byte(`"2025-01-01T00:00:00.000000Z"`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `prefix {"date":"2025-01-01T00:00:00.000000Z","a":1}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got, err = AppendJSONWithField(nil, RawMap(dtEnc(dtMap{})), "date", []byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"date":1}` {
		t.Errorf("empty body: got %s", got)
	}
}

func TestDecodeChunkSeveralRecordsAndMarkers(t *testing.T) {
	var chunk []byte
	chunk = append(chunk, dtRecordV2(dtEventTime(groupStartSec, 0), dtMap{}, dtMap{{"group", "start"}})...)
	chunk = append(chunk, dtRecordV2(dtEventTime(10, 0), dtMap{}, dtMap{{"n", 1}})...)
	chunk = append(chunk, dtRecordV1(11, dtMap{{"n", 2}})...)
	chunk = append(chunk, dtRecordV2(dtEventTime(groupEndSec, 0), dtMap{}, dtMap{})...)
	chunk = append(chunk, dtRecordV2(dtEventTime(12, 0), dtMap{}, dtMap{{"n", 3}})...)
	got, err := dtDecodeAll(t, chunk)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range got {
		lines = append(lines, d.json)
	}
	if strings.Join(lines, "\n") != "{\"n\":1}\n{\"n\":2}\n{\"n\":3}" {
		t.Errorf("records = %q", lines)
	}
}

func TestDecodeChunkStopsOnCallbackError(t *testing.T) {
	chunk := append(dtRecordV1(1, dtMap{{"a", 1}}), dtRecordV1(2, dtMap{{"a", 2}})...)
	stop := errors.New("stop")
	calls := 0
	err := DecodeChunk(chunk, func(time.Time, RawMap, RawMap) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err = %v after %d calls, want stop after 1", err, calls)
	}
}

func TestDecodeChunkErrors(t *testing.T) {
	good := dtRecordV1(1, dtMap{{"a", "b"}})
	deep := []byte{0x92, 0x01}
	for i := 0; i < 300; i++ {
		deep = append(deep, 0x81, 0xa1, 'k')
	}
	deep = append(deep, 0xc0)
	cases := []struct {
		name  string
		chunk []byte
		want  string
	}{
		{"truncated", good[:len(good)-1], "truncated"},
		{"not an array", dtEnc(dtMap{{"a", 1}}), "expected an array"},
		{"three elements", dtEnc([]any{1, dtMap{}, dtMap{}}), "want 2"},
		{"body not a map", dtEnc([]any{1, "x"}), "body is not a map"},
		{"ts is a string", dtEnc([]any{"now", dtMap{}}), "timestamp has msgpack type"},
		{"ts ext of wrong type", dtEnc([]any{dtRaw{0xd7, 5, 0, 0, 0, 0, 0, 0, 0, 0}, dtMap{}}), "EventTime"},
		{"meta not a map", dtEnc([]any{[]any{1, "m"}, dtMap{}}), "metadata is not a map"},
		{"header of 3", dtEnc([]any{[]any{1, dtMap{}, 3}, dtMap{}}), "header is an array of 3"},
		{"huge map count", []byte{0x92, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff}, "does not fit"},
		{"invalid type byte", dtEnc([]any{1, dtMap{{"a", dtRaw{0xc1}}}}), "invalid msgpack type"},
		{"too deep", deep, "nesting deeper"},
		{"nan ts", dtEnc([]any{dtRaw{0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}, dtMap{}}), "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chunk := append(append([]byte(nil), good...), tc.chunk...)
			_, err := dtDecodeAll(t, chunk)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if de.Record != 1 || !strings.Contains(de.Reason, tc.want) {
				t.Errorf("err = %v, want record 1 and %q", err, tc.want)
			}
		})
	}
}

func TestRawMapLen(t *testing.T) {
	if n := RawMap(dtEnc(dtMap{{"a", 1}, {"b", 2}})).Len(); n != 2 {
		t.Errorf("Len = %d", n)
	}
	if n := RawMap(nil).Len(); n != 0 {
		t.Errorf("nil Len = %d", n)
	}
}

// TestAppendJSONRoundTrip checks a DigiCert-like row against encoding/json's
// view of the output: every key and value survives unchanged.
func TestAppendJSONRoundTrip(t *testing.T) {
	row := dtMap{
		{"Date and time (UTC)", "06-Feb-2025 10:28:04"},
		{"User ID", "12345"},
		{"User name", "Zoë \"Q\" O'Brien"},
		{"Activity", "line one\nline two\ttabbed\\ back"},
		{"Division/Container Name", "Sales & <Marketing>"},
		{"IP address", "203.0.113.7"},
		{"nested", dtMap{{"list", []any{1.25, "x", nil, true}}}},
	}
	line, err := AppendJSON(nil, RawMap(dtEnc(row)))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var got map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	for _, e := range row[:6] {
		if got[e.k.(string)] != e.v {
			t.Errorf("%s = %q, want %q", e.k, got[e.k.(string)], e.v)
		}
	}
	nested, _ := json.Marshal(got["nested"])
	if string(nested) != `{"list":[1.25,"x",null,true]}` {
		t.Errorf("nested = %s", nested)
	}
	// Keys appear literally (the SecOps parser matches on raw text).
	if !bytes.Contains(line, []byte(`"Division/Container Name":"Sales & <Marketing>"`)) {
		t.Errorf("key or value was escaped: %s", line)
	}
}

// TestAppendStringMatchesEncodingJSON compares the string writer with
// encoding/json on many random strings made of the bytes that matter to the
// 8-byte fast path: escapes, control bytes, UTF-8 lead and continuation
// bytes and invalid ones, placed across word boundaries.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	alphabet := []byte{'a', 'Z', ' ', '"', '\\', '/', '<', '\n', '\t', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0x80, 0xa8, 0xf0, 0x9f, 0x99, 0x82, 0xff}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 40)
	for n := 0; n < 20000; n++ {
		buf = buf[:0]
		for i := rng.IntN(40); i > 0; i-- {
			buf = append(buf, alphabet[rng.IntN(len(alphabet))])
		}
		s := string(buf)
		var got, want string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil {
			t.Fatalf("%q: invalid JSON: %v", s, err)
		}
		ref, _ := json.Marshal(s)
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("%q decodes to %q, want %q", s, got, want)
		}
	}
}
