// Package release checks what `make dist` ships: the archives' contents,
// checksums and SBOMs, the ELF architecture of each binary, and that no
// binary needs a glibc newer than the oldest runtime the plugins support.
package release

import (
	"debug/elf"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MaxGlibc is the newest glibc symbol version a shipped binary may need.
// The plugins support Fluent Bit 4.1 and later; the official images of
// 4.1 and 4.2 run on gcr.io/distroless/cc-debian12 (Debian 12, glibc 2.36),
// those of 5.0 and 5.1 on cc-debian13 (Debian 13, glibc 2.41), so 2.36 is
// the oldest glibc an official image gives a plugin.
const MaxGlibc = "2.36"

// allowedLibs are the shared libraries a binary may link: glibc's own, which
// every glibc system (and the distroless cc images) has.
var allowedLibs = map[string]bool{
	"libc.so.6": true, "libpthread.so.0": true, "libdl.so.2": true,
	"libm.so.6": true, "libresolv.so.2": true,
}

// LinkProblems lists why the ELF file at path would not load on a system
// with glibc max: a symbol version newer than max, a version from another
// library than glibc, or a library outside glibc.
func LinkProblems(path, max string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.ImportedSymbols()
	if err != nil {
		return nil, fmt.Errorf("%s: dynamic symbols: %w", path, err)
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: needed libraries: %w", path, err)
	}
	var out []string
	for _, l := range libs {
		if !allowedLibs[l] {
			out = append(out, fmt.Sprintf("needs %s, which is not part of glibc", l))
		}
	}
	return append(out, symbolProblems(syms, max)...), nil
}

// symbolProblems reports each symbol whose version is above GLIBC_max, or
// is not a GLIBC_ version at all, once per symbol, sorted.
func symbolProblems(syms []elf.ImportedSymbol, max string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range syms {
		if s.Version == "" {
			continue
		}
		var p string
		v, ok := strings.CutPrefix(s.Version, "GLIBC_")
		switch {
		case !ok:
			p = fmt.Sprintf("%s@%s is not a glibc symbol version", s.Name, s.Version)
		case compareVersions(v, max) > 0:
			p = fmt.Sprintf("%s@%s is newer than glibc %s", s.Name, s.Version, max)
		}
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// NewestGlibc is the newest GLIBC_ version among syms ("" if none).
func NewestGlibc(syms []elf.ImportedSymbol) string {
	newest := ""
	for _, s := range syms {
		if v, ok := strings.CutPrefix(s.Version, "GLIBC_"); ok && (newest == "" || compareVersions(v, newest) > 0) {
			newest = v
		}
	}
	return newest
}

// compareVersions compares dotted versions part by part as numbers
// (2.3.4 < 2.34 < 2.36); a non-numeric part sorts after every number, so
// GLIBC_PRIVATE counts as too new.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		if i >= len(as) {
			return -1
		}
		if i >= len(bs) {
			return 1
		}
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		switch {
		case errx == nil && erry == nil:
			if x != y {
				return x - y
			}
		case errx == nil:
			return -1
		case erry == nil:
			return 1
		default:
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
		}
	}
	return 0
}
