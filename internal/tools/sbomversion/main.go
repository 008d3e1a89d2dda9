// Command sbomversion writes the release version into a CycloneDX SBOM made
// by `cyclonedx-gomod mod`. That tool takes the main module's version from
// git tags only, so it leaves the version out in a worktree, an unpacked
// source archive or on an untagged commit; the release version lives in the
// VERSION file instead.
//
//	go run ./internal/tools/sbomversion -version 1.2.3 sbom.cdx.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	version := flag.String("version", "", "the release version to record for the main component")
	flag.Parse()
	if *version == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbomversion -version VERSION FILE.cdx.json")
		os.Exit(2)
	}
	if err := stampFile(flag.Arg(0), *version); err != nil {
		fmt.Fprintln(os.Stderr, "sbomversion:", err)
		os.Exit(1)
	}
}

func stampFile(path, version string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := stamp(raw, version)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// stamp sets metadata.component.version, keeping every other field as it was
// (numbers stay numbers, URLs keep their '&').
func stamp(raw []byte, version string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var bom map[string]any
	if err := dec.Decode(&bom); err != nil {
		return nil, fmt.Errorf("not a JSON SBOM: %w", err)
	}
	if bom["bomFormat"] != "CycloneDX" {
		return nil, errors.New("not a CycloneDX SBOM (bomFormat is not \"CycloneDX\")")
	}
	meta, _ := bom["metadata"].(map[string]any)
	comp, _ := meta["component"].(map[string]any)
	if comp == nil {
		return nil, errors.New("the SBOM has no metadata.component to give a version")
	}
	comp["version"] = version
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bom); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
