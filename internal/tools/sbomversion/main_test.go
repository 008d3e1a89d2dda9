package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStampSetsMainVersionAndKeepsTheRest(t *testing.T) {
	in := `{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,
	"metadata":{"component":{"name":"m","purl":"pkg:golang/m?goarch=arm64&goos=linux"}},
	"components":[{"name":"dep","version":"v1.2.3"}]}`
	out, err := stamp([]byte(in), "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `\u0026`) {
		t.Errorf("'&' was escaped:\n%s", out)
	}
	var got struct {
		Version  json.Number
		Metadata struct {
			Component struct{ Name, Version, Purl string }
		}
		Components []struct{ Name, Version string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	c := got.Metadata.Component
	if c.Version != "0.1.0" || c.Name != "m" || c.Purl != "pkg:golang/m?goarch=arm64&goos=linux" {
		t.Errorf("main component = %+v", c)
	}
	if got.Version != "1" || len(got.Components) != 1 || got.Components[0].Version != "v1.2.3" {
		t.Errorf("other fields changed: %s", out)
	}
}

func TestStampRefusesWhatIsNotACycloneDXSBOM(t *testing.T) {
	for in, want := range map[string]string{
		`[1]`:                       "not a JSON SBOM",
		`{"bomFormat":"SPDX"}`:      "not a CycloneDX SBOM",
		`{"bomFormat":"CycloneDX"}`: "no metadata.component",
		`{"bomFormat":"CycloneDX",` + `"metadata":{}}`: "no metadata.component",
	} {
		if _, err := stamp([]byte(in), "1"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", in, err, want)
		}
	}
}
