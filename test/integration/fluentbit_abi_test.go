package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The struct mirrors in test/host/flb_abi.h and plugin/flbabi/flb_go_proxy.h
// against Fluent Bit's own headers: the same probe program prints every
// field offset compiled each way. Fluent Bit's include flags come from the
// compile_commands.json of the build that produced $FLUENT_BIT_BIN (or
// $FLUENT_BIT_BUILD_DIR). With HOST_CC/HOST_WRAPPER (make test-arm64) the
// three are compiled for, and run on, that architecture.
func TestFluentBitABIMatchesMirrors(t *testing.T) {
	buildDir := os.Getenv("FLUENT_BIT_BUILD_DIR")
	if buildDir == "" {
		if bin := os.Getenv("FLUENT_BIT_BIN"); bin != "" {
			buildDir = filepath.Dir(filepath.Dir(bin))
		}
	}
	if buildDir == "" {
		t.Skip("set FLUENT_BIT_BIN (from a build tree) or FLUENT_BIT_BUILD_DIR to compare the ABI mirrors with Fluent Bit's headers (README, Development, \"Real Fluent Bit for tests\", says how to build one)")
	}
	raw, err := os.ReadFile(filepath.Join(buildDir, "compile_commands.json"))
	if err != nil {
		t.Skipf("no compile_commands.json in %s (configure Fluent Bit with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON): %v", buildDir, err)
	}
	var entries []struct {
		File, Command string
		Arguments     []string
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, e := range entries {
		if !strings.HasSuffix(e.File, filepath.Join("src", "proxy", "go", "go.c")) {
			continue
		}
		args := e.Arguments
		if len(args) == 0 {
			args = strings.Fields(e.Command)
		}
		for _, a := range args {
			if strings.HasPrefix(a, "-I") || strings.HasPrefix(a, "-D") {
				flags = append(flags, a)
			}
		}
		flags = append(flags, "-I"+filepath.Dir(e.File))
	}
	if flags == nil {
		t.Fatalf("src/proxy/go/go.c is not in %s/compile_commands.json", buildDir)
	}
	_, root := dcToolDir(t)
	probe := filepath.Join(root, "test", "host", "testdata", "abi_probe.c")
	run := func(name string, extra ...string) map[string]string {
		t.Helper()
		out := filepath.Join(t.TempDir(), name)
		args := append(append([]string{"-o", out}, extra...), probe)
		return abiProbe(t, hostCC(), hostWrapper(), out, args...)
	}
	real := run("fluent-bit", append([]string{"-DPROBE_FLUENT_BIT"}, flags...)...)
	for name, got := range map[string]map[string]string{
		"test/host/flb_abi.h":          run("host"),
		"plugin/flbabi/flb_go_proxy.h": run("plugin", "-DPROBE_PLUGIN", "-I"+filepath.Join(root, "plugin", "flbabi")),
	} {
		bad := 0
		for k, v := range got {
			if real[k] != v {
				bad++
				t.Errorf("%s: %s is %s, Fluent Bit has %s", name, k, v, real[k])
			}
		}
		if bad == 0 {
			t.Logf("%s: all %d offsets and sizes match Fluent Bit's headers", name, len(got))
		}
	}
}
