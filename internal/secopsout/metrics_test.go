package secopsout

import (
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// The metrics count what Stats counts, for every kind of outcome.
func TestObserveMatchesStats(t *testing.T) {
	if err := metrics.Check(MetricDescs()); err != nil {
		t.Fatal(err)
	}
	rec := metrics.NewRecording(MetricDescs())
	o := &Output{}
	o.SetMetrics(rec)
	var box statsBox
	for _, r := range []Report{
		{Status: StatusOK, Key: "a", Records: 3, NDJSONBytes: 300, StoredBytes: 90},
		{Status: StatusOK, Key: "a", Records: 3, AlreadyStored: true},
		{Status: StatusRetry, Key: "b", Records: 3, Cause: CauseThrottled},
		{Status: StatusRetry, Key: "b", Records: 3, Cause: CauseAccessDenied},
		{Status: StatusError, Key: "c", Records: 4, Stored: 2, NDJSONBytes: 20, StoredBytes: 9, Cause: CauseCorruptChunk},
		{Status: StatusOK, Key: "d", Records: 5, Skipped: 1, NDJSONBytes: 40, StoredBytes: 12},
		{Status: StatusOK}, // no records: nothing stored, no request
	} {
		o.observe(r, 0)
		box.add(r, 0)
	}
	s := box.snapshot()
	for k, want := range map[[2]string]uint64{
		{MetricObjects, ObjectStored}: s.ObjectsStored, {MetricObjects, ObjectAlreadyStored}: s.AlreadyStored,
		{MetricRetries, CauseThrottled}: s.Retries[CauseThrottled], {MetricRetries, CauseAccessDenied}: s.Retries[CauseAccessDenied],
		{MetricErrors, CauseCorruptChunk}: s.Errors[CauseCorruptChunk], {MetricRecordsSkipped, ""}: s.RecordsSkipped,
		{MetricNDJSONBytes, ""}: s.NDJSONBytes, {MetricGzipBytes, ""}: s.GzipBytes,
	} {
		if got := rec.Value(k[0], k[1]); got != float64(want) || want == 0 {
			t.Errorf("%v = %v, Stats %v", k, got, want)
		}
	}
	if errs := rec.Errors(); len(errs) > 0 {
		t.Error(errs)
	}
}
