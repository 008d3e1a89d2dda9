package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// archiveFiles is what each release archive holds, in one top directory.
var archiveFiles = []string{"CHANGELOG.md", "LICENSE", "README.md", "SHA256SUMS", "digicert-sim", "in_digicert.so", "out_secops_s3.so", "sbom.cdx.json"}

// What `make dist` made (make test-dist sets DIST_DIR, DIST_VERSION and
// DIST_ARCHES): each archive holds exactly the release files with matching
// checksums and binaries for its architecture within the glibc limit; its
// SBOM names the version and every module the shipped packages link, at the
// version the build used; dist/SHA256SUMS covers archives and SBOMs.
func TestDistArchives(t *testing.T) {
	dist, version := os.Getenv("DIST_DIR"), os.Getenv("DIST_VERSION")
	if dist == "" || version == "" {
		t.Skip("DIST_DIR/DIST_VERSION not set: run make test-dist")
	}
	arches := strings.Fields(os.Getenv("DIST_ARCHES"))
	if len(arches) == 0 {
		arches = []string{"amd64", "arm64"}
	}
	sums := readSums(t, filepath.Join(dist, "SHA256SUMS"))
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			name := fmt.Sprintf("fluent-bit-digicert-%s-linux-%s", version, arch)
			files := readArchive(t, filepath.Join(dist, name+".tar.gz"), name)
			var got []string
			for f := range files {
				got = append(got, f)
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(archiveFiles, " ") {
				t.Fatalf("%s.tar.gz holds %q, want %q", name, got, archiveFiles)
			}
			inner := parseSums(t, files["SHA256SUMS"])
			if len(inner) != len(archiveFiles)-1 {
				t.Errorf("inner SHA256SUMS has %d entries, want %d", len(inner), len(archiveFiles)-1)
			}
			for f, data := range files {
				if f != "SHA256SUMS" && inner[f] != sha(data) {
					t.Errorf("inner SHA256SUMS: %s is %q, content hashes to %s", f, inner[f], sha(data))
				}
			}
			for _, f := range []string{name + ".tar.gz", name + ".cdx.json"} {
				data, err := os.ReadFile(filepath.Join(dist, f))
				if err != nil {
					t.Fatal(err)
				}
				if sums[f] != sha(data) {
					t.Errorf("dist/SHA256SUMS: %s is %q, file hashes to %s", f, sums[f], sha(data))
				}
				if f == name+".cdx.json" && !bytes.Equal(data, files["sbom.cdx.json"]) {
					t.Errorf("%s differs from the archive's sbom.cdx.json", f)
				}
			}
			dir := t.TempDir()
			for _, b := range shipped {
				p := filepath.Join(dir, b)
				if err := os.WriteFile(p, files[b], 0o755); err != nil {
					t.Fatal(err)
				}
				checkBinary(t, p, arch)
			}
			checkSBOM(t, files["sbom.cdx.json"], version, arch)
		})
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// readArchive returns the regular files under top/ in a .tar.gz by base name.
func readArchive(t *testing.T, path, top string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rel, ok := strings.CutPrefix(strings.TrimSuffix(h.Name, "/"), top)
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
			t.Errorf("%s: entry %q is outside %s/", path, h.Name, top)
			continue
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Typeflag != tar.TypeReg || strings.Count(rel, "/") != 1 {
			t.Errorf("%s: unexpected entry %q (type %c)", path, h.Name, h.Typeflag)
			continue
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s is owned by %d:%d, want 0:0", path, h.Name, h.Uid, h.Gid)
		}
		if rel == "/digicert-sim" && h.Mode&0o111 == 0 {
			t.Errorf("%s: %s is not executable (mode %o)", path, h.Name, h.Mode)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[rel[1:]] = data
	}
	return out
}

func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseSums(t, b)
}

// parseSums reads sha256sum's output ("HASH  NAME" per line), which is what
// `sha256sum -c` takes.
func parseSums(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		hash, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(hash) != 64 || name == "" {
			t.Fatalf("bad SHA256SUMS line %q", sc.Text())
		}
		out[name] = hash
	}
	return out
}

// checkSBOM: a CycloneDX SBOM whose main component is this module at
// version, for linux/arch, listing each module (path and version) that the
// shipped packages are built from for that platform.
func checkSBOM(t *testing.T, raw []byte, version, arch string) {
	t.Helper()
	var bom struct {
		BOMFormat, SpecVersion string
		Metadata               struct {
			Component struct{ Name, Version, Purl string }
		}
		Components []struct{ Name, Version, Purl string }
	}
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Fatalf("sbom.cdx.json: %v", err)
	}
	main := bom.Metadata.Component
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion == "" {
		t.Errorf("sbom: bomFormat %q specVersion %q", bom.BOMFormat, bom.SpecVersion)
	}
	if main.Name != "github.com/digicert-secops/fluent-bit-digicert" || main.Version != version {
		t.Errorf("sbom main component %s %s, want version %s", main.Name, main.Version, version)
	}
	if !strings.Contains(main.Purl, "goarch="+arch) || !strings.Contains(main.Purl, "goos=linux") {
		t.Errorf("sbom main purl %q is not for linux/%s", main.Purl, arch)
	}
	have := map[string]string{}
	for _, c := range bom.Components {
		have[c.Name] = c.Version
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}",
		"./plugin/in_digicert", "./plugin/out_secops_s3", "./cmd/digicert-sim")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	linked := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, ver, ok := strings.Cut(line, " ")
		if !ok || linked[path] {
			continue
		}
		linked[path] = true
		if have[path] != ver {
			t.Errorf("sbom: module %s is %q, the build uses %s", path, have[path], ver)
		}
	}
	if len(linked) == 0 {
		t.Fatal("go list found no dependency modules to compare with")
	}
	t.Logf("sbom: %d components; the %d modules the binaries link are all there at their build versions", len(bom.Components), len(linked))
}
