package digicert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Run statuses in report history. SCHEDULED marks a scheduled report, not a run.
const (
	StatusScheduled  = "SCHEDULED"
	StatusGenerating = "GENERATING"
	StatusReady      = "READY"
	StatusFailed     = "FAILED"
)

// Run is one report-history record.
type Run struct {
	ReportID, RunID, DisplayName, ReportType, Status, Schedule string
	// CreatedDate, StartDate and EndDate are as DigiCert sends them
	// ("2021-01-13 09:15:37", zone unknown): good only for ordering runs
	// relative to each other, never for comparing with a clock.
	CreatedDate, StartDate, EndDate string
	Format                          []string
	SplitReportCount                int // number of files the run was split into; 0 or 1 = one file
	ManuallyTriggered               bool
}

// Parts is the number of files to download for the run.
func (r Run) Parts() int { return max(r.SplitReportCount, 1) }

// HistoryQuery selects runs from report history.
type HistoryQuery struct {
	ReportID   string   // filter on the client (the API has no such filter); "" = all reports
	Statuses   []string // server filter, re-checked on the client; empty = all
	ReportType string   // server filter, re-checked on the client, e.g. "audit-logs"
	PageSize   int      // 1..100, default 100
}

const (
	maxPageSize     = 100
	maxHistoryPages = 10000 // 1,000,000 records: far beyond 90 days of runs
)

// History returns every matching run from all pages of report history,
// oldest first (see sortRuns), without records that have no run id
// (scheduled reports) and without duplicates from pages shifting while read.
func (c *Client) History(ctx context.Context, q HistoryQuery) ([]Run, error) {
	var runs []Run
	err := c.scanHistory(ctx, q, func(r Run) bool {
		runs = append(runs, r)
		return true
	})
	if err != nil {
		return nil, err
	}
	sortRuns(runs)
	return runs, nil
}

// findRun looks up one run, stopping at the page that holds it.
func (c *Client) findRun(ctx context.Context, reportID, runID string) (Run, bool, error) {
	var found Run
	var ok bool
	err := c.scanHistory(ctx, HistoryQuery{ReportID: reportID}, func(r Run) bool {
		if r.RunID == runID {
			found, ok = r, true
			return false
		}
		return true
	})
	return found, ok, err
}

// historyRecord is the wire form; flexible types because the field types
// beyond DigiCert's one example are unconfirmed.
type historyRecord struct {
	ReportIdentifier    string      `json:"report_identifier"`
	ReportRunIdentifier string      `json:"report_run_identifier"`
	ReportDisplayName   string      `json:"report_display_name"`
	ReportType          string      `json:"report_type"`
	Status              string      `json:"status"`
	Schedule            string      `json:"schedule"`
	CreatedDate         string      `json:"created_date"`
	ReportStartDate     string      `json:"report_start_date"`
	ReportEndDate       string      `json:"report_end_date"`
	Format              flexStrings `json:"format"`
	SplitReportCount    flexInt     `json:"split_report_count"`
	ManuallyTriggered   flexBool    `json:"manually_triggered"`
}

type historyPage struct {
	Page struct {
		Total  flexInt `json:"total"`
		Limit  flexInt `json:"limit"`
		Offset flexInt `json:"offset"`
	} `json:"page"`
	ReportHistory []historyRecord `json:"report_history"`
}

func (h historyRecord) run() Run {
	return Run{
		ReportID: h.ReportIdentifier, RunID: h.ReportRunIdentifier, DisplayName: h.ReportDisplayName,
		ReportType: h.ReportType, Status: strings.ToUpper(h.Status), Schedule: h.Schedule,
		CreatedDate: h.CreatedDate, StartDate: h.ReportStartDate, EndDate: h.ReportEndDate,
		Format: h.Format, SplitReportCount: int(h.SplitReportCount), ManuallyTriggered: bool(h.ManuallyTriggered),
	}
}

func (q HistoryQuery) matches(r Run) bool {
	if r.RunID == "" || (q.ReportID != "" && r.ReportID != q.ReportID) {
		return false
	}
	if q.ReportType != "" && r.ReportType != "" && !strings.EqualFold(r.ReportType, q.ReportType) {
		return false
	}
	return len(q.Statuses) == 0 || slices.ContainsFunc(q.Statuses, func(s string) bool { return strings.EqualFold(s, r.Status) })
}

// scanHistory pages through history, calling fn for each matching run in
// page order until fn returns false. Paging stops at page.total, at an empty
// page, or at a page that brings nothing new (a server ignoring offset).
func (c *Client) scanHistory(ctx context.Context, q HistoryQuery, fn func(Run) bool) error {
	limit := q.PageSize
	if limit <= 0 || limit > maxPageSize {
		limit = maxPageSize
	}
	seen := make(map[string]bool)
	pages := make(map[[sha256.Size]byte]bool)
	offset := 0
	for range maxHistoryPages {
		page, err := c.historyPage(ctx, q, offset, limit)
		if err != nil {
			return err
		}
		if len(page.ReportHistory) == 0 {
			return nil
		}
		// A page seen before (a server ignoring offset) ends the listing,
		// even one of records without run ids, which the check on new
		// runs below cannot catch.
		fp := pageFingerprint(page.ReportHistory)
		if pages[fp] {
			c.log.Warn("digicert: report history repeated a page; stopping there", "offset", offset)
			return nil
		}
		pages[fp] = true
		withID, fresh := 0, 0
		for _, rec := range page.ReportHistory {
			r := rec.run()
			if r.RunID == "" {
				continue // a scheduled report, not a run
			}
			withID++
			k := r.ReportID + "\x00" + r.RunID
			if seen[k] {
				continue
			}
			seen[k] = true
			fresh++
			if q.matches(r) && !fn(r) {
				return nil
			}
		}
		offset += len(page.ReportHistory)
		if (withID > 0 && fresh == 0) || (page.Page.Total > 0 && offset >= int(page.Page.Total)) {
			return nil
		}
	}
	c.log.Warn("digicert: report history paging stopped at the page limit", "pages", maxHistoryPages)
	return nil
}

// pageFingerprint identifies a page by its records.
func pageFingerprint(recs []historyRecord) [sha256.Size]byte {
	h := sha256.New()
	for _, r := range recs {
		fmt.Fprintf(h, "%q %q %q %q %q\n", r.ReportIdentifier, r.ReportRunIdentifier, r.ReportDisplayName, r.Status, r.CreatedDate)
	}
	var fp [sha256.Size]byte
	h.Sum(fp[:0])
	return fp
}

// historyPage fetches one page. It asks DigiCert to sort newest first, which
// lets lookups of recent runs stop at the first page; sort_by values are
// undocumented, so a 4xx naming them makes the client drop them for good
// (runs are sorted on the client anyway).
func (c *Client) historyPage(ctx context.Context, q HistoryQuery, offset, limit int) (historyPage, error) {
	for {
		v := url.Values{}
		v.Set("offset", strconv.Itoa(offset))
		v.Set("limit", strconv.Itoa(limit))
		if len(q.Statuses) > 0 {
			v.Set("status", strings.Join(q.Statuses, ","))
		}
		if q.ReportType != "" {
			v.Set("report_type", q.ReportType)
		}
		sorted := !c.sortRejected.Load()
		if sorted {
			v.Set("sort_by", "report_start_date")
			v.Set("sort_direction", "DESC")
		}
		var page historyPage
		err := c.getJSON(ctx, call{target: target{op: "list report history"}, path: "/report/history", query: v}, &page)
		var apiErr *APIError
		if sorted && errors.As(err, &apiErr) && isRequestRejected(apiErr.Status) {
			c.sortRejected.Store(true)
			c.log.Info("digicert: history sort parameters rejected, sorting on the client only", "status", apiErr.Status, "code", apiErr.Code)
			continue
		}
		return page, err
	}
}

// isRequestRejected: a 4xx about the request itself, not the key, the
// route or the rate.
func isRequestRejected(status int) bool {
	return status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 && status != 429
}

// sortRuns orders runs oldest first by start date (created date when there
// is none). Runs without either go last (likely just created). Runs with
// equal dates keep DigiCert's relative order, read in the direction the
// listing runs in (newest-first listings are reversed first).
func sortRuns(runs []Run) {
	key := func(r Run) string {
		if r.StartDate != "" {
			return r.StartDate
		}
		return r.CreatedDate
	}
	up, down := 0, 0
	for i := 1; i < len(runs); i++ {
		a, b := key(runs[i-1]), key(runs[i])
		if a == "" || b == "" {
			continue
		}
		switch {
		case a < b:
			up++
		case a > b:
			down++
		}
	}
	if down > up {
		slices.Reverse(runs)
	}
	slices.SortStableFunc(runs, func(a, b Run) int {
		ka, kb := key(a), key(b)
		switch {
		case ka == kb:
			return 0
		case ka == "":
			return 1
		case kb == "":
			return -1
		}
		return strings.Compare(ka, kb)
	})
}

// flexInt accepts a JSON number, a numeric string or null.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*f = flexInt(n)
	return nil
}

// flexBool accepts a JSON bool, "true"/"false", 0/1 or null.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.ToLower(string(bytes.Trim(b, `"`)))
	*f = s == "true" || s == "1"
	return nil
}

// flexStrings accepts an array of strings, a single string or null.
type flexStrings []string

func (f *flexStrings) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = nil
		return nil
	}
	var one string
	if json.Unmarshal(b, &one) == nil {
		*f = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*f = many
	return nil
}
