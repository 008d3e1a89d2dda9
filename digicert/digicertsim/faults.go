package digicertsim

import (
	"path"
	"strings"
	"time"
)

// FaultKind selects what an injected Fault does.
type FaultKind int

// Fault kinds. Request faults replace or damage the response of a matching
// request; run faults (FaultFailRun, FaultStuckRun) apply to the next run
// created for a matching report.
const (
	// FaultRateLimit answers 429 request_limit_exceeded, with a Retry-After
	// header only when Fault.RetryAfter is set.
	FaultRateLimit FaultKind = iota + 1
	// FaultStatus answers Fault.Status (default 503). 500 carries a JSON
	// error body; 502, 503 and 504 an HTML body, as proxies send.
	FaultStatus
	// FaultReset hijacks the connection and closes it with a TCP reset
	// before any response (needs a real server, e.g. httptest.Server).
	// net/http clients transparently retry an idempotent request once when
	// a reused keep-alive connection fails this way; use Times 2 (or fresh
	// connections) to make sure the client sees the error.
	FaultReset
	// FaultTruncate serves only the first Fault.After bytes of the body
	// (default half). With Fault.Abort the declared Content-Length is the
	// full size and the connection is dropped (unexpected EOF); without it
	// the short body is a complete, well-formed HTTP response.
	FaultTruncate
	// FaultSlowBody writes each body write (bodies go out in 64 KiB writes)
	// in up to 16 flushed pieces with Fault.Delay (wall time, default 5ms)
	// after each.
	FaultSlowBody
	// FaultDelay waits Fault.Delay (wall time) before answering normally,
	// or until the client gives up.
	FaultDelay
	// FaultFailRun makes the next matching run end FAILED.
	FaultFailRun
	// FaultStuckRun keeps the next matching run GENERATING forever.
	FaultStuckRun
)

var faultNames = map[FaultKind]string{
	FaultRateLimit: "rate-limit", FaultStatus: "status", FaultReset: "reset",
	FaultTruncate: "truncate", FaultSlowBody: "slow-body", FaultDelay: "delay",
	FaultFailRun: "fail-run", FaultStuckRun: "stuck-run",
}

// String returns the kind's short name.
func (k FaultKind) String() string {
	if n, ok := faultNames[k]; ok {
		return n
	}
	return "fault"
}

var (
	runFaultKinds     = []FaultKind{FaultFailRun, FaultStuckRun}
	requestFaultKinds = []FaultKind{FaultRateLimit, FaultStatus, FaultReset, FaultTruncate, FaultSlowBody, FaultDelay}
)

// Fault is one injected failure. Faults are queued by Inject and consumed
// in order: each request (or run creation) takes the first queued fault of
// a fitting kind whose Method and Path match it.
type Fault struct {
	Kind FaultKind
	// Path restricts the fault to matching URL paths: a pattern with '*'
	// is matched with path.Match against the whole path (e.g.
	// "/reports/v1/report/*/*/json"), anything else as a substring
	// ("/history", "/download"). Empty matches every path. Run faults are
	// matched against "/reports/v1/report/{id}/run".
	Path string
	// Method restricts the fault to one HTTP method; empty matches all.
	Method string
	// Times is how many matching requests the fault affects (default 1),
	// e.g. Times 3 with Status 502 is a burst of three 502s.
	Times int
	// Status is the HTTP status for FaultStatus (default 503).
	Status int
	// RetryAfter is the Retry-After header value for FaultRateLimit; empty
	// sends none (the documented behaviour).
	RetryAfter string
	// After is the number of body bytes FaultTruncate lets through.
	After int
	// Abort makes FaultTruncate drop the connection mid-body.
	Abort bool
	// Delay is the wall-time pause of FaultSlowBody and FaultDelay.
	Delay time.Duration
}

func (f Fault) matches(method, p string) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, method) {
		return false
	}
	switch {
	case f.Path == "":
		return true
	case strings.Contains(f.Path, "*"):
		ok, _ := path.Match(f.Path, p)
		return ok
	default:
		return strings.Contains(p, f.Path)
	}
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// PendingFaults returns how many queued faults are not used up yet.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// takeFault consumes one use of the first queued fault of one of kinds
// matching the request. Callers hold s.mu.
func (s *Server) takeFault(kinds []FaultKind, method, p string) (Fault, bool) {
	for i, f := range s.faults {
		if !hasKind(kinds, f.Kind) || !f.matches(method, p) {
			continue
		}
		s.faults[i].Times--
		if s.faults[i].Times <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f, true
	}
	return Fault{}, false
}

func hasKind(kinds []FaultKind, k FaultKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}
