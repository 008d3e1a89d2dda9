package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRunShippedConfigs asks a real Fluent Bit to validate every shipped
// config (classic and YAML) with our plugins loaded. It needs FLUENT_BIT_BIN
// and the built plugins in PLUGIN_DIR (`make test` sets it).
func TestDryRunShippedConfigs(t *testing.T) {
	fb := os.Getenv("FLUENT_BIT_BIN")
	if fb == "" {
		t.Skip("FLUENT_BIT_BIN is not set: skipping --dry-run of the shipped configs with a real Fluent Bit (README, Development, \"Real Fluent Bit for tests\", says how to build one)")
	}
	plugins := os.Getenv("PLUGIN_DIR")
	for _, so := range []string{"in_digicert.so", "out_secops_s3.so"} {
		if _, err := os.Stat(filepath.Join(plugins, so)); err != nil {
			t.Skipf("PLUGIN_DIR=%q has no %s (run `make build`, or `make test`)", plugins, so)
		}
	}
	tmp := t.TempDir()
	etc := filepath.Join(tmp, "etc")
	rewrite := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer(
			"/fluent-bit/plugins/", plugins+"/",
			"/fluent-bit/etc/", etc+"/",
			"/var/lib/fluent-bit/", tmp+"/var/",
		).Replace(string(b))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"plugins.conf", "plugins-input.conf", "plugins.yaml"} {
		rewrite(filepath.Join(root, f), filepath.Join(etc, f))
	}
	configs := []string{"fluent-bit.yaml", "fluent-bit.conf"}
	ex, _ := filepath.Glob(filepath.Join(root, "examples", "*", "fluent-bit.*"))
	for _, e := range ex {
		rel, _ := filepath.Rel(root, e)
		configs = append(configs, rel)
	}
	for _, c := range configs {
		t.Run(c, func(t *testing.T) {
			dst := filepath.Join(tmp, "cfg", c)
			rewrite(filepath.Join(root, c), dst)
			if filepath.Base(c) == "fluent-bit.conf" && filepath.Dir(c) == "." {
				// plugins_file is relative to the config's own directory.
				rewrite(filepath.Join(root, "plugins.conf"), filepath.Join(filepath.Dir(dst), "plugins.conf"))
			}
			cmd := exec.Command(fb, "--dry-run", "-c", dst)
			cmd.Env = append(os.Environ(),
				"DIGICERT_API_KEY=dry-run-key", "DIGICERT_REPORT_ID=5c0e62b0-3b6f-4e0a-9d7e-2a5f3c1d9e01",
				"S3_BUCKET=digicert-logs", "GCS_BUCKET=digicert-logs",
				"SECOPS_CUSTOMER_ID=00000000-0000-0000-0000-000000000000", "SECOPS_PROJECT_ID=example",
				"GOOGLE_APPLICATION_CREDENTIALS="+filepath.Join(tmp, "sa.json"))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "configuration test is successful") {
				t.Fatalf("fluent-bit --dry-run -c %s: %v\n%s", c, err, out)
			}
		})
	}
}
