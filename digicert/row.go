package digicert

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// Row is one report row: the raw bytes of its JSON object exactly as in the
// report. A Row from Rows or RowReader is valid until their next Next call;
// copy it to keep it.
type Row []byte

// errNotObject is returned by Fields for bytes that are not a JSON object.
var errNotObject = errors.New("digicert: row is not a well-formed JSON object")

// Fields calls fn for each member of the row in order, with the key
// unescaped and the value as its raw JSON bytes (a string value keeps its
// quotes and escapes). value is valid only during the call. An error from
// fn stops the walk and is returned.
func (r Row) Fields(fn func(key string, value []byte) error) error {
	return r.members(func(rawKey []byte, escaped bool, value []byte) error {
		var key string
		if escaped {
			key = string(unescape(nil, rawKey))
		} else {
			key = internKey(rawKey)
		}
		return fn(key, value)
	})
}

// members walks the object; rawKey is the key between its quotes, still
// escaped when escaped is true. Malformed input gives errNotObject, never a
// panic.
func (r Row) members(fn func(rawKey []byte, escaped bool, value []byte) error) error {
	i := skipWS(r, 0)
	if i >= len(r) || r[i] != '{' {
		return errNotObject
	}
	i = skipWS(r, i+1)
	if i < len(r) && r[i] == '}' {
		return nil
	}
	for {
		if i >= len(r) || r[i] != '"' {
			return errNotObject
		}
		end, escaped := stringEnd(r, i+1)
		if end < 0 {
			return errNotObject
		}
		key := r[i+1 : end]
		i = skipWS(r, end+1)
		if i >= len(r) || r[i] != ':' {
			return errNotObject
		}
		i = skipWS(r, i+1)
		vend := valueEnd(r, i)
		if vend < 0 {
			return errNotObject
		}
		if err := fn(key, escaped, r[i:vend]); err != nil {
			return err
		}
		i = skipWS(r, vend)
		if i >= len(r) {
			return errNotObject
		}
		switch r[i] {
		case '}':
			return nil
		case ',':
			i = skipWS(r, i+1)
		default:
			return errNotObject
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// stringEnd returns the index of the closing quote of a string whose body
// starts at i, and whether it contains escapes; -1 if unterminated.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for {
		if i < len(b) {
			i += jsonbytes.IndexQuote(b[i:])
		}
		switch {
		case i >= len(b):
			return -1, escaped
		case b[i] == '"':
			return i, escaped
		}
		escaped = true
		i += 2
	}
}

// valueEnd returns the index just past the value starting at i, or -1.
// The row was validated when decoded, so this only finds boundaries.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i+1)
		if end < 0 {
			return -1
		}
		return end + 1
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _ := stringEnd(b, i+1)
				if end < 0 {
					return -1
				}
				i = end
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\n', '\r', '\t':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	return -1
}

// unescape appends the value of a JSON string body to dst, leniently:
// invalid escapes and lone surrogates become U+FFFD, as in encoding/json.
func unescape(dst, s []byte) []byte {
	out, _ := jsonbytes.Unescape(dst, s)
	return out
}

// Keys repeat on every row, so Fields hands out shared strings instead of
// allocating each key per row. The table is copy-on-write: lookups take no
// lock and do not allocate.
var keyTable struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]string]
}

const (
	maxInternedKeys   = 4096
	maxInternedKeyLen = 128
)

func internKey(b []byte) string {
	if m := keyTable.m.Load(); m != nil {
		if s, ok := (*m)[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	if len(b) > maxInternedKeyLen {
		return s
	}
	keyTable.mu.Lock()
	defer keyTable.mu.Unlock()
	old := keyTable.m.Load()
	if old != nil {
		if t, ok := (*old)[s]; ok {
			return t
		}
		if len(*old) >= maxInternedKeys {
			return s
		}
	}
	m := make(map[string]string, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[s] = s
	keyTable.m.Store(&m)
	return s
}

func lenOf(m *map[string]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// String returns the row as text.
func (r Row) String() string { return string(r) }
