package stack

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// documentedKeys returns the first-column keys of the README table between
// <!-- keys:NAME --> and <!-- /keys -->.
func documentedKeys(t *testing.T, readme, name string) []string {
	t.Helper()
	start := strings.Index(readme, "<!-- keys:"+name+" -->")
	if start < 0 {
		t.Fatalf("README.md has no <!-- keys:%s --> table", name)
	}
	end := strings.Index(readme[start:], "<!-- /keys -->")
	if end < 0 {
		t.Fatalf("README.md: the keys:%s table is not closed", name)
	}
	var keys []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\|").FindAllStringSubmatch(readme[start:start+end], -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// TestREADMEDocumentsEveryKey compares the configuration tables of the README
// with the keys the plugins accept, in both directions and in order.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, accepted := range map[string][]string{
		"in_digicert": digicertin.Keys(),
		"secops_s3":   secopsout.Keys(),
	} {
		doc := documentedKeys(t, string(b), name)
		if !slices.Equal(doc, accepted) {
			t.Errorf("README table %s lists %v\nbut the plugin accepts %v", name, doc, accepted)
		}
	}
}

// TestREADMEStartsWithTheTwoCommands keeps the promise of the first lines:
// the local stack and the tests.
func TestREADMEStartsWithTheTwoCommands(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	head := string(b)
	if i := strings.Index(head, "\n## "); i > 0 {
		head = head[:i]
	}
	for _, cmd := range []string{"docker compose up --build", "make test"} {
		if !strings.Contains(head, cmd) {
			t.Errorf("the README's opening does not give %q", cmd)
		}
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "make test") {
		t.Error(".ci/run does not run the README's test command, make test")
	}
}

// TestTroubleshootingQuotesRealMessages keeps the README's troubleshooting
// table honest: every message it quotes must be what a format string of the
// plugins prints. A quote may elide text with "…" and stand "X" for a quoted
// value; everything else must match one string literal of the plugins' code,
// in order, where a verb (%s, %q, %v, …) of the literal may stand for a word
// of the quote (a key name, a number). The plugin name in front ("in_digicert:
// ") is added by error wrapping. Lines Fluent Bit itself prints are marked
// "(Fluent Bit)" in the table.
func TestTroubleshootingQuotesRealMessages(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Troubleshooting")
	end := strings.Index(readme[start:], "\n## ")
	section := readme[start : start+end]
	lits := codeLiterals(t, "digicert", "internal", "plugin")

	quotes := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell, _, _ := strings.Cut(line[1:], " | ")
		if strings.Contains(cell, "(Fluent Bit)") {
			continue
		}
		for _, q := range quotedMessages(cell) {
			quotes++
			// A leading "key: " may be added by wrapping, as the plugin name is.
			rest := q
			for _, p := range []string{"in_digicert: ", "secops_s3: "} {
				rest = strings.TrimPrefix(rest, p)
			}
			if k, r, ok := strings.Cut(rest, ": "); ok && len(r) >= 12 && (slices.Contains(digicertin.Keys(), k) || slices.Contains(secopsout.Keys(), k)) {
				rest = r
			} else {
				rest = q
			}
			if !slices.ContainsFunc(lits, func(l string) bool { return quoteMatches(q, l) || quoteMatches(rest, l) }) {
				t.Errorf("README troubleshooting quotes %q, but no format string of the plugins prints that", q)
			}
		}
	}
	if quotes < 25 {
		t.Fatalf("only %d quoted messages in the troubleshooting table", quotes)
	}
}

// quotedMessages returns the `…` spans of a table cell that are not inside a
// parenthesised remark such as (start) or (`mode follow`).
func quotedMessages(cell string) []string {
	var out []string
	depth := 0
	for i := 0; i < len(cell); i++ {
		switch cell[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '`':
			j := strings.IndexByte(cell[i+1:], '`')
			if j < 0 {
				return out
			}
			if depth == 0 {
				out = append(out, cell[i+1:i+1+j])
			}
			i += j + 1
		}
	}
	return out
}

// codeLiterals returns every string literal of the non-test Go files under dirs.
func codeLiterals(t *testing.T, dirs ...string) []string {
	t.Helper()
	var lits []string
	fset := token.NewFileSet()
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					if s, err := strconv.Unquote(bl.Value); err == nil {
						lits = append(lits, s)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return lits
}

var (
	verbRx  = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)
	wordRx  = regexp.MustCompile(`^[A-Za-z0-9_.]$`)
	quoteRx = regexp.MustCompile(`"[^"]*"`)
	// An elision takes the spaces around it with it.
	ellipsisRx = regexp.MustCompile(`\s*…\s*`)
)

// quoteMatches reports whether some message printed with format string lit
// contains quote q, read as described at TestTroubleshootingQuotesRealMessages.
func quoteMatches(q, lit string) bool {
	for _, p := range []string{"in_digicert: ", "secops_s3: "} {
		q = strings.TrimPrefix(q, p)
	}
	// q as runes with wildcards (-1) for "…" and "X"; unanchored at both ends.
	q = quoteRx.ReplaceAllString(q, "…")
	q = ellipsisRx.ReplaceAllString(q, "…") // "required …" also stands for "required: …"
	pat := []rune{-1}
	for _, r := range q {
		if r == '…' {
			r = -1
		}
		pat = append(pat, r)
	}
	pat = append(pat, -1)
	// lit as runes with verbs as -2.
	var txt []rune
	for i := 0; i < len(lit); {
		if loc := verbRx.FindStringIndex(lit[i:]); loc != nil && loc[0] == 0 && !strings.HasPrefix(lit[i:], "%%") {
			txt = append(txt, -2)
			i += loc[1]
			continue
		}
		r, size := utf8.DecodeRuneInString(lit[i:])
		txt = append(txt, r)
		i += size
	}
	// memo[i][j]: pat[i:] can match txt[j:] (0 unknown, 1 yes, 2 no).
	memo := make([][]byte, len(pat)+1)
	for i := range memo {
		memo[i] = make([]byte, len(txt)+1)
	}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(pat) {
			return j == len(txt)
		}
		if memo[i][j] != 0 {
			return memo[i][j] == 1
		}
		ok := false
		switch {
		case pat[i] == -1: // elided text: any run of the literal, verbs included
			ok = match(i+1, j) || (j < len(txt) && match(i, j+1))
		case j < len(txt) && txt[j] == -2: // a verb stands for a word of the quote
			ok = match(i, j+1) || (wordRx.MatchString(string(pat[i])) && match(i+1, j))
		case j < len(txt):
			ok = pat[i] == txt[j] && match(i+1, j+1)
		}
		memo[i][j] = 2
		if ok {
			memo[i][j] = 1
		}
		return ok
	}
	return match(0, 0)
}

func TestQuoteMatches(t *testing.T) {
	for _, c := range []struct {
		q, lit string
		want   bool
	}{
		{"bucket \"X\" is in region …, not …: set region …", "%s: bucket %q is in region %s, not %s: set region %s", true},
		{"in_digicert: api_key: required …", "%s: required: set it", true},
		{"api_key: required …", "report_format is required.", false},
		{"state file … corrupt …", "state file %s is %w: %s", true},
		{"the run FAILED", "the report run FAILED", false},
		{"retrying at the next poll", "%s", false},
		{"journal … is locked", "journal %s is locked by another process", true},
		{"100% done", "100%% done", false},
	} {
		if got := quoteMatches(c.q, c.lit); got != c.want {
			t.Errorf("quoteMatches(%q, %q) = %v, want %v", c.q, c.lit, got, c.want)
		}
	}
}
