package digicertsim

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
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
	// FaultBadRow inserts one malformed row (Fault.Row, default
	// BadRowUTF8) into the body after Fault.AfterRows rows (default 1; at
	// the end if the part has fewer), in a plain JSON body or in the first
	// .json member of a ZIP. The row is not in GroundTruth: a repairable
	// row is shipped as an extra row (its Action is BadRowAction), a
	// skipped one not at all; every true row must still be shipped. With
	// an empty Path it applies to downloads (/json, /download) only.
	FaultBadRow
	// FaultTrickle sends the body at about Fault.Rate bytes per second
	// (default 64), so that no read ever waits long but the download
	// never ends in a useful time (whole-download deadline). With an
	// empty Path it applies to downloads only.
	FaultTrickle
	// FaultOverlapZip answers a download with a ZIP whose central
	// directory has Fault.Members entries (default 40), all pointing at
	// the one deflated member holding the part's rows: a ZIP bomb a client
	// must refuse (overlapping entries) rather than ship every row 40
	// times. With an empty Path it applies to downloads only.
	FaultOverlapZip
	// FaultRepeatPage answers report history with the same page whatever
	// offset was asked (a server ignoring offset), and a page.total of
	// 1,000,000: a client must stop paging when a page repeats. With an
	// empty Path it applies to /report/history only.
	FaultRepeatPage
)

// Malformed rows for FaultBadRow.
const (
	BadRowUTF8     = "utf8"     // invalid UTF-8 byte in a string (repairable)
	BadRowControl  = "control"  // raw control characters in a string (repairable)
	BadRowOversize = "oversize" // a row of Fault.Size bytes (default 64 MiB + 1 KiB), over the client's row-size cap
	BadRowDeep     = "deep"     // a value nested 1,100 levels deep, past the client's depth cap
	BadRowGarbage  = "garbage"  // not parseable JSON (a bare word as a value)
)

// BadRowAction is the Action of the rows FaultBadRow inserts.
const BadRowAction = "Simulated malformed row"

// BadRowKinds lists the FaultBadRow rows; repairable ones first.
var BadRowKinds = []string{BadRowUTF8, BadRowControl, BadRowOversize, BadRowDeep, BadRowGarbage}

var faultNames = map[FaultKind]string{
	FaultRateLimit: "rate-limit", FaultStatus: "status", FaultReset: "reset",
	FaultTruncate: "truncate", FaultSlowBody: "slow-body", FaultDelay: "delay",
	FaultFailRun: "fail-run", FaultStuckRun: "stuck-run",
	FaultBadRow: "bad-row", FaultTrickle: "trickle", FaultOverlapZip: "overlap-zip", FaultRepeatPage: "repeat-page",
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
	requestFaultKinds = []FaultKind{FaultRateLimit, FaultStatus, FaultReset, FaultTruncate, FaultSlowBody, FaultDelay,
		FaultBadRow, FaultTrickle, FaultOverlapZip, FaultRepeatPage}
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
	// Row is the malformed row of FaultBadRow (a BadRow… constant).
	Row string
	// AfterRows is how many rows of the part precede FaultBadRow's row.
	AfterRows int
	// Size is the byte size of a BadRowOversize row.
	Size int
	// Rate is FaultTrickle's bytes per second.
	Rate int
	// Members is FaultOverlapZip's number of directory entries.
	Members int
}

func (f Fault) matches(method, p string) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, method) {
		return false
	}
	switch {
	case f.Path == "" && f.Kind == FaultRepeatPage:
		return strings.HasSuffix(p, "/report/history")
	case f.Path == "" && (f.Kind == FaultBadRow || f.Kind == FaultTrickle || f.Kind == FaultOverlapZip):
		return strings.HasSuffix(p, "/json") || strings.HasSuffix(p, "/download")
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

// ParseFault reads a fault from its text form, as the digicert-sim -fault
// flag takes it: the kind's name, then comma-separated key=value settings
// named after the Fault fields, e.g.
//
//	bad-row,row=utf8,after-rows=5,times=3
//	trickle,rate=32
//	status,status=502,times=3,path=/history
//	overlap-zip,members=40
//	repeat-page
//	rate-limit,retry-after=2
//	truncate,after=100,abort=true
//	slow-body,delay=50ms
func ParseFault(spec string) (Fault, error) {
	fields := strings.Split(strings.TrimSpace(spec), ",")
	var f Fault
	for k, n := range faultNames {
		if n == strings.TrimSpace(fields[0]) {
			f.Kind = k
		}
	}
	if f.Kind == 0 {
		names := make([]string, 0, len(faultNames))
		for _, n := range faultNames {
			names = append(names, n)
		}
		sort.Strings(names)
		return f, fmt.Errorf("fault %q: unknown kind %q (one of %s)", spec, fields[0], strings.Join(names, ", "))
	}
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return f, fmt.Errorf("fault %q: %q is not key=value", spec, kv)
		}
		var err error
		switch k {
		case "path":
			f.Path = v
		case "method":
			f.Method = v
		case "times":
			f.Times, err = strconv.Atoi(v)
		case "status":
			f.Status, err = strconv.Atoi(v)
		case "retry-after":
			f.RetryAfter = v
		case "after":
			f.After, err = strconv.Atoi(v)
		case "abort":
			f.Abort, err = strconv.ParseBool(v)
		case "delay":
			f.Delay, err = time.ParseDuration(v)
		case "row":
			if !slices.Contains(BadRowKinds, v) {
				err = fmt.Errorf("not one of %s", strings.Join(BadRowKinds, ", "))
			}
			f.Row = v
		case "after-rows":
			f.AfterRows, err = strconv.Atoi(v)
		case "size":
			f.Size, err = strconv.Atoi(v)
		case "rate":
			f.Rate, err = strconv.Atoi(v)
		case "members":
			f.Members, err = strconv.Atoi(v)
		default:
			err = errors.New("unknown setting")
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %s: %w", spec, k, err)
		}
	}
	return f, nil
}
