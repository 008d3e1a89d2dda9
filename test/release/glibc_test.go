package release

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shipped are the binaries of a release archive, as make builds them.
var shipped = []string{"in_digicert.so", "out_secops_s3.so", "digicert-sim"}

// elfMachine is the ELF machine of each GOARCH we ship.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// The binaries make built (PLUGIN_DIR: build/ for make test,
// build/linux-arm64 for make test-arm64) load with the oldest glibc we
// support, and are for PLUGIN_GOARCH when it is set.
func TestGlibcOfBuiltBinaries(t *testing.T) {
	dir := os.Getenv("PLUGIN_DIR")
	if dir == "" {
		t.Skip("PLUGIN_DIR not set: run through make test, make test-arm64 or make test-dist, which build the binaries")
	}
	for _, name := range shipped {
		path := filepath.Join(dir, name)
		checkBinary(t, path, os.Getenv("PLUGIN_GOARCH"))
	}
}

// checkBinary fails for a binary that needs a glibc newer than MaxGlibc or
// a library outside glibc, or is not for goarch (when not "").
func checkBinary(t *testing.T, path, goarch string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	syms, err := f.ImportedSymbols()
	machine := f.Machine
	f.Close()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if want, ok := elfMachine[goarch]; goarch != "" && (!ok || machine != want) {
		t.Errorf("%s is for %v, want %s", path, machine, goarch)
	}
	problems, err := LinkProblems(path, MaxGlibc)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", filepath.Base(path), p)
	}
	newest := NewestGlibc(syms)
	if newest == "" {
		t.Errorf("%s imports no versioned glibc symbol: not a dynamically linked glibc binary?", path)
	}
	t.Logf("%s (%v): newest glibc symbol version %s, limit %s", filepath.Base(path), machine, newest, MaxGlibc)
}

func TestSymbolProblems(t *testing.T) {
	syms := []elf.ImportedSymbol{
		{Name: "malloc", Version: "GLIBC_2.2.5", Library: "libc.so.6"},
		{Name: "pthread_create", Version: "GLIBC_2.34", Library: "libc.so.6"},
		{Name: "__libc_start_main", Version: "GLIBC_2.34", Library: "libc.so.6"},
		{Name: "strlcpy", Version: "GLIBC_2.38", Library: "libc.so.6"},
		{Name: "strlcpy", Version: "GLIBC_2.38", Library: "libc.so.6"},
		{Name: "__nss_x", Version: "GLIBC_PRIVATE", Library: "libc.so.6"},
		{Name: "_ZdlPv", Version: "GLIBCXX_3.4", Library: "libstdc++.so.6"},
		{Name: "unversioned"},
	}
	got := strings.Join(symbolProblems(syms, "2.36"), "\n")
	want := strings.Join([]string{
		"_ZdlPv@GLIBCXX_3.4 is not a glibc symbol version",
		"__nss_x@GLIBC_PRIVATE is newer than glibc 2.36",
		"strlcpy@GLIBC_2.38 is newer than glibc 2.36",
	}, "\n")
	if got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
	if n := NewestGlibc(syms[:4]); n != "2.38" {
		t.Errorf("newest = %q, want 2.38", n)
	}
	for _, c := range []struct {
		a, b string
		sign int
	}{{"2.34", "2.36", -1}, {"2.3.4", "2.34", -1}, {"2.36", "2.36", 0}, {"2.36.1", "2.36", 1}, {"2.41", "2.36", 1}, {"PRIVATE", "2.36", 1}} {
		if got := compareVersions(c.a, c.b); (got > 0) != (c.sign > 0) || (got < 0) != (c.sign < 0) {
			t.Errorf("compareVersions(%s, %s) = %d, want sign %d", c.a, c.b, got, c.sign)
		}
	}
}

// The reader sees the real versions: the built plugins use glibc 2.34
// symbols (Go's runtime, since glibc merged libpthread), so checking them
// against 2.33 must report those.
func TestLinkProblemsSeesRealVersions(t *testing.T) {
	dir := os.Getenv("PLUGIN_DIR")
	if dir == "" {
		t.Skip("PLUGIN_DIR not set (make test sets it)")
	}
	problems, err := LinkProblems(filepath.Join(dir, "in_digicert.so"), "2.33")
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), "@GLIBC_2.34 is newer than glibc 2.33") {
		t.Errorf("against glibc 2.33: %q, want GLIBC_2.34 symbols reported", problems)
	}
}
