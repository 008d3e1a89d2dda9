package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureMatchesTree: ARCHITECTURE.md lists every package of
// digicert/, internal/ and plugin/ and nothing that is gone, and every link
// [`Name`](file) points at a file that declares Name (a function, a type, or
// a method written Recv.Name), so the page cannot silently go stale.
func TestArchitectureMatchesTree(t *testing.T) {
	doc := repoText(t, "ARCHITECTURE.md")
	checkLayout(t, "ARCHITECTURE.md", layoutBlock(t, doc, "## Packages"), "digicert", "internal", "plugin")
	links := regexp.MustCompile("\\[`([A-Za-z_][A-Za-z0-9_.]*)`\\]\\(([^)#]+)\\)").FindAllStringSubmatch(doc, -1)
	if len(links) < 10 {
		t.Fatalf("ARCHITECTURE.md: %d links to code, expected the path of a row and the guarantees to link theirs", len(links))
	}
	for _, m := range links {
		name, file := m[1], m[2]
		src, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Errorf("ARCHITECTURE.md links %s to %s, which does not exist", name, file)
			continue
		}
		if !declares(string(src), name) {
			t.Errorf("ARCHITECTURE.md links %s to %s, which does not declare it", name, file)
		}
	}
}

// TestREADMELayoutMatchesTree: the layout in README's Development section
// names only paths that exist and covers every Go package.
func TestREADMELayoutMatchesTree(t *testing.T) {
	checkLayout(t, "README.md", layoutBlock(t, repoText(t, "README.md"), "## Development"), "cmd", "digicert", "internal", "plugin", "test")
}

// repoText returns the content of a file of the repository.
func repoText(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// layoutBlock returns the first path of each line of the first code block
// after heading.
func layoutBlock(t *testing.T, doc, heading string) []string {
	t.Helper()
	_, after, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("no %q section", heading)
	}
	_, after, ok = strings.Cut(after, "```\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatalf("%q: no code block", heading)
	}
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			paths = append(paths, strings.TrimSuffix(f[0], "/"))
		}
	}
	return paths
}

// checkLayout: every listed path exists, and every directory with Go files
// under tops is listed or lies under a listed directory.
func checkLayout(t *testing.T, doc string, listed []string, tops ...string) {
	t.Helper()
	for _, p := range listed {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s lists %s, which does not exist", doc, p)
		}
	}
	covered := func(dir string) bool {
		for _, p := range listed {
			if dir == p || strings.HasPrefix(dir, p+"/") {
				return true
			}
		}
		return false
	}
	for _, top := range tops {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") {
				return nil
			}
			dir, _ := filepath.Rel(root, filepath.Dir(p))
			if dir = filepath.ToSlash(dir); !covered(dir) {
				t.Errorf("%s does not list %s/", doc, dir)
				listed = append(listed, dir) // once per directory
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// declares reports whether Go source src declares name: a function or type
// Name, or a method Recv.Name.
func declares(src, name string) bool {
	var rx string
	if recv, meth, ok := strings.Cut(name, "."); ok {
		rx = `(?m)^func \(\w+ \*?` + regexp.QuoteMeta(recv) + `(\[[^\]]*\])?\) ` + regexp.QuoteMeta(meth) + `\(`
	} else {
		q := regexp.QuoteMeta(name)
		rx = `(?m)^(func ` + q + `[\[(]|type ` + q + `\b)`
	}
	return regexp.MustCompile(rx).MatchString(src)
}
