package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// The config maps Fluent Bit validates keys against (KeyDocs) list the
// accepted keys in order and keep each key's default as README documents
// it: a plain default in README is the map's default, and a key README
// describes without a plain value ("— (required)", "environment") has none.
func TestConfigMapsMatchKeysAndREADMEDefaults(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\| ([^|]*) \\|")
	for name, c := range map[string]struct {
		keys []string
		docs []flb.KeyDoc
	}{
		"in_digicert": {digicertin.Keys(), digicertin.KeyDocs()},
		"secops_s3":   {secopsout.Keys(), secopsout.KeyDocs()},
	} {
		start := strings.Index(readme, "<!-- keys:"+name+" -->")
		end := strings.Index(readme[start:], "<!-- /keys -->")
		defaults := map[string]string{}
		for _, m := range row.FindAllStringSubmatch(readme[start:start+end], -1) {
			defaults[m[1]] = strings.TrimSpace(m[2])
		}
		if len(c.docs) != len(c.keys) {
			t.Fatalf("%s: %d config map entries for %d keys", name, len(c.docs), len(c.keys))
		}
		for i, d := range c.docs {
			if d.Name != c.keys[i] {
				t.Errorf("%s: config map entry %d is %q, key %q", name, i, d.Name, c.keys[i])
			}
			doc := defaults[d.Name]
			plain := strings.Trim(doc, "`")
			isPlain := doc == "off" || doc == "on" || (strings.Count(doc, "`") == 2 && strings.HasPrefix(doc, "`") && strings.HasSuffix(doc, "`"))
			switch {
			case d.Default != "" && plain != d.Default:
				t.Errorf("%s: %s: config map default %q, README %q", name, d.Name, d.Default, doc)
			case d.Default == "" && isPlain:
				t.Errorf("%s: %s: README gives the default %s; the config map has none", name, d.Name, doc)
			case d.Desc == "":
				t.Errorf("%s: %s: no description", name, d.Name)
			}
		}
	}
}
