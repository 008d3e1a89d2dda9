package secopsout

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// KeyTemplate is a parsed key_format. Syntax:
//
//	${prefix}  the prefix option (no leading or trailing slash)
//	${tag}     the chunk's Fluent Bit tag
//	${hash}    16 hex digits of SHA-256 over the tag and the chunk bytes (required)
//	%Y %m %d   year, month, day of the chunk's first record, UTC
//	%H %M %S   hour, minute, second of that record, UTC
//	%j         day of the year (001-366)
//	%%         a literal percent sign
//
// Everything else is literal. Leading slashes of the result are dropped.
// ${hash} is required: it makes a retried chunk target the same key (so the
// create-only write turns a retry into a no-op) while different chunks of the
// same second never collide.
type KeyTemplate struct {
	src   string
	parts []keyPart
}

type keyPart struct {
	lit  string // literal text, when verb is 0
	verb byte   // strftime verb ('Y', 'm', ...) or one of the field markers below
}

// Field markers for ${...} placeholders (not strftime letters).
const (
	fieldPrefix byte = 1 + iota
	fieldTag
	fieldHash
)

// KeyVars are the values a key is rendered from.
type KeyVars struct {
	Prefix string
	Tag    string
	Hash   string
	Time   time.Time // converted to UTC
}

// ParseKeyTemplate parses and validates a key_format.
func ParseKeyTemplate(s string) (*KeyTemplate, error) {
	t := &KeyTemplate{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, keyPart{lit: lit.String()})
			lit.Reset()
		}
	}
	hasHash := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("%q ends with a lone %%", s)
			}
			i++
			switch v := s[i]; v {
			case '%':
				lit.WriteByte('%')
			case 'Y', 'm', 'd', 'H', 'M', 'S', 'j':
				flush()
				t.parts = append(t.parts, keyPart{verb: v})
			default:
				return nil, fmt.Errorf("%q: %%%c is not supported (use %%Y %%m %%d %%H %%M %%S %%j or %%%%)", s, v)
			}
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: unclosed ${", s)
			}
			name := s[i+2 : i+end]
			var f byte
			switch name {
			case "prefix":
				f = fieldPrefix
			case "tag":
				f = fieldTag
			case "hash":
				f, hasHash = fieldHash, true
			default:
				return nil, fmt.Errorf("%q: unknown placeholder ${%s} (use ${prefix}, ${tag}, ${hash})", s, name)
			}
			flush()
			t.parts = append(t.parts, keyPart{verb: f})
			i += end
		default:
			lit.WriteByte(s[i])
		}
	}
	flush()
	if !hasHash {
		return nil, fmt.Errorf("%q must contain ${hash}: without it two chunks could get the same key and the second would be dropped as already stored", s)
	}
	return t, nil
}

// String returns the template as written.
func (t *KeyTemplate) String() string { return t.src }

// Render builds the object key for v.
func (t *KeyTemplate) Render(v KeyVars) string {
	tm := v.Time.UTC()
	b := make([]byte, 0, 96)
	for _, p := range t.parts {
		switch p.verb {
		case 0:
			b = append(b, p.lit...)
		case fieldPrefix:
			b = append(b, v.Prefix...)
		case fieldTag:
			b = append(b, v.Tag...)
		case fieldHash:
			b = append(b, v.Hash...)
		case 'Y':
			b = appendPadded(b, tm.Year(), 4)
		case 'm':
			b = appendPadded(b, int(tm.Month()), 2)
		case 'd':
			b = appendPadded(b, tm.Day(), 2)
		case 'H':
			b = appendPadded(b, tm.Hour(), 2)
		case 'M':
			b = appendPadded(b, tm.Minute(), 2)
		case 'S':
			b = appendPadded(b, tm.Second(), 2)
		case 'j':
			b = appendPadded(b, tm.YearDay(), 3)
		}
	}
	return strings.TrimLeft(string(b), "/")
}

func appendPadded(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
