package digicert

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client calls the Reports API. It is safe for concurrent use.
type Client struct {
	base    string // e.g. https://api.digicert.com/reports/v1
	key     Secret
	ua      string
	hc      *http.Client
	timeout time.Duration
	clock   Clock
	lim     *limiter
	log     *slog.Logger

	maxAttempts  int
	maxRetryTime time.Duration
	tempDir      string
	maxRowSize   int
	maxBodySize  int64
	maxMember    int64
	maxInflated  int64
	maxMembers   int
	downloadTime time.Duration

	// jitter returns a random duration in [0, d); replaced in tests.
	jitter func(d time.Duration) time.Duration

	// sortRejected is set once DigiCert answered 4xx to the sort parameters
	// of the history call; later calls omit them.
	sortRejected atomic.Bool

	mu        sync.Mutex
	abandoned map[string]bool // GENERATING runs RunReport gave up waiting for
	obs       Observer
}

// Secret holds the API key: every fmt verb, log/slog and text encodings
// print it as [REDACTED], so a value holding one can be logged or wrapped
// in an error safely. string(s) is the key.
type Secret string

func (Secret) String() string                 { return redacted }
func (Secret) GoString() string               { return redacted }
func (Secret) Format(f fmt.State, verb rune)  { io.WriteString(f, redacted) }
func (Secret) LogValue() slog.Value           { return slog.StringValue(redacted) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// New validates o (see Options.Validate) and builds a Client. It makes no
// network call.
func New(o Options) (*Client, error) {
	o = o.withDefaults()
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil {
		// No http.Client.Timeout: it would cap whole downloads. Timeouts are
		// applied per request instead (see send).
		hc = &http.Client{Transport: newTransport(o, r), CheckRedirect: keepKeyOnHost}
	}
	c := &Client{
		base:         r.base,
		key:          Secret(r.key),
		ua:           o.UserAgent,
		hc:           hc,
		timeout:      o.RequestTimeout,
		clock:        o.Clock,
		log:          o.Logger,
		maxAttempts:  o.MaxAttempts,
		maxRetryTime: o.MaxRetryTime,
		tempDir:      o.TempDir,
		maxRowSize:   o.MaxRowSize,
		maxBodySize:  o.MaxBodySize,
		maxMember:    o.MaxMemberSize,
		maxInflated:  o.MaxInflatedSize,
		maxMembers:   o.MaxZipMembers,
		downloadTime: o.DownloadTimeout,
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(d)))
		},
		abandoned: make(map[string]bool),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if r.insecure {
		c.log.Warn("digicert: api_base is plain http on a host that is not loopback: the API key and the audit rows cross the network unencrypted (allowed by allow_insecure_http); use https outside a test setup", "api_base", r.base)
	}
	if c.obs = o.Observer; c.obs == nil {
		c.obs = nopObserver{}
	}
	switch {
	case o.RateLimit == nil && o.Clock == SystemClock:
		c.lim = sharedLimiter(c.key, DefaultRateLimit())
	case o.RateLimit == nil:
		c.lim = newLimiter(DefaultRateLimit(), o.Clock)
	default:
		c.lim = newLimiter(o.RateLimit, o.Clock)
	}
	return c, nil
}

// String describes the client without its API key.
func (c *Client) String() string {
	return fmt.Sprintf("digicert.Client{base: %s, api key: %s, user agent: %q}", c.base, redacted, c.ua)
}

// GoString is String: the client's fields include the API key.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb, so %+v cannot reach the key.
func (c *Client) Format(f fmt.State, verb rune) { io.WriteString(f, c.String()) }

// LogValue renders the client for log/slog without its API key.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// resolveBaseURL checks and completes the base URL. Plain http would send
// the key in clear: it is accepted on a loopback host (a local simulator or
// a sidecar), or anywhere with allowInsecure; insecure reports that last case.
func resolveBaseURL(s string, allowInsecure bool) (base string, insecure bool, err error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false, optionErr("BaseURL", "%q is not a base URL such as %s (http or https; no user info, query or fragment)", RedactURL(s), DefaultBaseURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		if !allowInsecure {
			return "", false, optionErr("BaseURL", "%q is plain http: the API key would cross the network unencrypted: use https (default %s), or set allow_insecure_http true for a test server on a trusted network", s, DefaultBaseURL)
		}
		insecure = true
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/reports/v1") {
		p += "/reports/v1"
	}
	u.Path, u.RawPath = p, ""
	return u.String(), insecure, nil
}

// isLoopback: "localhost" or a loopback IP literal. Other names are not
// resolved: what a name points at can change.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keepKeyOnHost follows redirects but sends the API key only to the host
// (and scheme) it was meant for: net/http would forward a custom header
// like X-DC-DEVKEY to any host, e.g. a storage URL a download redirects to.
func keepKeyOnHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if first := via[0].URL; req.URL.Host != first.Host || req.URL.Scheme != first.Scheme {
		req.Header.Del("X-DC-DEVKEY")
	}
	return nil
}

func newTransport(o Options, r resolved) *http.Transport {
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		tr = &http.Transport{}
	}
	tr = tr.Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if r.proxy != nil {
		tr.Proxy = http.ProxyURL(r.proxy)
	}
	// Verification stays on: there is deliberately no option to skip it.
	tr.TLSClientConfig = &tls.Config{RootCAs: r.roots, MinVersion: tls.VersionTLS12}
	tr.ResponseHeaderTimeout = o.RequestTimeout
	return tr
}
