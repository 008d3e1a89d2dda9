package digicertin

import (
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// Metric names (Fluent Bit prefixes them with fluentbit_input_ and labels
// every series with the instance name; see README "Metrics").
const (
	MetricRuns            = "digicert_runs_total"
	MetricRows            = "digicert_rows_total"
	MetricRequests        = "digicert_api_requests_total"
	MetricRateLimitWaits  = "digicert_rate_limit_waits_total"
	MetricDownloadedBytes = "digicert_downloaded_bytes_total"
	MetricLastSuccess     = "digicert_last_success_timestamp_seconds"
	MetricNewestEvent     = "digicert_newest_event_timestamp_seconds"
	MetricBufferedBytes   = "digicert_buffered_bytes"
	MetricCheckpointErrs  = "digicert_checkpoint_write_errors_total"
)

// Label values of the labelled metrics.
const (
	RunShipped = "shipped"
	RunFailed  = "failed"
	RunGivenUp = "given_up"

	RowsEmitted         = "emitted"
	RowsSkippedShipped  = "skipped_shipped"
	RowsSkippedOld      = "skipped_old"
	RowsRepaired        = "repaired"
	RowsSkippedInvalid  = "skipped_invalid"
	RowsUnparseableTime = "unparseable_time"
)

// StatusClasses are the values of digicert_api_requests_total's status
// label: the HTTP status class, "429" on its own (rate limiting is what an
// operator watches), and "error" for no answer at all.
var StatusClasses = []string{"2xx", "3xx", "4xx", "429", "5xx", "error"}

// MetricDescs declares the input's metrics.
func MetricDescs() []metrics.Desc {
	return []metrics.Desc{
		{Name: MetricRuns, Help: "Report runs handled, by result: shipped (every new row queued), failed (retried later), given_up (failed at every poll).",
			Kind: metrics.Counter, Label: "result", Values: []string{RunShipped, RunFailed, RunGivenUp}},
		{Name: MetricRows, Help: "Report rows read, by outcome. unparseable_time rows are also emitted.",
			Kind: metrics.Counter, Label: "outcome", Values: []string{RowsEmitted, RowsSkippedShipped, RowsSkippedOld, RowsRepaired, RowsSkippedInvalid, RowsUnparseableTime}},
		{Name: MetricRequests, Help: "DigiCert API requests, by HTTP status class (error: no answer).",
			Kind: metrics.Counter, Label: "status", Values: StatusClasses},
		{Name: MetricRateLimitWaits, Help: "Times a request waited for DigiCert's rate limit (client-side limiter or HTTP 429).", Kind: metrics.Counter},
		{Name: MetricDownloadedBytes, Help: "Bytes of report files downloaded from DigiCert.", Kind: metrics.Counter},
		{Name: MetricLastSuccess, Help: "Unix time of the last poll that ended without error (runs shipped, or none new).", Kind: metrics.Gauge},
		{Name: MetricNewestEvent, Help: "Unix time of the newest event time among the rows queued for Fluent Bit.", Kind: metrics.Gauge},
		{Name: MetricBufferedBytes, Help: "Bytes queued in the plugin, not yet handed to Fluent Bit.", Kind: metrics.Gauge},
		{Name: MetricCheckpointErrs, Help: "Failed writes of the checkpoint (journal or snapshot).", Kind: metrics.Counter},
	}
}

// SetMetrics makes the engine report to s (call before Start).
func (e *Engine) SetMetrics(s metrics.Sink) {
	e.m = metrics.Or(s)
	e.cp.m = e.m
	if e.obs != nil {
		e.obs.m = e.m
	}
}

// noteBuffered updates the buffered-bytes gauge.
func (e *Engine) noteBuffered() {
	queued, _ := e.buf.stats()
	e.m.Set(MetricBufferedBytes, "", float64(queued))
}

// statusClass is the status label of an HTTP status (0: no answer).
func statusClass(status int) string {
	switch {
	case status == 0:
		return "error"
	case status == 429:
		return "429"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	default:
		return "2xx"
	}
}

// apiObserver reports the DigiCert client's requests to a metrics sink.
type apiObserver struct{ m metrics.Sink }

func (o *apiObserver) Response(status int)         { o.m.Add(MetricRequests, statusClass(status), 1) }
func (o *apiObserver) RateLimitWait(time.Duration) { o.m.Add(MetricRateLimitWaits, "", 1) }
func (o *apiObserver) Downloaded(n int64)          { o.m.Add(MetricDownloadedBytes, "", float64(n)) }

// runMetrics reports one run's row counts and result.
// An empty result (the run was interrupted by a stop) counts only rows.
func (e *Engine) runMetrics(st *runStats, result string) {
	if result != "" {
		e.m.Add(MetricRuns, result, 1)
	}
	for _, c := range []struct {
		v string
		n int
	}{{RowsEmitted, st.emitted}, {RowsSkippedShipped, st.shipped}, {RowsSkippedOld, st.old},
		{RowsRepaired, int(st.rows.Repaired())}, {RowsSkippedInvalid, st.malformed + int(st.rows.Skipped())},
		{RowsUnparseableTime, st.untimed}} {
		if c.n > 0 {
			e.m.Add(MetricRows, c.v, float64(c.n))
		}
	}
	if st.newest > 0 && st.newest > e.p.newestSent {
		e.p.newestSent = st.newest
		e.m.Set(MetricNewestEvent, "", float64(st.newest))
	}
}
