package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	yamlSectionRx  = regexp.MustCompile(`^\s*(#\s*)?(service|plugins|pipeline|inputs|filters|outputs|parsers):\s*$`)
	yamlItemRx     = regexp.MustCompile(`^\s*(#\s*)?- name:\s*(\S+)`)
	classicHeadRx  = regexp.MustCompile(`^\s*(#\s*)?\[(\w+)\]\s*$`)
	workersKeyRx   = regexp.MustCompile(`^\s*(#\s*)?workers(:|\s)\s*\d+`)
	cliOutputRx    = regexp.MustCompile(`(?:^|\s)-o\s+(\S+)((?:\s+(?:-p\s+\S+|-m\s+\S+|\\))*)`)
	readmeBlockRx  = regexp.MustCompile("(?s)```(yaml|ini|sh)\n(.*?)```")
	cliWorkersRx   = regexp.MustCompile(`-p\s+workers=\d+`)
	envDefaultUse  = regexp.MustCompile(`\$\{[A-Za-z0-9_]+:-`)
	versionsStart  = "<!-- versions -->"
	versionsFinish = "<!-- /versions -->"
)

// outputsWithoutWorkers returns the outputs (commented-out ones included:
// they are snippets a reader copies) of a config text that set no workers.
func outputsWithoutWorkers(text string, yaml bool) []string {
	missing, _ := outputScan(text, yaml)
	return missing
}

// outputScan returns the outputs of a config text without workers, and how
// many outputs it has.
func outputScan(text string, yaml bool) (missing []string, outputs int) {
	inOutputs, name, has := false, "", false
	flush := func() {
		if name != "" {
			outputs++
			if !has {
				missing = append(missing, name)
			}
		}
		name, has = "", false
	}
	for _, line := range strings.Split(text, "\n") {
		if yaml {
			if m := yamlSectionRx.FindStringSubmatch(line); m != nil {
				flush()
				inOutputs = m[2] == "outputs"
				continue
			}
			if m := yamlItemRx.FindStringSubmatch(line); m != nil {
				flush()
				if inOutputs {
					name = m[2]
				}
				continue
			}
		} else if m := classicHeadRx.FindStringSubmatch(line); m != nil {
			flush()
			if strings.EqualFold(m[2], "OUTPUT") {
				name = "[OUTPUT]"
			}
			continue
		}
		if workersKeyRx.MatchString(line) {
			has = true
		}
	}
	flush()
	return missing, outputs
}

// TestEveryOutputSetsWorkers: a Go output without workers runs its flushes on
// Fluent Bit's engine thread, so every output snippet the project ships or
// documents sets workers.
func TestEveryOutputSetsWorkers(t *testing.T) {
	yamls, classics := shippedConfigs(t)
	for _, f := range append(yamls, classics...) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outputsWithoutWorkers(string(b), strings.HasSuffix(f, ".yaml")) {
			t.Errorf("%s: output %s sets no workers", f, o)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	outputs := 0
	for _, m := range readmeBlockRx.FindAllStringSubmatch(string(b), -1) {
		switch m[1] {
		case "yaml", "ini":
			missing, n := outputScan(m[2], m[1] == "yaml")
			for _, o := range missing {
				t.Errorf("README %s snippet: output %s sets no workers:\n%s", m[1], o, m[2])
			}
			outputs += n
		case "sh":
			for _, o := range cliOutputRx.FindAllStringSubmatch(m[2], -1) {
				outputs++
				if !cliWorkersRx.MatchString(o[2]) {
					t.Errorf("README command line: -o %s sets no workers (-p workers=1):\n%s", o[1], m[2])
				}
			}
		}
	}
	if outputs < 3 {
		t.Errorf("found only %d outputs in the README's snippets: is the parsing still right?", outputs)
	}
}

func TestOutputsWithoutWorkers(t *testing.T) {
	yaml := "pipeline:\n  filters:\n    - name: modify\n      match: x\n  outputs:\n    - name: s3\n      match: x\n    # - name: gcs\n    #   workers: 1\n    - name: file\n      workers: 2\n"
	if got := outputsWithoutWorkers(yaml, true); strings.Join(got, ",") != "s3" {
		t.Errorf("yaml: %v, want [s3]", got)
	}
	classic := "[INPUT]\n    name x\n[OUTPUT]\n    name s3\n# [OUTPUT]\n#     name gcs\n#     workers 1\n[OUTPUT]\n    name file\n"
	if got := outputsWithoutWorkers(classic, false); len(got) != 2 {
		t.Errorf("classic: %v, want two outputs without workers", got)
	}
}

// TestVersionsTableCoversEnvDefaults: a shipped config that uses
// ${VAR:-default} needs Fluent Bit 5.0.6 or 4.2.5 at least, and the README's
// versions table must say so for it.
func TestVersionsTableCoversEnvDefaults(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, versionsStart), strings.Index(readme, versionsFinish)
	if i < 0 || j < i {
		t.Fatalf("README has no %s … %s table", versionsStart, versionsFinish)
	}
	rows := strings.Split(readme[i:j], "\n")
	yamls, classics := shippedConfigs(t)
	deployed := []string{"deploy/helm/values.yaml", "deploy/kubernetes/configmap.yaml"}
	for _, f := range append(append(yamls, classics...), deployed...) {
		body, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !envDefaultUse.Match(body) {
			continue
		}
		// The row naming the file, or its directory for examples/ and deploy/.
		var row string
		for _, r := range rows {
			if strings.Contains(r, "`"+f+"`") || strings.Contains(r, "`"+filepath.Dir(f)+"/`") || strings.Contains(r, "`"+strings.SplitN(f, "/", 2)[0]+"/`") {
				row = r
			}
		}
		if row == "" {
			t.Errorf("%s uses ${VAR:-default}, but the README versions table has no row for it", f)
			continue
		}
		if !strings.Contains(row, "5.0.6") || !strings.Contains(row, "4.2.5") {
			t.Errorf("%s uses ${VAR:-default} (Fluent Bit ≥ 5.0.6, or ≥ 4.2.5 on 4.2), but its README row says: %s", f, row)
		}
	}
}
