package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

// options are the command-line settings; every flag can also be set with
// the environment variable DIGICERT_SIM_<FLAG> (upper case, '-' → '_').
type options struct {
	listen        string
	apiKeyFile    string
	scheduleEvery time.Duration
	healthcheck   bool
	cfg           digicertsim.Config
	start         string
	reports       string
	viewOnly      string
	faults        string
	parsedFaults  []digicertsim.Fault
}

// envName maps a flag name to its environment variable.
func envName(flagName string) string {
	return "DIGICERT_SIM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	c := &o.cfg
	fs := flag.NewFlagSet("digicert-sim", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", ":8080", "listen address")
	fs.StringVar(&c.APIKey, "api-key", "", "accepted X-DC-DEVKEY value (prefer the environment variable or -api-key-file)")
	fs.StringVar(&o.apiKeyFile, "api-key-file", "", "file holding the accepted key")
	fs.StringVar(&o.viewOnly, "view-only-keys", "", "comma-separated view-only keys (GET only)")
	fs.Int64Var(&c.Seed, "seed", 1, "seed of the generated events and ids")
	fs.StringVar(&o.start, "start", "", "simulated clock start, RFC 3339 (default: now)")
	fs.Float64Var(&c.Speed, "speed", 1, "simulated seconds per wall second")
	fs.IntVar(&c.EventsPerHour, "events-per-hour", 60, "mean audit events per simulated hour")
	fs.IntVar(&c.DuplicateEvery, "duplicate-every", 50, "about one event in N is an exact duplicate (negative: none)")
	fs.DurationVar(&c.Window, "window", 24*time.Hour, "time span each run covers")
	fs.DurationVar(&c.Backlog, "backlog", 24*time.Hour, "events exist from start minus this")
	fs.StringVar(&c.DateFormat, "date-format", digicertsim.DateFormatName, `"name" (06-Feb-2025 10:28:04) or "numeric" (06-02-2025 10:28:04)`)
	fs.DurationVar(&c.GenerateDelay, "generate-delay", 30*time.Second, "simulated time a run stays GENERATING")
	fs.IntVar(&c.ReadyAfterPolls, "ready-after-polls", 0, "also keep runs GENERATING for this many history requests")
	fs.IntVar(&c.HistoryLag, "history-lag", 0, "hide new runs from this many history requests")
	fs.BoolVar(&c.ReturnRunIDOnPost, "return-run-id", false, "POST …/run answers 201 with report_run_identifier (else an empty {} body)")
	fs.IntVar(&c.PostStatus, "post-status", 201, "status of the bodiless POST …/run answer")
	fs.BoolVar(&c.RejectPostWhileGenerating, "reject-post-while-generating", false, "answer POST …/run with 400 while a run is GENERATING")
	fs.IntVar(&c.ZipThreshold, "zip-threshold", 2<<20, "JSON bodies above this many bytes are sent as ZIP")
	fs.IntVar(&c.SplitRows, "split-rows", 1000000, "rows per file; more make a split run")
	fs.BoolVar(&c.JSONAllParts, "json-all-parts", false, "/json of a split run returns every part (default: first part only)")
	fs.IntVar(&c.ZipMembers, "zip-members", 1, ".json members per ZIP")
	fs.BoolVar(&c.ZipReadme, "zip-readme", false, "add a README.txt member to every ZIP")
	fs.StringVar(&o.reports, "reports", digicertsim.DefaultReportID, "comma-separated audit-logs report ids")
	fs.StringVar(&c.HistoryOrder, "history-order", digicertsim.OrderNewestFirst, "newest, oldest or shuffled")
	fs.DurationVar(&o.scheduleEvery, "schedule-every", 0, "start a scheduled run of every report each time this much simulated time passes (0: never)")
	fs.StringVar(&o.faults, "faults", "", "faults to inject at start, separated by ';', each a kind and key=value settings, e.g. \"bad-row,row=utf8,times=3;trickle,rate=64\" (kinds: rate-limit, status, reset, truncate, slow-body, delay, fail-run, stuck-run, bad-row, trickle, overlap-zip, repeat-page; see digicertsim.ParseFault)")
	fs.BoolVar(&o.healthcheck, "healthcheck", false, "probe http://<listen>/healthz and exit 0 if it answers 200 (for container health checks)")

	// Environment first, so explicit flags win.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, o.finish()
}

// finish resolves the derived settings and checks them.
func (o *options) finish() error {
	c := &o.cfg
	if o.healthcheck {
		return nil
	}
	if o.apiKeyFile != "" {
		b, err := os.ReadFile(o.apiKeyFile)
		if err != nil {
			return fmt.Errorf("api-key-file: %w", err)
		}
		c.APIKey = strings.TrimSpace(string(b))
	}
	if c.APIKey == "" {
		return fmt.Errorf("api key required: set %s, -api-key-file or -api-key", envName("api-key"))
	}
	c.Start = time.Now().UTC()
	if o.start != "" {
		t, err := time.Parse(time.RFC3339, o.start)
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		c.Start = t
	}
	if c.Speed < 0 {
		return fmt.Errorf("speed: must be >= 0, got %s", strconv.FormatFloat(c.Speed, 'g', -1, 64))
	}
	if c.DateFormat != digicertsim.DateFormatName && c.DateFormat != digicertsim.DateFormatNumeric {
		return fmt.Errorf("date-format: %q is neither %q nor %q", c.DateFormat, digicertsim.DateFormatName, digicertsim.DateFormatNumeric)
	}
	switch c.HistoryOrder {
	case digicertsim.OrderNewestFirst, digicertsim.OrderOldestFirst, digicertsim.OrderShuffled:
	default:
		return fmt.Errorf("history-order: %q is not newest, oldest or shuffled", c.HistoryOrder)
	}
	c.Reports = splitList(o.reports)
	c.ViewOnlyKeys = splitList(o.viewOnly)
	for _, spec := range strings.Split(o.faults, ";") {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		f, err := digicertsim.ParseFault(spec)
		if err != nil {
			return fmt.Errorf("faults: %w", err)
		}
		o.parsedFaults = append(o.parsedFaults, f)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
