package digicert

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no key", Options{}, "APIKey: the API key is empty"},
		{"blank key", Options{APIKey: " \n"}, "APIKey: the API key is empty"},
		{"key with inner space", Options{APIKey: "ab cd"}, "APIKey: the key contains spaces"},
		{"key with control char", Options{APIKey: "ab\x00cd"}, "APIKey: the key contains spaces"},
		{"base URL without scheme", Options{APIKey: "k", BaseURL: "api.digicert.com"}, "is not a base URL such as https://api.digicert.com"},
		{"base URL ftp", Options{APIKey: "k", BaseURL: "ftp://api.digicert.com"}, "is not a base URL such as https://api.digicert.com"},
		{"base URL with query", Options{APIKey: "k", BaseURL: "https://api.digicert.com/?x=1"}, "no user info, query or fragment"},
		{"proxy with bad scheme", Options{APIKey: "k", ProxyURL: "ftp://user:hunter2@proxy:21"}, `ProxyURL: "ftp://[REDACTED]@proxy:21" is not a proxy URL such as http://proxy:3128 (http, https, socks5 or socks5h)`},
		{"proxy not a URL", Options{APIKey: "k", ProxyURL: "http://[::1"}, "is not a proxy URL"},
		{"missing CA file", Options{APIKey: "k", CAFile: filepath.Join(dir, "none.pem")}, "none.pem\" is not a readable file: give the path of a PEM CA bundle"},
		{"CA file without PEM", Options{APIKey: "k", CAFile: notPEM}, "holds no PEM certificate"},
		{"missing temp dir", Options{APIKey: "k", TempDir: filepath.Join(dir, "nope")}, "is not a usable directory"},
		{"bad rate limit", Options{APIKey: "k", RateLimit: &RateLimit{Windows: []RateWindow{{Requests: 0, Per: time.Second}}}}, "both numbers must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want %q", err, tt.want)
			}
			var oe *OptionError
			if !errors.As(err, &oe) || !strings.HasPrefix(tt.want, oe.Field) && !strings.Contains(err.Error(), ": "+oe.Field+": ") {
				t.Errorf("error %v is not an *OptionError naming the field", err)
			}
			if verr := tt.o.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate = %v, New = %v", verr, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the proxy password: %v", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "https://api.digicert.com/reports/v1"},
		{"https://api.digicert.com/", "https://api.digicert.com/reports/v1"},
		{"https://api.digicert.com/reports/v1/", "https://api.digicert.com/reports/v1"},
		{"http://localhost:8080/prefix", "http://localhost:8080/prefix/reports/v1"},
	}
	for _, tt := range tests {
		c, err := New(Options{APIKey: " key\n", BaseURL: tt.in})
		if err != nil {
			t.Fatal(err)
		}
		if c.base != tt.want || c.key != "key" || c.timeout != DefaultRequestTimeout || c.maxAttempts != 6 || c.maxRetryTime != 5*time.Minute || c.ua != "fluent-bit-digicert/"+Version {
			t.Errorf("base %q key trimmed %v timeout %s attempts %d ua %q", c.base, c.key == "key", c.timeout, c.maxAttempts, c.ua)
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	old := Version
	Version = "1.2.3"
	defer func() { Version = old }()
	var got http.Header
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		okReport(w, r)
	}))
	if _, err := e.c.Report(context.Background(), "rep"); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-DC-DEVKEY") != testKey || got.Get("User-Agent") != "fluent-bit-digicert/1.2.3" || got.Get("Content-Type") != "application/json" {
		t.Fatalf("headers: key sent %v, User-Agent %q, Content-Type %q", got.Get("X-DC-DEVKEY") == testKey, got.Get("User-Agent"), got.Get("Content-Type"))
	}
}

func TestExplicitProxy(t *testing.T) {
	var seen string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Host + r.URL.Path // an HTTP proxy gets the absolute URL
		okReport(w, r)
	}))
	defer proxy.Close()
	c, err := New(Options{APIKey: testKey, BaseURL: "http://digicert.invalid", AllowInsecureHTTP: true, ProxyURL: strings.TrimPrefix(proxy.URL, "http://"), Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Report(context.Background(), "rep"); err != nil {
		t.Fatal(err)
	}
	if seen != "digicert.invalid/reports/v1/report/rep" {
		t.Fatalf("proxy saw %q", seen)
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(okReport))
	defer srv.Close()
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caPath, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("trusted with ca_file", func(t *testing.T) {
		c, err := New(Options{APIKey: testKey, BaseURL: srv.URL, CAFile: caPath, Clock: newFakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Report(context.Background(), "rep"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("verification on without it", func(t *testing.T) {
		clk := newFakeClock()
		c, err := New(Options{APIKey: testKey, BaseURL: srv.URL, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Report(context.Background(), "rep")
		if err == nil || !strings.Contains(err.Error(), "TLS certificate verification failed (if a proxy inspects TLS, add its CA with tls_ca_file)") {
			t.Fatalf("err = %v", err)
		}
		if len(clk.Sleeps()) != 0 {
			t.Errorf("a TLS verification failure was retried")
		}
	})
}

// TestAPIKeyNeverShown drives every failure path and every way of printing
// options and clients, and checks that the key appears nowhere.
func TestAPIKeyNeverShown(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := Options{APIKey: testKey, ProxyURL: "http://user:" + testKey + "@proxy:3128", Logger: logger}
	fmt.Fprintf(&out, "%v %+v %#v %s %q %x\n", o, o, o, o, o, o)
	fmt.Fprintf(&out, "%v %+v %#v\n", &o, &o, &o)
	fmt.Fprintln(&out, o.String(), o.GoString())
	logger.Info("options", "opts", o)

	// The echoing server puts the key into its error messages, as a
	// misbehaving proxy might.
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			dcError(w, status, "echo", "bad key "+r.Header.Get("X-DC-DEVKEY"))
		}
	}
	handlers := map[string]http.Handler{
		"403 echo": echo(403), "401 echo": echo(401), "400 echo": echo(400), "404 echo": echo(404),
		"500 echo": echo(500), "429 echo": echo(429),
		"reset":   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { resetConn(w) }),
		"garbage": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.Header.Get("X-DC-DEVKEY"))) }),
	}
	for name, h := range handlers {
		e := newEnv(t, h, func(o *Options) { o.Logger = logger })
		fmt.Fprintf(&out, "%v %+v %#v %s\n", e.c, e.c, e.c, e.c)
		logger.Info("client", "client", e.c)
		ctx := context.Background()
		_, err1 := e.c.Report(ctx, "rep")
		_, err2 := e.c.StartRun(ctx, "rep")
		_, err3 := e.c.RunReport(ctx, "rep", fastWait)
		_, err4 := e.c.Open(ctx, Run{ReportID: "rep", RunID: "run"})
		_, err5 := e.c.ReadyRunsAfter(ctx, "rep", "")
		for _, err := range []error{err1, err2, err3, err4, err5} {
			if err == nil && name != "garbage" {
				t.Errorf("%s: no error", name)
			}
			fmt.Fprintf(&out, "%s: %v | %+v | %#v\n", name, err, err, err)
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				fmt.Fprintf(&out, "%+v %#v\n", *apiErr, *apiErr)
			}
		}
	}
	if strings.Contains(out.String(), testKey) {
		i := strings.Index(out.String(), testKey)
		t.Fatalf("the API key appears in output: …%s…", out.String()[max(0, i-200):i])
	}
	if !strings.Contains(out.String(), "[REDACTED]") || !strings.Contains(out.String(), "digicert.Options{") {
		t.Fatalf("redacted forms missing from output")
	}
}

func TestRedirectKeepsKeyOnHost(t *testing.T) {
	var gotKey string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey = r.Header.Get("X-DC-DEVKEY")
		w.Write([]byte(`[{"Action":"moved"}]`))
	}))
	defer storage.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-DC-DEVKEY") != testKey {
			w.WriteHeader(403)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/json"):
			http.Redirect(w, r, storage.URL+"/file.json", http.StatusFound)
		case strings.HasSuffix(r.URL.Path, "/moved"):
			okReport(w, r)
		default:
			http.Redirect(w, r, "/reports/v1/report/moved", http.StatusFound) // same host: key kept
		}
	}))
	defer api.Close()
	c, err := New(Options{APIKey: testKey, BaseURL: api.URL, Clock: newFakeClock(), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readRows(t, c, Run{ReportID: "rep", RunID: "run"})
	if err != nil || len(got) != 1 || got[0] != "0:moved" {
		t.Fatalf("rows %v, err %v", got, err)
	}
	if gotKey != "" {
		t.Fatal("the API key was sent to the host a download redirected to")
	}
	if _, err := c.Report(context.Background(), "rep"); err != nil {
		t.Fatalf("a same-host redirect lost the key: %v", err)
	}
}
