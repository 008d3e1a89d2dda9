package secopsout

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeChunk feeds arbitrary bytes to the chunk decoder. Whatever the
// input, it must not panic, and every record it accepts must become one line
// of valid JSON with no raw newline (NDJSON framing depends on it). The seed
// corpus is in testdata/fuzz/FuzzDecodeChunk plus the records added here.
func FuzzDecodeChunk(f *testing.F) {
	f.Add(dtRecordV1(1700000000, dtMap{{"a", "b"}}))
	f.Add(dtRecordV2(dtEventTime(1738837684, 5), dtMap{}, dtMap{
		{"Date and time (UTC)", "06-Feb-2025 10:28:04"},
		{"Activity", "multi\nline \"quoted\""},
		{"n", dtMap{{"list", []any{1, -2, 3.5, nil, true, []byte{0xff}}}}},
	}))
	f.Add(append(dtRecordV1(1.5, dtMap{{1, []byte("bin")}}), dtRecordV2(dtEventTime(groupStartSec, 0), dtMap{}, dtMap{})...))
	f.Add([]byte{0x92, 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0xa1, 'k', 0xd4, 7, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var line []byte
		err := DecodeChunk(data, func(ts time.Time, meta, body RawMap) error {
			var err error
			line, err = AppendJSON(line[:0], body)
			if err != nil {
				// DecodeChunk validated the structure already.
				t.Fatalf("AppendJSON failed on a body DecodeChunk accepted: %v", err)
			}
			if !json.Valid(line) {
				t.Fatalf("invalid JSON %q from body %x", line, []byte(body))
			}
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("raw newline in %q", line)
			}
			if meta != nil {
				if m, err := AppendJSON(nil, meta); err != nil || !json.Valid(m) {
					t.Fatalf("metadata: %v %q", err, m)
				}
			}
			return nil
		})
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error is %T, want *DecodeError: %v", err, err)
		}
	})
}

// FuzzAppendString checks the JSON string writer against encoding/json: the
// text must decode to the same string encoding/json's own output decodes to
// (invalid UTF-8 becomes U+FFFD in both), and stay on one line.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain ascii", "quote\" back\\slash", "ctl\x00\x01\x1f\x7f", "tab\tnl\ncr\r", "é日本🙂", "\u2028\u2029", "<>&/", "bad\xff\xfeutf8", "12345678\"12345678", "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ours := appendString(nil, s)
		if bytes.IndexByte(ours, '\n') >= 0 {
			t.Fatalf("raw newline in %q", ours)
		}
		var got string
		if err := json.Unmarshal(ours, &got); err != nil {
			t.Fatalf("%q → invalid JSON %q: %v", s, ours, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("%q → %q decodes to %q, want %q", s, ours, got, want)
		}
	})
}
