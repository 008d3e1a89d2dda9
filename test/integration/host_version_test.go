package integration

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The plugin make built carries the version from the VERSION file (make
// passes it with -X to digicert.Version); it shows in the User-Agent of the
// plugin's first API call, which this test's server records.
func TestVersionFromVersionFile(t *testing.T) {
	if os.Getenv("PLUGIN_DIR") == "" {
		t.Skip("PLUGIN_DIR not set: a plugin built here has no release version (make test and make test-arm64 set it)")
	}
	_, root := dcToolDir(t)
	raw, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	want := "fluent-bit-digicert/" + strings.TrimSpace(string(raw))
	agents := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case agents <- r.UserAgent():
		default:
		}
		http.Error(w, `{"errors":[{"code":"unavailable","message":"test"}]}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	h := dcStartHost(t, "input", dcPlugin(t), 50, []dcInstance{{"a", dcProps(t, srv.URL, dcReportA)}})
	h.next(`^init 0 ret=1$`)
	select {
	case got := <-agents:
		if got != want {
			t.Errorf("User-Agent %q, want %q (from VERSION)", got, want)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("no API request in 90 s\nstderr:\n%s", h.stderr.String())
	}
	h.finish()
}
