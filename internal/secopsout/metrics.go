package secopsout

import (
	"os"
	"strings"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// Metric names (Fluent Bit prefixes them with fluentbit_output_ and labels
// every series with the instance name; see README "Metrics").
const (
	MetricObjects        = "secops_s3_objects_total"
	MetricRetries        = "secops_s3_retries_total"
	MetricErrors         = "secops_s3_errors_total"
	MetricRecordsSkipped = "secops_s3_records_skipped_total"
	MetricNDJSONBytes    = "secops_s3_ndjson_bytes_total"
	MetricGzipBytes      = "secops_s3_gzip_bytes_total"
	MetricUploadSeconds  = "secops_s3_upload_seconds_total"
)

// Label values of secops_s3_objects_total.
const (
	ObjectStored        = "stored"
	ObjectAlreadyStored = "already_stored"
)

// MetricDescs declares the output's metrics: the counters of Stats, as
// Fluent Bit metrics.
func MetricDescs() []metrics.Desc {
	return []metrics.Desc{
		{Name: MetricObjects, Help: "Chunks stored as S3 objects, by result: stored (written now), already_stored (412: an earlier attempt had stored it).",
			Kind: metrics.Counter, Label: "result", Values: []string{ObjectStored, ObjectAlreadyStored}},
		{Name: MetricRetries, Help: "Flushes answered RETRY (the chunk is kept), by cause.", Kind: metrics.Counter, Label: "cause", Values: RetryCauses()},
		{Name: MetricErrors, Help: "Flushes answered ERROR (Fluent Bit drops the chunk), by cause.", Kind: metrics.Counter, Label: "cause", Values: ErrorCauses()},
		{Name: MetricRecordsSkipped, Help: "Records that could not be written (not a map of fields); the chunk's other records are stored.", Kind: metrics.Counter},
		{Name: MetricNDJSONBytes, Help: "NDJSON bytes of the stored objects, before compression.", Kind: metrics.Counter},
		{Name: MetricGzipBytes, Help: "Compressed bytes sent to S3 for stored objects.", Kind: metrics.Counter},
		{Name: MetricUploadSeconds, Help: "Seconds spent encoding and uploading chunks that made a request (every attempt).", Kind: metrics.Counter},
	}
}

// SetMetrics makes the output report to s.
func (o *Output) SetMetrics(s metrics.Sink) { o.m = metrics.Or(s) }

// observe reports one flush, counted as Stats counts it.
func (o *Output) observe(r Report, took time.Duration) {
	m := metrics.Or(o.m)
	if r.Skipped > 0 {
		m.Add(MetricRecordsSkipped, "", float64(r.Skipped))
	}
	if r.Key != "" {
		m.Add(MetricUploadSeconds, "", took.Seconds())
	}
	stored := func() {
		m.Add(MetricObjects, ObjectStored, 1)
		m.Add(MetricNDJSONBytes, "", float64(r.NDJSONBytes))
		m.Add(MetricGzipBytes, "", float64(r.StoredBytes))
	}
	switch {
	case r.Status == StatusOK && r.AlreadyStored:
		m.Add(MetricObjects, ObjectAlreadyStored, 1)
	case r.Status == StatusOK && r.Key != "":
		stored()
	case r.Status == StatusRetry:
		m.Add(MetricRetries, r.Cause, 1)
	case r.Status == StatusError:
		m.Add(MetricErrors, r.Cause, 1)
		if r.Stored > 0 { // a damaged chunk's readable records
			stored()
		}
	}
}

// EnvSecrets returns the AWS secrets in the environment, for the logger to
// scrub (the SDK reads them; they must never reach a log line).
func EnvSecrets() []string {
	var out []string
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Secrets returns the secret parts of the credentials the output checked at
// start (from whatever source), for the logger to scrub.
func (o *Output) Secrets() []string { return o.secrets }
