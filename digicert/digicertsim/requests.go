package digicertsim

import (
	"net/http"
	"time"
)

// maxRequestLog bounds the request log kept for Requests.
const maxRequestLog = 100000

// RequestLog is one served request. It never holds the API key.
type RequestLog struct {
	Time    time.Time // wall time the request ended
	SimTime time.Time // simulated time
	Method  string
	Path    string
	Query   string // raw query (the key travels in a header, never here)
	Status  int
	Bytes   int64  // body bytes written
	Fault   string // kind of the injected fault applied, if any
	KeyKind string // "full", "view-only", "invalid" or "none"
}

// Requests returns a copy of the request log, oldest first (at most the
// last maxRequestLog requests).
func (s *Server) Requests() []RequestLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RequestLog(nil), s.reqs...)
}

func (s *Server) logRequest(r *http.Request, rec *statusRecorder, fault string, d time.Duration) {
	kind := "none"
	if k := r.Header.Get("X-DC-DEVKEY"); k != "" {
		switch full, known := s.keyAccess(k); {
		case full:
			kind = "full"
		case known:
			kind = "view-only"
		default:
			kind = "invalid"
		}
	}
	status := rec.status
	if status == 0 && fault != FaultReset.String() {
		status = http.StatusOK
	}
	l := RequestLog{
		Time: time.Now(), SimTime: s.clk.now(), Method: r.Method, Path: r.URL.Path,
		Query: r.URL.RawQuery, Status: status, Bytes: rec.n, Fault: fault, KeyKind: kind,
	}
	s.mu.Lock()
	if len(s.reqs) >= maxRequestLog {
		// Long-running binaries: keep the newest half.
		s.reqs = append(s.reqs[:0], s.reqs[len(s.reqs)/2:]...)
	}
	s.reqs = append(s.reqs, l)
	s.mu.Unlock()
	if s.cfg.Logger != nil {
		s.cfg.Logger.Info("request", "method", l.Method, "path", l.Path, "query", l.Query,
			"status", l.Status, "bytes", l.Bytes, "fault", l.Fault, "key", l.KeyKind, "duration", d)
	}
}
