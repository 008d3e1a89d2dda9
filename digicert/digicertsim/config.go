package digicertsim

import (
	"log/slog"
	"time"
)

// Date formats for the "Date and time (UTC)" column (DigiCert's
// documentation does not say which one it emits).
const (
	DateFormatName    = "name"    // 06-Feb-2025 10:28:04
	DateFormatNumeric = "numeric" // 06-02-2025 10:28:04
)

// History orders (the real server's default order is undocumented).
const (
	OrderNewestFirst = "newest"
	OrderOldestFirst = "oldest"
	OrderShuffled    = "shuffled" // deterministic from Seed
)

// DefaultStart is the simulated clock start when Config.Start is zero.
var DefaultStart = time.Date(2025, 2, 6, 0, 0, 0, 0, time.UTC)

// Config configures a Server. Zero values select the defaults noted.
type Config struct {
	// APIKey is the only full-access X-DC-DEVKEY value; any other key gets
	// 403 access_denied|access_denied_invalid_key. Required.
	APIKey string
	// ViewOnlyKeys may GET but get 403 access_denied|missing_permission on POST.
	ViewOnlyKeys []string
	// Seed makes events, run ids and shuffles deterministic.
	Seed int64
	// Start is the simulated clock at New (UTC). Default DefaultStart.
	Start time.Time
	// Backlog makes events exist from Start-Backlog, so a first run already
	// has rows. Default 0 (events begin at Start).
	Backlog time.Duration
	// Speed > 0 makes the simulated clock also advance with wall time,
	// Speed simulated seconds per wall second (the binary uses 1). 0 (the
	// default, for tests) moves the clock only through Advance.
	Speed float64
	// EventsPerHour is the mean audit-event rate. Default 60.
	EventsPerHour int
	// DuplicateEvery makes about one event in DuplicateEvery an exact
	// duplicate of its predecessor (same second, same fields), as real audit
	// logs have. Default 50; negative disables duplicates.
	DuplicateEvery int
	// Window is the span each run covers: [now-Window, now]. Default 24h.
	Window time.Duration
	// DateFormat is DateFormatName (default) or DateFormatNumeric.
	DateFormat string

	// GenerateDelay is the simulated time a run stays GENERATING. Default 0.
	GenerateDelay time.Duration
	// ReadyAfterPolls keeps a run GENERATING until this many history
	// requests have been served after its creation (lets tests avoid
	// sleeping). Both conditions must hold for READY. Default 0.
	ReadyAfterPolls int
	// HistoryLag hides a new run from the first HistoryLag history requests
	// after its creation (how soon a run appears is unconfirmed). Default 0.
	HistoryLag int
	// ReturnRunIDOnPost makes POST …/run answer 201 {"report_run_identifier":…};
	// otherwise it answers PostStatus with body {}.
	ReturnRunIDOnPost bool
	// PostStatus is the status of a bodiless POST …/run. Default 201.
	PostStatus int
	// RejectPostWhileGenerating answers POST …/run with 400 while a run of
	// the same report is GENERATING, instead of starting a second run.
	RejectPostWhileGenerating bool

	// ZipThreshold: JSON bodies larger than this are sent as ZIP. Default 2 MiB.
	ZipThreshold int
	// SplitRows is the maximum rows per file; more make a split run.
	// Default 1,000,000 (audit logs).
	SplitRows int
	// JSONAllParts makes /json of a split run return every row; by default
	// it returns only the first part (the pessimistic reading: DigiCert does not
	// document what /json of a split run returns).
	JSONAllParts bool
	// ZipMembers > 1 spreads each ZIP's rows over that many .json members.
	ZipMembers int
	// ZipReadme adds a README.txt member (first) to every ZIP.
	ZipReadme bool
	// ZipContentType is the Content-Type of ZIP bodies. Default
	// "application/zip"; set e.g. "application/octet-stream" to test sniffing.
	ZipContentType string

	// Reports are the audit-logs report ids served with format ["JSON"].
	// Default one fixed UUID (DefaultReportID). Other reports (other types,
	// another audit-logs report) are always mixed into history.
	Reports []string
	// NoScheduledEntries removes the SCHEDULED history records without a
	// run id that are otherwise listed for every report.
	NoScheduledEntries bool
	// HistoryOrder is OrderNewestFirst (default), OrderOldestFirst or OrderShuffled.
	HistoryOrder string
	// HistoryMaxLimit caps the history page size (the real maximum is
	// unknown). Default 200.
	HistoryMaxLimit int

	// Logger, if set, receives one line per request (never the key).
	Logger *slog.Logger
}

// DefaultReportID is the audit-logs report served when Config.Reports is empty.
const DefaultReportID = "5c0e62b0-3b6f-4e0a-9d7e-2a5f3c1d9e01"

func (c Config) withDefaults() Config {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC().Truncate(time.Second)
	if c.EventsPerHour <= 0 {
		c.EventsPerHour = 60
	}
	if c.DuplicateEvery == 0 {
		c.DuplicateEvery = 50
	}
	if c.Window <= 0 {
		c.Window = 24 * time.Hour
	}
	if c.DateFormat == "" {
		c.DateFormat = DateFormatName
	}
	if c.PostStatus == 0 {
		c.PostStatus = 201
	}
	if c.ZipThreshold <= 0 {
		c.ZipThreshold = 2 << 20
	}
	if c.SplitRows <= 0 {
		c.SplitRows = 1000000
	}
	if c.ZipContentType == "" {
		c.ZipContentType = "application/zip"
	}
	if len(c.Reports) == 0 {
		c.Reports = []string{DefaultReportID}
	}
	if c.HistoryOrder == "" {
		c.HistoryOrder = OrderNewestFirst
	}
	if c.HistoryMaxLimit <= 0 {
		c.HistoryMaxLimit = 200
	}
	return c
}
