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
