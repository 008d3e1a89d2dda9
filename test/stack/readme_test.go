package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/input"
	"github.com/digicert-secops/fluent-bit-digicert/plugin/s3out"
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
		"in_digicert": input.Keys(),
		"secops_s3":   s3out.Keys(),
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
// table honest: every message it quotes (split at "…") must appear in the
// plugins' source, except the lines Fluent Bit itself prints.
func TestTroubleshootingQuotesRealMessages(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Troubleshooting")
	end := strings.Index(readme[start:], "\n## ")
	section := readme[start : start+end]

	var src strings.Builder
	for _, dir := range []string{"digicert", "plugin"} {
		filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				b, _ := os.ReadFile(p)
				src.Write(b)
			}
			return nil
		})
	}
	code := src.String()
	fluentBitOwn := []string{"could not enqueue records", "[PLUGINS]", "libc.musl"}
	rows := regexp.MustCompile("(?m)^\\| `([^`]+)`").FindAllStringSubmatch(section, -1)
	if len(rows) < 20 {
		t.Fatalf("only %d quoted messages in the troubleshooting table", len(rows))
	}
	for _, m := range rows {
		msg := m[1]
		own := true
		for _, f := range fluentBitOwn {
			if strings.Contains(msg, f) {
				own = false
			}
		}
		if !own {
			continue
		}
		// The plugin name is put in front by error wrapping, not in the text.
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "in_digicert: "), "secops_s3: ")
		for _, piece := range strings.Split(msg, "…") {
			piece = strings.TrimSpace(piece)
			if len(piece) < 4 {
				continue
			}
			// Quoted names stand for %q verbs in the source, and a leading
			// key name may be a constant: check the words after it.
			piece = regexp.MustCompile(`"[^"]*"`).ReplaceAllString(piece, "%q")
			piece = regexp.MustCompile(`^[a-z_]+:( |$)`).ReplaceAllString(piece, "")
			for _, part := range strings.Split(piece, "%q") {
				if part = strings.TrimSpace(part); len(part) >= 4 && !strings.Contains(code, part) {
					t.Errorf("README troubleshooting quotes %q, but no plugin source contains %q", msg, part)
				}
			}
		}
	}
}
