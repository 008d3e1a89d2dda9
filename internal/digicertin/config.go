package digicertin

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// Mode selects how the input obtains report runs.
type Mode string

// Modes.
const (
	// ModeRun triggers a run of the report every interval (POST …/run),
	// which needs a key of a user with the Administrator role.
	ModeRun Mode = "run"
	// ModeFollow triggers nothing: it ships every new READY run of the
	// report (made by its schedule or by someone else), so a View Only key works.
	ModeFollow Mode = "follow"
)

// Defaults and limits of the configuration keys.
const (
	DefaultInterval     = time.Hour
	MinInterval         = time.Minute
	DefaultWaitTimeout  = 10 * time.Minute
	DefaultPollInterval = 10 * time.Second
	DefaultDedupWindow  = 48 * time.Hour
	MinDedupWindow      = time.Hour

	// DefaultMaxBytesPerCollect is what one 1-second Fluent Bit callback is
	// handed at most. Fluent Bit calls a Go input once a second, so this is
	// also the backfill speed: 96 MB moves a 1,000,000-row backfill (~685
	// B/row, 685 MB) in 8 callbacks, ~7 s, with Fluent Bit's peak RSS near
	// 285 MiB (batches written in place and paced to the callbacks; make
	// bench-fluentbit, docs/benchmarks.md). Fluent Bit holds up to two
	// copies of a batch while it takes it over, so a smaller value bounds
	// memory for a slower backfill (32M: ~150 MiB, ~20 s). An hourly run of
	// a busy account (thousands of rows, a few MB) goes in one callback
	// either way, and a batch's memory is only what its rows use.
	DefaultMaxBytesPerCollect = 96_000_000
	MinMaxBytesPerCollect     = 64_000
	MaxMaxBytesPerCollect     = 512_000_000
	// bufferFactor sets the default buffer_size. The poller refills a
	// taken batch well within the second until the next callback (over
	// 100 MB/s, BenchmarkEngineZipped100k), so one callback's worth keeps
	// every callback full: in real Fluent Bit a 1,000,000-row backfill took
	// the same ~21 s with a buffer of one callback's worth as with two, and
	// Fluent Bit's peak RSS fell from 375 to 312 MiB (make bench-fluentbit,
	// docs/benchmarks.md).
	bufferFactor = 1
)

// Config is the validated configuration of one in_digicert instance.
type Config struct {
	APIKey             digicert.Secret // api_key or the trimmed content of api_key_file
	APIKeyFile         string          // where APIKey came from, if a file
	ReportID           string          // report_id
	APIBase            string          // api_base
	Interval           time.Duration   // interval
	Mode               Mode            // mode
	WaitTimeout        time.Duration   // wait_timeout
	PollInterval       time.Duration   // poll_interval
	StateFile          string          // state_file
	StartTime          time.Time       // start_time; zero = no lower bound
	DedupWindow        time.Duration   // dedup_window
	HTTPProxy          string          // http_proxy
	TLSCAFile          string          // tls_ca_file
	RequestTimeout     time.Duration   // request_timeout
	MaxBytesPerCollect int             // max_bytes_per_collect
	BufferSize         int             // buffer_size
	AddMetadata        bool            // add_metadata
	DownloadTimeout    time.Duration   // download_timeout
	MaxInflatedSize    int64           // max_inflated_size
	MaxZipMembers      int             // max_zip_members
	AllowInsecureHTTP  bool            // allow_insecure_http
}

// keys lists every accepted key, in README order.
var keys = []string{
	"api_key", "api_key_file", "report_id", "api_base", "mode", "interval",
	"wait_timeout", "poll_interval", "state_file", "start_time", "dedup_window",
	"http_proxy", "tls_ca_file", "request_timeout", "max_bytes_per_collect",
	"buffer_size", "add_metadata", "download_timeout", "max_inflated_size", "max_zip_members",
	"allow_insecure_http",
}

// Keys returns every configuration key the input accepts.
func Keys() []string { return append([]string(nil), keys...) }

// LoadConfig reads and validates every key. Errors name the key and say what
// to change, e.g. `report_id: required (…)` (the log line names the plugin
// instance); they never contain the API key.
func LoadConfig(g flb.ConfigGetter) (Config, error) {
	c, err := loadConfig(g)
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

func loadConfig(g flb.ConfigGetter) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(g.Get(k)) }
	var c Config
	var err error

	key, keyFile := g.Get("api_key"), get("api_key_file")
	switch {
	case strings.TrimSpace(key) != "" && keyFile != "":
		return c, errors.New("api_key, api_key_file: set only one of them")
	case keyFile != "":
		c.APIKeyFile = keyFile
		if key, err = readKeyFile(keyFile); err != nil {
			return c, err
		}
	case strings.TrimSpace(key) == "":
		return c, errors.New("api_key: required: set api_key (e.g. ${DIGICERT_API_KEY}) or api_key_file (a file holding the key), from CertCentral > Automation > API Keys")
	}
	c.APIKey = digicert.Secret(strings.TrimSpace(key))

	c.ReportID = get("report_id")
	switch {
	case c.ReportID == "":
		return c, errors.New("report_id: required (the UUID from Reports > Report Library)")
	case strings.ContainsAny(c.ReportID, "/?#%& \t"):
		return c, fmt.Errorf("report_id: %q is not a report id (the UUID from Reports > Report Library)", c.ReportID)
	}

	if c.APIBase = strings.TrimRight(get("api_base"), "/"); c.APIBase == "" {
		c.APIBase = digicert.DefaultBaseURL
	}

	switch m := Mode(strings.ToLower(get("mode"))); m {
	case "":
		c.Mode = ModeRun
	case ModeRun, ModeFollow:
		c.Mode = m
	default:
		return c, fmt.Errorf("mode: %q is not a mode: use run (trigger a run every interval; Administrator key) or follow (ship the report's scheduled runs; View Only key is enough)", get("mode"))
	}

	if c.Interval, err = durationAtLeast(g, "interval", DefaultInterval, MinInterval, "DigiCert's rate limits and report generation time make faster polling pointless"); err != nil {
		return c, err
	}
	if c.WaitTimeout, err = durationAtLeast(g, "wait_timeout", DefaultWaitTimeout, 10*time.Second, "a report run takes at least seconds to generate"); err != nil {
		return c, err
	}
	if c.PollInterval, err = durationAtLeast(g, "poll_interval", DefaultPollInterval, time.Second, "each poll costs a request against DigiCert's rate limit"); err != nil {
		return c, err
	}
	if c.PollInterval > c.WaitTimeout {
		return c, fmt.Errorf("poll_interval: %v is longer than wait_timeout %v: make it shorter", c.PollInterval, c.WaitTimeout)
	}
	if c.DedupWindow, err = durationAtLeast(g, "dedup_window", DefaultDedupWindow, MinDedupWindow, "rows can be recorded by DigiCert out of order; a short window would skip them"); err != nil {
		return c, err
	}
	if c.RequestTimeout, err = durationAtLeast(g, "request_timeout", digicert.DefaultRequestTimeout, time.Second, "DigiCert answers take more than that"); err != nil {
		return c, err
	}

	if c.StateFile, err = checkStateFile(get("state_file")); err != nil {
		return c, err
	}
	if c.StartTime, err = parseStartTime(get("start_time")); err != nil {
		return c, err
	}
	c.HTTPProxy, c.TLSCAFile = get("http_proxy"), get("tls_ca_file")

	perCollect, err := flb.ParseSize("max_bytes_per_collect", get("max_bytes_per_collect"), DefaultMaxBytesPerCollect)
	if err != nil {
		return c, err
	}
	if perCollect < MinMaxBytesPerCollect || perCollect > MaxMaxBytesPerCollect {
		return c, fmt.Errorf("max_bytes_per_collect: %s is out of range: use 64K to 512M (default 96M)", get("max_bytes_per_collect"))
	}
	c.MaxBytesPerCollect = int(perCollect)
	bufSize, err := flb.ParseSize("buffer_size", get("buffer_size"), int64(bufferFactor*c.MaxBytesPerCollect))
	if err != nil {
		return c, err
	}
	if bufSize < perCollect || bufSize > 4*MaxMaxBytesPerCollect {
		return c, fmt.Errorf("buffer_size: %d bytes is out of range: use at least max_bytes_per_collect (%d) and at most 2G (default: max_bytes_per_collect)", bufSize, perCollect)
	}
	c.BufferSize = int(bufSize)

	if c.AddMetadata, err = flb.ParseBool("add_metadata", get("add_metadata"), false); err != nil {
		return c, err
	}
	if err := c.loadDownloadLimits(g); err != nil {
		return c, err
	}
	if c.AllowInsecureHTTP, err = flb.ParseBool("allow_insecure_http", get("allow_insecure_http"), false); err != nil {
		return c, err
	}
	// The client owns what a valid key, URL, proxy and CA file are; its
	// errors are worded here with the Fluent Bit key they come from.
	if err := c.ClientOptions(nil).Validate(); err != nil {
		var oe *digicert.OptionError
		if !errors.As(err, &oe) {
			return c, err
		}
		key := map[string]string{"APIKey": "api_key", "BaseURL": "api_base", "ProxyURL": "http_proxy", "CAFile": "tls_ca_file"}[oe.Field]
		if oe.Field == "APIKey" && c.APIKeyFile != "" {
			key = "api_key_file"
		}
		if key == "" {
			return c, err
		}
		return c, fmt.Errorf("%s: %s", key, oe.Msg)
	}
	return c, nil
}

// ClientOptions are the DigiCert client settings of this configuration.
func (c Config) ClientOptions(log *slog.Logger) digicert.Options {
	return digicert.Options{
		BaseURL:           c.APIBase,
		APIKey:            string(c.APIKey),
		RequestTimeout:    c.RequestTimeout,
		ProxyURL:          c.HTTPProxy,
		CAFile:            c.TLSCAFile,
		Logger:            log,
		DownloadTimeout:   c.DownloadTimeout,
		MaxInflatedSize:   c.MaxInflatedSize,
		MaxZipMembers:     c.MaxZipMembers,
		AllowInsecureHTTP: c.AllowInsecureHTTP,
	}
}

// loadDownloadLimits reads the bounds on one download: its duration and
// what a ZIP may hold.
func (c *Config) loadDownloadLimits(g flb.ConfigGetter) error {
	var err error
	if c.DownloadTimeout, err = durationAtLeast(g, "download_timeout", digicert.DefaultDownloadTimeout, time.Minute, "a report part is up to about 1 GB"); err != nil {
		return err
	}
	if c.DownloadTimeout < c.RequestTimeout {
		return fmt.Errorf("download_timeout: %v is shorter than request_timeout %v: make it longer", c.DownloadTimeout, c.RequestTimeout)
	}
	if c.MaxInflatedSize, err = flb.ParseSize("max_inflated_size", g.Get("max_inflated_size"), digicert.DefaultMaxInflatedSize); err != nil {
		return err
	}
	if c.MaxInflatedSize < 1<<20 {
		return fmt.Errorf("max_inflated_size: %s is below the minimum 1MiB (default 4GiB; one part of an audit report can be about 1 GB of JSON)", g.Get("max_inflated_size"))
	}
	members := strings.TrimSpace(g.Get("max_zip_members"))
	c.MaxZipMembers = digicert.DefaultMaxZipMembers
	if members != "" {
		if c.MaxZipMembers, err = strconv.Atoi(members); err != nil || c.MaxZipMembers < 1 || c.MaxZipMembers > 1_000_000 {
			return fmt.Errorf("max_zip_members: %q is not a number from 1 to 1000000 (default %d)", members, digicert.DefaultMaxZipMembers)
		}
	}
	return nil
}

// readKeyFile reads a key file. Its content never appears in an error.
func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("api_key_file: %w", err)
	}
	defer f.Close()
	// A key is ~32 characters; refuse to read a huge file by mistake.
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", fmt.Errorf("api_key_file: reading %s: %w", path, err)
	}
	if len(b) > 4096 {
		return "", fmt.Errorf("api_key_file: %s is larger than 4 KiB: it must hold only the API key", path)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("api_key_file: %s is empty: write the API key into it", path)
	}
	return key, nil
}

func durationAtLeast(g flb.ConfigGetter, key string, def, min time.Duration, why string) (time.Duration, error) {
	d, err := flb.ParseDuration(key, g.Get(key), def)
	if err != nil {
		return 0, err
	}
	if d < min {
		return 0, fmt.Errorf("%s: %v is below the minimum %v (%s)", key, d, min, why)
	}
	return d, nil
}

// checkStateFile requires the key (so the checkpoint lands on storage the
// user chose to keep) and that its directory exists.
func checkStateFile(p string) (string, error) {
	if p == "" {
		return "", errors.New("state_file: required: the checkpoint that makes every row ship exactly once across restarts; put it on persistent storage, e.g. /var/lib/fluent-bit/in_digicert-<report>.state (one file per report)")
	}
	if strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("state_file: %q is a directory: name a file in it", p)
	}
	dir := filepath.Dir(p)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("state_file: directory %s does not exist: create it on persistent storage (a volume that survives restarts)", dir)
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return "", fmt.Errorf("state_file: %q is a directory: name a file in it", p)
	}
	return p, nil
}

func parseStartTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("start_time: %q is not a time: use RFC 3339 (2025-02-06T10:00:00Z) or a date (2025-02-06, UTC midnight)", s)
}
