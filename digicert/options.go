package digicert

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultBaseURL is DigiCert's API host; the client appends /reports/v1.
const DefaultBaseURL = "https://api.digicert.com"

// Version is the project version, set at build time with
// -ldflags "-X github.com/digicert-secops/fluent-bit-digicert/digicert.Version=…".
// It is part of the default User-Agent.
var Version = "dev"

// Defaults applied by New to zero-valued Options fields.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxAttempts    = 6
	DefaultMaxRetryTime   = 5 * time.Minute
	// DefaultMaxRowSize bounds one row (one JSON object) of a report.
	DefaultMaxRowSize = 64 << 20
	// DefaultMaxBodySize bounds the bytes downloaded for one part of a run.
	DefaultMaxBodySize = 4 << 30
	// DefaultMaxMemberSize bounds the decompressed size of one ZIP member,
	// against corrupt or hostile archives (a 1,000,000-row audit part is
	// roughly 1 GB of JSON).
	DefaultMaxMemberSize = 4 << 30
	// DefaultDownloadTimeout bounds one download (one part of a run) from
	// request to last byte: RequestTimeout bounds only the wait for each
	// read, so a server sending a byte now and then would hold the poller
	// forever. A 1 GB part at a modest 10 Mbit/s takes about 15 minutes.
	DefaultDownloadTimeout = 30 * time.Minute
	// DefaultMaxInflatedSize bounds what all ZIP members of one part
	// inflate to together (a real part of 1,000,000 audit rows is about
	// 1 GB of JSON).
	DefaultMaxInflatedSize = 4 << 30
	// DefaultMaxZipMembers bounds the entries of one ZIP (real ones hold
	// one .json member, perhaps with a README).
	DefaultMaxZipMembers = 1000
)

// Options configures a Client. Only APIKey is required.
type Options struct {
	BaseURL        string        // default DefaultBaseURL; "/reports/v1" is appended unless already present
	APIKey         string        // required; never printed (String, GoString, Format and LogValue redact it)
	RequestTimeout time.Duration // per request (for downloads: until headers, then per read), default 30s
	ProxyURL       string        // explicit proxy; empty → http.ProxyFromEnvironment
	CAFile         string        // extra PEM CA bundle added to the system roots; verification is always on
	UserAgent      string        // default "fluent-bit-digicert/"+Version
	TempDir        string        // where downloaded parts are spilled; default os.TempDir()
	MaxAttempts    int           // per call, including the first; default 6
	MaxRetryTime   time.Duration // total per call; default 5m
	RateLimit      *RateLimit    // nil → DigiCert's published limits (100/5s, 1000/3m); NoRateLimit disables
	Logger         *slog.Logger  // retries and rate-limit waits; nil → discard
	Observer       Observer      // metrics of requests, waits and downloads; nil → none
	HTTPClient     *http.Client  // tests only; replaces the transport built from ProxyURL/CAFile
	Clock          Clock         // tests only; nil → SystemClock

	MaxRowSize    int   // largest accepted row in bytes; default DefaultMaxRowSize
	MaxBodySize   int64 // largest accepted download per part in bytes; default DefaultMaxBodySize
	MaxMemberSize int64 // largest accepted decompressed ZIP member in bytes; default DefaultMaxMemberSize

	DownloadTimeout time.Duration // whole download of one part, default DefaultDownloadTimeout
	MaxInflatedSize int64         // all ZIP members of one part inflated, default DefaultMaxInflatedSize
	MaxZipMembers   int           // entries in one ZIP, default DefaultMaxZipMembers
	// AllowInsecureHTTP permits a plain http:// BaseURL on a host that is
	// not loopback (the key then crosses the network unencrypted); New
	// logs a warning when it is used.
	AllowInsecureHTTP bool
}

// RateLimit is a set of sliding windows; a request is sent only when every
// window has room for it.
type RateLimit struct {
	Windows []RateWindow
}

// RateWindow allows at most Requests requests in any interval of length Per.
type RateWindow struct {
	Requests int
	Per      time.Duration
}

// NoRateLimit disables client-side rate limiting.
var NoRateLimit = &RateLimit{}

// DefaultRateLimit returns DigiCert's published per-key limits: 100 requests
// per 5 seconds and 1000 requests per 3 minutes.
func DefaultRateLimit() *RateLimit {
	return &RateLimit{Windows: []RateWindow{
		{Requests: 100, Per: 5 * time.Second},
		{Requests: 1000, Per: 3 * time.Minute},
	}}
}

// String describes the limit, e.g. "100/5s,1000/3m0s".
func (r *RateLimit) String() string {
	if r == nil || len(r.Windows) == 0 {
		return "none"
	}
	parts := make([]string, len(r.Windows))
	for i, w := range r.Windows {
		parts[i] = fmt.Sprintf("%d/%s", w.Requests, w.Per)
	}
	return strings.Join(parts, ",")
}

const redacted = "[REDACTED]"

// printable is Options without its methods, so fmt can print the fields of a
// copy whose secrets were replaced.
type printable Options

func (o Options) redactedCopy() printable {
	p := printable(o)
	if p.APIKey != "" {
		p.APIKey = redacted
	}
	p.ProxyURL = RedactURL(p.ProxyURL)
	return p
}

// RedactURL hides user info (a proxy URL often carries a password), e.g.
// http://user:pass@proxy:3128 → http://[REDACTED]@proxy:3128. It works on
// text that does not parse as a URL too.
func RedactURL(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	scheme := strings.Index(s, "://")
	if scheme < 0 || scheme > at {
		scheme = -3
	}
	return s[:scheme+3] + redacted + s[at:]
}

// String prints the options with the API key redacted.
func (o Options) String() string {
	return fmt.Sprintf("digicert.Options%+v", o.redactedCopy())
}

// GoString prints the options with the API key redacted.
func (o Options) GoString() string {
	return strings.Replace(fmt.Sprintf("%#v", o.redactedCopy()), "digicert.printable", "digicert.Options", 1)
}

// Format makes every fmt verb print the redacted form.
func (o Options) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, o.GoString())
		return
	}
	io.WriteString(f, o.String())
}

// LogValue renders the options for log/slog with the API key redacted.
func (o Options) LogValue() slog.Value {
	p := o.redactedCopy()
	return slog.GroupValue(
		slog.String("base_url", p.BaseURL),
		slog.String("api_key", p.APIKey),
		slog.Duration("request_timeout", p.RequestTimeout),
		slog.String("proxy_url", p.ProxyURL),
		slog.String("ca_file", p.CAFile),
		slog.String("user_agent", p.UserAgent),
		slog.String("temp_dir", p.TempDir),
		slog.Int("max_attempts", p.MaxAttempts),
		slog.Duration("max_retry_time", p.MaxRetryTime),
		slog.String("rate_limit", p.RateLimit.String()),
		slog.Duration("download_timeout", p.DownloadTimeout),
		slog.Int64("max_inflated_size", p.MaxInflatedSize),
		slog.Int("max_zip_members", p.MaxZipMembers),
		slog.Bool("allow_insecure_http", p.AllowInsecureHTTP),
	)
}

// withDefaults fills zero fields. The rate limit is left nil here: New picks
// the shared per-key limiter for it.
func (o Options) withDefaults() Options {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.UserAgent == "" {
		o.UserAgent = "fluent-bit-digicert/" + Version
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxRetryTime <= 0 {
		o.MaxRetryTime = DefaultMaxRetryTime
	}
	if o.Clock == nil {
		o.Clock = SystemClock
	}
	if o.MaxRowSize <= 0 {
		o.MaxRowSize = DefaultMaxRowSize
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = DefaultMaxBodySize
	}
	if o.MaxMemberSize <= 0 {
		o.MaxMemberSize = DefaultMaxMemberSize
	}
	if o.DownloadTimeout <= 0 {
		o.DownloadTimeout = DefaultDownloadTimeout
	}
	if o.MaxInflatedSize <= 0 {
		o.MaxInflatedSize = DefaultMaxInflatedSize
	}
	if o.MaxZipMembers <= 0 {
		o.MaxZipMembers = DefaultMaxZipMembers
	}
	return o
}

// OptionError is an invalid Options field. Field is its name (e.g.
// "BaseURL"), so that a caller can name its own setting for it instead.
type OptionError struct {
	Field string
	Msg   string // what is wrong and what to do; never holds the key or a password
}

func (e *OptionError) Error() string { return "digicert: " + e.Field + ": " + e.Msg }

func optionErr(field, format string, args ...any) *OptionError {
	return &OptionError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// resolved is what validating Options produced.
type resolved struct {
	key      string
	base     string
	insecure bool     // plain http off loopback, allowed by AllowInsecureHTTP
	proxy    *url.URL // nil: the environment's proxy settings
	roots    *x509.CertPool
}

// Validate checks the options as New does, without building a client: an
// error is an *OptionError. Zero fields take their defaults.
func (o Options) Validate() error {
	_, err := o.withDefaults().resolve()
	return err
}

// resolve checks every field and prepares what New needs.
func (o Options) resolve() (resolved, error) {
	var r resolved
	var err error
	r.key = strings.TrimSpace(o.APIKey)
	if r.key == "" {
		return r, optionErr("APIKey", "the API key is empty")
	}
	for i := 0; i < len(r.key); i++ {
		if r.key[i] <= ' ' || r.key[i] >= 0x7f {
			return r, optionErr("APIKey", "the key contains spaces, control or non-ASCII characters: it must be exactly the key shown once in CertCentral > Automation > API Keys")
		}
	}
	if r.base, r.insecure, err = resolveBaseURL(o.BaseURL, o.AllowInsecureHTTP); err != nil {
		return r, err
	}
	if r.proxy, err = parseProxy(o.ProxyURL); err != nil {
		return r, err
	}
	if r.roots, err = certPool(o.CAFile); err != nil {
		return r, err
	}
	if o.TempDir != "" {
		if fi, err := os.Stat(o.TempDir); err != nil || !fi.IsDir() {
			return r, optionErr("TempDir", "%q is not a usable directory", o.TempDir)
		}
	}
	if o.RateLimit != nil {
		for _, w := range o.RateLimit.Windows {
			if w.Requests <= 0 || w.Per <= 0 {
				return r, optionErr("RateLimit", "%d/%s: both numbers must be positive", w.Requests, w.Per)
			}
		}
	}
	return r, nil
}

// parseProxy reads an explicit proxy URL ("proxy:3128" means http); nil
// when none is set.
func parseProxy(s string) (*url.URL, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return nil, nil
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err == nil && u.Host != "" {
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
			return u, nil
		}
	}
	return nil, optionErr("ProxyURL", "%q is not a proxy URL such as http://proxy:3128 (http, https, socks5 or socks5h)", RedactURL(s))
}

// certPool is the system roots plus the PEM bundle in caFile, if any.
func certPool(caFile string) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if caFile == "" {
		return roots, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, optionErr("CAFile", "%q is not a readable file: give the path of a PEM CA bundle (%v)", caFile, errors.Unwrap(err))
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, optionErr("CAFile", "%q holds no PEM certificate: give the path of a PEM CA bundle", caFile)
	}
	return roots, nil
}
