package digicertin

import (
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// testKey is the API key used by the tests; no log line or error may contain it.
const testKey = "TESTKEY-in-5ecr3t-77aa"

func baseConfig(t *testing.T) flb.MapConfig {
	return flb.MapConfig{
		"api_key":    testKey,
		"report_id":  "5c0e62b0-3b6f-4e0a-9d7e-2a5f3c1d9e01",
		"state_file": filepath.Join(t.TempDir(), "in_digicert.state"),
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	g := baseConfig(t)
	c, err := LoadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		APIKey: testKey, ReportID: g["report_id"], APIBase: digicert.DefaultBaseURL, Interval: time.Hour, Mode: ModeRun,
		WaitTimeout: 10 * time.Minute, PollInterval: 10 * time.Second, StateFile: g["state_file"],
		DedupWindow: 48 * time.Hour, RequestTimeout: 30 * time.Second,
		MaxBytesPerCollect: 96_000_000, BufferSize: 96_000_000,
		DownloadTimeout: 30 * time.Minute, MaxInflatedSize: 4 << 30, MaxZipMembers: 1000,
	}
	if c != want {
		t.Errorf("defaults:\n got %#v\nwant %#v", c, want)
	}
}

func TestLoadConfigEveryKey(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("  "+testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	tlsSrv := httptest.NewTLSServer(nil)
	tlsSrv.Close()
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	g := flb.MapConfig{
		"API_KEY_FILE": keyFile, "report_id": "r-1", "api_base": "https://api.example.test/",
		"mode": "Follow", "interval": "15m", "wait_timeout": "20m", "poll_interval": "5s",
		"state_file": filepath.Join(dir, "s.state"), "start_time": "2025-02-06", "dedup_window": "3d",
		"http_proxy": "http://proxy:3128", "tls_ca_file": caFile, "request_timeout": "1m",
		"max_bytes_per_collect": "8M", "buffer_size": "40M", "add_metadata": "on",
		"download_timeout": "2h", "max_inflated_size": "10GiB", "max_zip_members": "5", "allow_insecure_http": "true",
	}
	c, err := LoadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		APIKey: testKey, APIKeyFile: keyFile, ReportID: "r-1", APIBase: "https://api.example.test",
		Interval: 15 * time.Minute, Mode: ModeFollow, WaitTimeout: 20 * time.Minute, PollInterval: 5 * time.Second,
		StateFile: g["state_file"], StartTime: time.Date(2025, 2, 6, 0, 0, 0, 0, time.UTC), DedupWindow: 72 * time.Hour,
		HTTPProxy: "http://proxy:3128", TLSCAFile: caFile, RequestTimeout: time.Minute,
		MaxBytesPerCollect: 8_000_000, BufferSize: 40_000_000, AddMetadata: true,
		DownloadTimeout: 2 * time.Hour, MaxInflatedSize: 10 << 30, MaxZipMembers: 5, AllowInsecureHTTP: true,
	}
	if c != want {
		t.Errorf("got  %#v\nwant %#v", c, want)
	}
	// Every key read above is listed by Keys, and nothing else.
	var used []string
	for k := range g {
		used = append(used, strings.ToLower(k))
	}
	used = append(used, "api_key")
	slices.Sort(used)
	keys := Keys()
	slices.Sort(keys)
	if !slices.Equal(used, keys) {
		t.Errorf("Keys() = %v, keys exercised = %v", keys, used)
	}
	// RFC 3339 start_time, and the default buffer follows the per-collect cap.
	g = baseConfig(t)
	g["start_time"], g["max_bytes_per_collect"] = "2025-02-06T10:00:00+02:00", "1M"
	c, err = LoadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	if !c.StartTime.Equal(time.Date(2025, 2, 6, 8, 0, 0, 0, time.UTC)) || c.BufferSize != 1_000_000 {
		t.Errorf("start_time %v, buffer_size %d", c.StartTime, c.BufferSize)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	spaced := filepath.Join(dir, "spaced")
	os.WriteFile(spaced, []byte(testKey+" extra"), 0o600)
	cases := []struct {
		set  map[string]string
		want string // the message names the key and says what to do
	}{
		{map[string]string{"api_key": ""}, "api_key: required"},
		{map[string]string{"api_key": "", "api_key_file": filepath.Join(dir, "missing")}, "api_key_file: open"},
		{map[string]string{"api_key": "", "api_key_file": empty}, "api_key_file: " + empty + " is empty"},
		{map[string]string{"api_key": "", "api_key_file": spaced}, "api_key_file: the key contains spaces"},
		{map[string]string{"api_key": "ab\tcd"}, "api_key: the key contains spaces"},
		{map[string]string{"report_id": ""}, "report_id: required (the UUID from Reports > Report Library)"},
		{map[string]string{"report_id": "a/b"}, `report_id: "a/b" is not a report id`},
		{map[string]string{"api_base": "ftp://x"}, `api_base: "ftp://x" is not a base URL`},
		{map[string]string{"download_timeout": "10s"}, `download_timeout: 10s is below the minimum 1m0s`},
		{map[string]string{"download_timeout": "2m", "request_timeout": "5m"}, `download_timeout: 2m0s is shorter than request_timeout 5m0s`},
		{map[string]string{"max_inflated_size": "100K"}, `max_inflated_size: 100K is below the minimum 1MiB`},
		{map[string]string{"max_zip_members": "0"}, `max_zip_members: "0" is not a number from 1 to 1000000`},
		{map[string]string{"allow_insecure_http": "maybe"}, `allow_insecure_http:`},
		{map[string]string{"api_base": "http://digicert-sim:8080"}, `api_base: "http://digicert-sim:8080" is plain http: the API key would cross the network unencrypted: use https`},
		{map[string]string{"api_base": "http://127.0.0.1:8080", "tls_ca_file": spaced}, `tls_ca_file: "` + spaced + `" holds no PEM certificate`},
		{map[string]string{"api_base": "https://user:pw@x"}, `api_base: "https://[REDACTED]@x"`},
		{map[string]string{"mode": "pull"}, `mode: "pull" is not a mode: use run`},
		{map[string]string{"interval": "10s"}, "interval: 10s is below the minimum 1m0s"},
		{map[string]string{"interval": "soon"}, `interval: "soon" is not a duration`},
		{map[string]string{"wait_timeout": "1s"}, "wait_timeout: 1s is below the minimum 10s"},
		{map[string]string{"poll_interval": "0"}, "poll_interval: 0s is below the minimum 1s"},
		{map[string]string{"poll_interval": "30m"}, "poll_interval: 30m0s is longer than wait_timeout"},
		{map[string]string{"dedup_window": "10m"}, "dedup_window: 10m0s is below the minimum 1h0m0s"},
		{map[string]string{"request_timeout": "-1s"}, "request_timeout: \"-1s\" must not be negative"},
		{map[string]string{"state_file": ""}, "state_file: required: the checkpoint"},
		{map[string]string{"state_file": filepath.Join(dir, "nodir", "x.state")}, "state_file: directory " + filepath.Join(dir, "nodir") + " does not exist"},
		{map[string]string{"state_file": dir + "/"}, "state_file: \"" + dir + "/\" is a directory"},
		{map[string]string{"state_file": dir}, "state_file: \"" + dir + "\" is a directory"},
		{map[string]string{"start_time": "yesterday"}, `start_time: "yesterday" is not a time`},
		{map[string]string{"http_proxy": "ftp://p:21"}, `http_proxy: "ftp://p:21" is not a proxy URL`},
		{map[string]string{"http_proxy": "ftp://u:secretpw@p:21"}, `http_proxy: "ftp://[REDACTED]@p:21"`},
		{map[string]string{"tls_ca_file": filepath.Join(dir, "none.pem")}, "tls_ca_file: \"" + filepath.Join(dir, "none.pem") + "\" is not a readable file"},
		{map[string]string{"max_bytes_per_collect": "1K"}, "max_bytes_per_collect: 1K is out of range: use 64K to 512M"},
		{map[string]string{"max_bytes_per_collect": "1T"}, `max_bytes_per_collect: "1T" has an unknown unit`},
		{map[string]string{"buffer_size": "1M"}, "buffer_size: 1000000 bytes is out of range: use at least max_bytes_per_collect (96000000)"},
		{map[string]string{"add_metadata": "maybe"}, `add_metadata: "maybe" is not a boolean`},
	}
	for _, c := range cases {
		g := baseConfig(t)
		for k, v := range c.set {
			g[k] = v
		}
		_, err := LoadConfig(g)
		if err == nil {
			t.Errorf("%v: no error", c.set)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, strings.SplitN(c.want, ":", 2)[0]) || !strings.Contains(msg, c.want) {
			t.Errorf("%v:\n got %q\nwant it to contain %q", c.set, msg, c.want)
		}
		if strings.Contains(msg, testKey) || strings.Contains(msg, "secretpw") {
			t.Errorf("%v: error leaks a secret: %q", c.set, msg)
		}
	}
	// Both key sources at once.
	g := baseConfig(t)
	g["api_key_file"] = empty
	if _, err := LoadConfig(g); err == nil || !strings.Contains(err.Error(), "api_key, api_key_file: set only one") {
		t.Errorf("both keys: %v", err)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	c, err := LoadConfig(baseConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s %q %x", c.APIKey, c.APIKey, c.APIKey)} {
		if strings.Contains(s, testKey) || !strings.Contains(s, "[REDACTED]") {
			t.Errorf("printed config exposes the key or lacks the redaction: %s", s)
		}
	}
	if string(c.APIKey) != testKey {
		t.Error("the key itself must still be usable")
	}
}
