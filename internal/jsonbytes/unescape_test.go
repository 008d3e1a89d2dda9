package jsonbytes

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestUnescape(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      int
	}{
		{``, ``, -1},
		{`plain`, `plain`, -1},
		{`a\"b\\c\/d\be\ff\ng\rh\ti`, "a\"b\\c/d\be\ff\ng\rh\ti", -1},
		{`\u00e9t\u00C9`, "étÉ", -1},
		{`\ud83d\ude00!`, "😀!", -1},
		{`x\ud800y`, "x\uFFFDy", -1},          // lone high surrogate
		{`\ude00`, "\uFFFD", -1},              // lone low surrogate
		{`\ud83d\u0041`, "\uFFFDA", -1},       // high surrogate then a non-surrogate
		{`ab\x`, "ab\uFFFD", 2},               // invalid escape
		{`a\u12`, "a\uFFFD12", 1},             // cut \u escape
		{`a\uzzzz\q`, "a\uFFFDzzzz\uFFFD", 1}, // first invalid escape is reported
		{`a\`, "a\uFFFD", 1},                  // lone backslash at the end
		{`Zoë 日本`, "Zoë 日本", -1},
	} {
		got, bad := Unescape([]byte("prefix:"), []byte(tc.in))
		if string(got) != "prefix:"+tc.want || bad != tc.bad {
			t.Errorf("Unescape(%q) = %q, bad %d; want %q, bad %d", tc.in, got, bad, "prefix:"+tc.want, tc.bad)
		}
	}
}

// FuzzUnescape: on every string body encoding/json accepts, Unescape agrees
// with it and reports no invalid escape.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\nb`, `\ud83d\ude00`, `\ud800`, `\u0041\u00e9`, `\\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		var want string
		if json.Unmarshal(append(append([]byte{'"'}, s...), '"'), &want) != nil {
			got, _ := Unescape(nil, s) // must not panic
			_ = got
			return
		}
		got, bad := Unescape(nil, s)
		if bad >= 0 {
			t.Fatalf("valid string %q: invalid escape reported at %d", s, bad)
		}
		// encoding/json replaces invalid UTF-8 with U+FFFD; Unescape
		// keeps bytes as they are (the decoder validates UTF-8 itself).
		if utf8.Valid(s) && string(got) != want {
			t.Fatalf("Unescape(%q) = %q, encoding/json %q", s, got, want)
		}
	})
}
