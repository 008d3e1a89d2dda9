package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// danglingRef matches pointers at documents that are not in the repository:
// section signs of outside references ("ref §3", "reference §7",
// "fluent-bit-go-plugins.md §3"), "the team contract", and paths of one
// build machine.
var danglingRef = regexp.MustCompile(`(?i)\bref(erence)? §|\.md §|team contract|/work/`)

// refScope is every part of the repository that holds comments, messages
// or docs.
var refScope = []string{"README.md", "ARCHITECTURE.md", "CHANGELOG.md", "docs", "test", "cmd", "examples", "deploy", "Dockerfile", "docker-compose.yml", "Makefile", ".ci", "scripts", "digicert", "plugin", "internal"}

// TestNoDanglingReferences: comments, messages and docs state facts or link
// to files of the repository, never to documents a reader cannot open.
func TestNoDanglingReferences(t *testing.T) {
	self, _ := filepath.Abs("refs_test.go")
	for _, top := range refScope {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if abs, _ := filepath.Abs(p); abs == self {
				return nil
			}
			switch filepath.Ext(p) {
			case ".go", ".md", ".yaml", ".yml", ".conf", ".c", ".h", "":
			default:
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for n, line := range strings.Split(string(b), "\n") {
				if m := danglingRef.FindString(line); m != "" {
					rel, _ := filepath.Rel(root, p)
					t.Errorf("%s:%d points at something outside the repository (%q): state the fact instead\n\t%s", rel, n+1, m, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil { // a missing entry too: the scope must not shrink by a rename
			t.Fatal(err)
		}
	}
}
