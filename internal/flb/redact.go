package flb

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Redacted replaces a secret in a log line.
const Redacted = "[REDACTED]"

// Redactor removes registered secrets (API keys, proxy passwords, AWS secret
// keys) from text, in the forms a message may carry them: as they are, URL-
// or form-encoded (either hex case), Go-quoted and JSON-escaped. The
// plugins register every secret at config load and pass every line through
// one Redactor on its way to Fluent Bit, so a secret that slips into an
// error (a key pasted as a file path, a server echoing it in a body) still
// never reaches the log. Safe for concurrent use.
type Redactor struct {
	mu    sync.RWMutex
	forms []string // longest first, so a form containing another is replaced whole
	r     *strings.Replacer
}

// Add registers a secret. Surrounding white space is ignored (config values
// are trimmed before use); an empty secret is ignored.
func (r *Redactor) Add(secret string) {
	for _, s := range []string{secret, strings.TrimSpace(secret)} {
		if s == "" {
			continue
		}
		r.addForms(forms(s))
	}
}

func forms(s string) []string {
	q := url.QueryEscape(s)
	p := url.PathEscape(s)
	quoted := strconv.Quote(s)
	js, _ := json.Marshal(s)
	out := []string{s, q, p, quoted[1 : len(quoted)-1], string(js[1 : len(js)-1])}
	for _, e := range []string{q, p} {
		out = append(out, lowerHex(e))
	}
	return out
}

// lowerHex turns %2F into %2f: decoders accept both.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

func (r *Redactor) addForms(fs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, f := range r.forms {
		seen[f] = true
	}
	for _, f := range fs {
		if f != "" && !seen[f] {
			seen[f] = true
			r.forms = append(r.forms, f)
		}
	}
	sort.SliceStable(r.forms, func(i, j int) bool { return len(r.forms[i]) > len(r.forms[j]) })
	pairs := make([]string, 0, 2*len(r.forms))
	for _, f := range r.forms {
		pairs = append(pairs, f, Redacted)
	}
	r.r = strings.NewReplacer(pairs...)
}

// Redact returns s with every registered secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.r
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}
