package digicertin

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

func TestSecretsFindsEveryPlantedKey(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(" FILEKEY123 \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  flb.MapConfig
		want []string
	}{
		{flb.MapConfig{"api_key": " KEY1 "}, []string{"KEY1"}},
		// A key pasted where a path belongs is not a file: it is scrubbed.
		{flb.MapConfig{"api_key_file": "ABCDEF0123456789"}, []string{"ABCDEF0123456789"}},
		{flb.MapConfig{"api_key_file": keyFile}, []string{"FILEKEY123"}},
		{flb.MapConfig{"http_proxy": "http://u:pw9@proxy:3128"}, []string{"pw9", "u:pw9", base64.StdEncoding.EncodeToString([]byte("u:pw9"))}},
		{flb.MapConfig{"http_proxy": "http://u:pw9@[::1"}, []string{"pw9", "u:pw9"}}, // does not parse
		{flb.MapConfig{"http_proxy": "http://proxy:3128"}, nil},
	}
	for _, c := range cases {
		if got := Secrets(c.cfg); !slices.Equal(got, c.want) {
			t.Errorf("%v → %q, want %q", c.cfg, got, c.want)
		}
	}
	// A path that exists is a path: not redacted (the operator needs it).
	if got := Secrets(flb.MapConfig{"api_key_file": keyFile}); slices.Contains(got, keyFile) {
		t.Error("an existing key file's path is treated as a secret")
	}
}
