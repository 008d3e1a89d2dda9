package integration

import (
	"os/exec"
	"path/filepath"
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
	plugin := []string{"-DPROBE_PLUGIN", "-I" + filepath.Join(root, "plugin", "in_digicert"), "-I" + filepath.Join(root, "plugin", "flbabi")}
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
