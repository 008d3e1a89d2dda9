package secopsout

import (
	"testing"
	"time"
)

func TestKeyTemplateRender(t *testing.T) {
	ts := time.Date(2025, 2, 6, 10, 28, 4, 999, time.FixedZone("CET", 3600)) // 09:28:04 UTC
	vars := KeyVars{Prefix: "digicert/logs", Tag: "digicert.audit", Hash: "0123456789abcdef", Time: ts}
	cases := []struct{ format, want string }{
		{DefaultKeyFormat, "digicert/logs/2025/02/06/092804-digicert-audit-0123456789abcdef.json.gz"},
		{"${prefix}/${tag}/%j/%%/${hash}", "digicert/logs/digicert.audit/037/%/0123456789abcdef"},
		{"/${prefix}/${hash}.json.gz", "digicert/logs/0123456789abcdef.json.gz"},
		{"x${hash}y", "x0123456789abcdefy"},
	}
	for _, tc := range cases {
		k, err := ParseKeyTemplate(tc.format)
		if err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if got := k.Render(vars); got != tc.want {
			t.Errorf("%s → %q, want %q", tc.format, got, tc.want)
		}
	}
	// An empty prefix (prefix "/") gives keys at the bucket root.
	k, _ := ParseKeyTemplate(DefaultKeyFormat)
	vars.Prefix = ""
	if got := k.Render(vars); got != "2025/02/06/092804-digicert-audit-0123456789abcdef.json.gz" {
		t.Errorf("root key = %q", got)
	}
}

func TestContentHashIsStableAndDistinct(t *testing.T) {
	a := ContentHash("t", []byte("chunk"))
	if len(a) != 16 {
		t.Fatalf("hash %q is not 16 hex digits", a)
	}
	if ContentHash("t", []byte("chunk")) != a {
		t.Error("same chunk, different hash")
	}
	for _, other := range []string{ContentHash("t", []byte("chunk2")), ContentHash("t2", []byte("chunk")), ContentHash("tc", []byte("hunk"))} {
		if other == a {
			t.Errorf("different chunk or tag, same hash %s", a)
		}
	}
}
