package secopsout

import (
	"maps"
	"sync"
	"time"
)

// Stats are an output's counters since New, for Fluent Bit metrics.
type Stats struct {
	ObjectsStored  uint64            // objects written
	AlreadyStored  uint64            // flushes answered 412: an earlier attempt had stored the object
	Records        uint64            // records written into objects
	RecordsSkipped uint64            // records that could not be written (body not a map)
	NDJSONBytes    uint64            // uncompressed bytes of stored objects
	GzipBytes      uint64            // compressed bytes of stored objects
	Uploads        uint64            // flushes that made at least one request (any outcome)
	UploadSeconds  float64           // time those flushes took (encoding and upload), summed
	Retries        map[string]uint64 // flushes answered RETRY, by cause (RetryCauses)
	Errors         map[string]uint64 // flushes answered ERROR (chunk dropped), by cause (ErrorCauses)
}

// statsBox guards the counters; a flush takes the lock once.
type statsBox struct {
	mu sync.Mutex
	s  Stats
}

func (b *statsBox) add(r Report, took time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.s
	s.RecordsSkipped += uint64(r.Skipped)
	if r.Key != "" {
		s.Uploads++
		s.UploadSeconds += took.Seconds()
	}
	switch {
	case r.Status == StatusOK && r.AlreadyStored:
		s.AlreadyStored++
	case r.Status == StatusOK && r.Key != "":
		s.ObjectsStored++
		s.Records += uint64(r.Records - r.Skipped)
		s.NDJSONBytes += uint64(r.NDJSONBytes)
		s.GzipBytes += uint64(r.StoredBytes)
	case r.Status == StatusRetry:
		if s.Retries == nil {
			s.Retries = map[string]uint64{}
		}
		s.Retries[r.Cause]++
	case r.Status == StatusError:
		if s.Errors == nil {
			s.Errors = map[string]uint64{}
		}
		s.Errors[r.Cause]++
		if r.Stored > 0 { // a damaged chunk's readable records
			s.ObjectsStored++
			s.Records += uint64(r.Stored)
			s.NDJSONBytes += uint64(r.NDJSONBytes)
			s.GzipBytes += uint64(r.StoredBytes)
		}
	}
}

func (b *statsBox) snapshot() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	s.Retries, s.Errors = maps.Clone(s.Retries), maps.Clone(s.Errors)
	return s
}

// logLimiter lets one line per cause through per interval and counts the
// lines it held back, so a bucket that stays wrong for hours does not flood
// the log with one error per flush and retry.
type logLimiter struct {
	mu    sync.Mutex
	every time.Duration
	now   func() time.Time
	seen  map[string]*limitState
}

type limitState struct {
	at         time.Time
	suppressed int
}

// logEvery is how often a repeated failure of one cause is logged.
const logEvery = time.Minute

func newLogLimiter(every time.Duration, now func() time.Time) *logLimiter {
	return &logLimiter{every: every, now: now, seen: map[string]*limitState{}}
}

// allow reports whether a line for cause may be logged now, and how many
// were held back since the last one.
func (l *logLimiter) allow(cause string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := l.seen[cause]
	if st == nil {
		l.seen[cause] = &limitState{at: now}
		return true, 0
	}
	if now.Sub(st.at) < l.every {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.at, st.suppressed = now, 0
	return true, n
}
