package integration

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// abiProbe compiles test/host/testdata/abi_probe.c (args end with it) with cc
// into out, runs it (under wrap, if any) and returns "struct.field" → offset
// or size.
func abiProbe(t *testing.T, cc string, wrap []string, out string, args ...string) map[string]string {
	t.Helper()
	if b, err := exec.Command(cc, append([]string{"-o", out}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, filepath.Base(out), err, b)
	}
	cmd := append(append([]string{}, wrap...), out)
	b, err := exec.Command(cmd[0], cmd[1:]...).Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd, " "), err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("%s: bad probe line %q", filepath.Base(out), line)
		}
		m[line[:i]] = line[i+1:]
	}
	return m
}

// On another architecture (make test-arm64), the struct mirrors the host and
// the plugins use must lay out exactly as on the native one, where they are
// checked against Fluent Bit's own headers (TestFluentBitABIMatchesMirrors,
// which also runs cross when a Fluent Bit build tree is at hand).
func TestABIMirrorsSameOnHostArch(t *testing.T) {
	if !hostCross() {
		t.Skip("native run: the host architecture is the build architecture (make test-arm64 runs this for arm64)")
	}
	cc, err := hostCCOrSkip("test/host/testdata/abi_probe.c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no native C compiler (cc) to compare with")
	}
	_, root := dcToolDir(t)
	probe := filepath.Join(root, "test", "host", "testdata", "abi_probe.c")
	plugin := []string{"-DPROBE_PLUGIN", "-I" + filepath.Join(root, "plugin", "flbabi")}
	for name, flags := range map[string][]string{"test/host/flb_abi.h": nil, "plugin/flbabi/flb_go_proxy.h": plugin} {
		dir := t.TempDir()
		args := append(append([]string{}, flags...), probe)
		native := abiProbe(t, "cc", nil, filepath.Join(dir, "native"), args...)
		cross := abiProbe(t, cc, hostWrapper(), filepath.Join(dir, "cross"), args...)
		if len(native) < 10 || len(cross) != len(native) {
			t.Fatalf("%s: %d native and %d %s entries", name, len(native), len(cross), cc)
		}
		for k, v := range native {
			if cross[k] != v {
				t.Errorf("%s: %s is %s with %s, %s natively", name, k, cross[k], cc, v)
			}
		}
		t.Logf("%s: %d offsets and sizes, the same with %s as natively", name, len(native), cc)
	}
}

// make test-arm64 selects the host tests by name (ARM64_TESTS in the
// Makefile; the real-Fluent-Bit tests must not run there). Every test that
// starts the host, directly or through a helper, must match, or its checks
// would silently not run on arm64.
func TestArm64RunCoversEveryHostTest(t *testing.T) {
	_, root := dcToolDir(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ARM64_TESTS\s*:?=\s*(\S+)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no ARM64_TESTS in the Makefile")
	}
	sel := regexp.MustCompile(string(m[1]))
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("this package's files: %v %v", files, err)
	}
	fset := token.NewFileSet()
	// calls[f] are the functions f calls by name.
	calls := map[string]map[string]bool{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || fn.Recv != nil {
				continue
			}
			c := map[string]bool{}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if id, ok := call.Fun.(*ast.Ident); ok {
						c[id.Name] = true
					}
				}
				return true
			})
			calls[fn.Name.Name] = c
		}
	}
	// starts[f]: f starts the host, directly or through helpers.
	starts := map[string]bool{"dcStartHost": true}
	for changed := true; changed; {
		changed = false
		for f, c := range calls {
			for g := range c {
				if starts[g] && !starts[f] {
					starts[f], changed = true, true
				}
			}
		}
	}
	n := 0
	for f := range starts {
		if !strings.HasPrefix(f, "Test") {
			continue
		}
		n++
		if !sel.MatchString(f) {
			t.Errorf("%s starts the host but ARM64_TESTS (%s) does not select it: name it TestHost…, TestDigicertHost… or TestS3OutHost…, or extend ARM64_TESTS", f, sel)
		}
	}
	if n == 0 {
		t.Fatal("found no test that starts the host")
	}
	t.Logf("%d host tests, all selected by ARM64_TESTS", n)
}
