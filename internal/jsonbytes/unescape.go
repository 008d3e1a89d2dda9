package jsonbytes

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// Unescape appends the value of the JSON string body s (the text between
// the quotes) to dst. An invalid escape, and a lone UTF-16 surrogate, become
// U+FFFD as in encoding/json; bad is the index in s of the first invalid
// escape (a lone surrogate is not one: JSON allows it), or -1. A lenient
// reader ignores bad; a strict one reports it.
func Unescape(dst, s []byte) (out []byte, bad int) {
	bad = -1
	for i := 0; i < len(s); {
		j := bytes.IndexByte(s[i:], '\\')
		if j < 0 {
			return append(dst, s[i:]...), bad
		}
		dst = append(dst, s[i:i+j]...)
		i += j
		n, r := unescapeOne(s[i:])
		if r < 0 {
			if bad < 0 {
				bad = i
			}
			r = utf8.RuneError
		}
		dst = utf8.AppendRune(dst, r)
		i += n
	}
	return dst, bad
}

// unescapeOne decodes the escape at the start of s (s[0] is '\\'): the bytes
// it takes and its rune, or -1 for an invalid escape (then 2 bytes, or 1 at
// the end of s). A surrogate pair written as two \u escapes is one rune.
func unescapeOne(s []byte) (int, rune) {
	if len(s) < 2 {
		return 1, -1
	}
	switch s[1] {
	case '"', '\\', '/':
		return 2, rune(s[1])
	case 'b':
		return 2, '\b'
	case 'f':
		return 2, '\f'
	case 'n':
		return 2, '\n'
	case 'r':
		return 2, '\r'
	case 't':
		return 2, '\t'
	case 'u':
		r := hex4(s[2:])
		if r < 0 {
			return 2, -1
		}
		if !utf16.IsSurrogate(r) {
			return 6, r
		}
		if len(s) >= 8 && s[6] == '\\' && s[7] == 'u' {
			if r2 := hex4(s[8:]); r2 >= 0 {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					return 12, d
				}
			}
		}
		return 6, utf8.RuneError // lone surrogate: allowed, replaced
	}
	return 2, -1
}

// hex4 decodes four hex digits at the start of s, or returns -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		h := Unhex(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | rune(h)
	}
	return r
}

// Unhex is the value of hex digit c, or -1.
func Unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
