package digicertsim

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

const apiPrefix = "/reports/v1"

// Server is the simulated Reports API. It implements http.Handler; mount it
// at the root of an httptest.Server and use the server URL as the client's
// base URL (the client appends /reports/v1). It is safe for concurrent use.
type Server struct {
	cfg Config
	gen *generator
	clk *clock

	mu          sync.Mutex
	reports     map[string]*report
	reportOrder []string
	runs        []*run
	runByID     map[string]*run
	nRuns       int
	polls       int // history requests served
	faults      []Fault
	reqs        []RequestLog
}

// New returns a Server for cfg (zero fields take the defaults documented
// on Config).
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		gen:     newGenerator(cfg),
		clk:     newClock(cfg.Start, cfg.Speed),
		reports: map[string]*report{},
		runByID: map[string]*run{},
	}
	s.mu.Lock()
	s.seedReports(cfg.Start)
	s.mu.Unlock()
	return s
}

// Now returns the simulated time.
func (s *Server) Now() time.Time { return s.clk.now() }

// Advance moves the simulated clock forward by d: events in between appear
// and GENERATING runs may become READY.
func (s *Server) Advance(d time.Duration) { s.clk.advance(d) }

// ServeHTTP serves the Reports API under /reports/v1, plus /healthz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	var fault string
	defer func() {
		// Log aborted requests too (FaultTruncate with Abort panics).
		p := recover()
		s.logRequest(r, rec, fault, time.Since(start))
		if p != nil {
			panic(p)
		}
	}()
	s.serve(rec, r, &fault)
}

// serve applies a matching request fault, then auth, then the route. It
// records the name of the fault applied in *fault.
func (s *Server) serve(w *statusRecorder, r *http.Request, fault *string) {
	p := r.URL.Path
	if p == "/healthz" {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	s.mu.Lock()
	f, hasFault := s.takeFault(requestFaultKinds, r.Method, p)
	s.mu.Unlock()
	if hasFault {
		*fault = f.Kind.String()
		if done := s.applyFault(w, r, f); done {
			return
		}
	}
	var out http.ResponseWriter = w
	if hasFault {
		switch f.Kind {
		case FaultBadRow, FaultOverlapZip, FaultRepeatPage:
			r = r.WithContext(context.WithValue(r.Context(), bodyFaultKey{}, &f))
		case FaultTrickle:
			out = &trickleWriter{ResponseWriter: w, rate: f.Rate, done: r.Context().Done()}
		case FaultSlowBody:
			out = &slowWriter{ResponseWriter: w, delay: f.Delay}
		case FaultTruncate:
			tw := &truncWriter{ResponseWriter: w, fault: f}
			defer tw.finish()
			out = tw
		}
	}
	s.route(out, r)
}

// bodyFaultKey carries a fault that changes what a handler writes.
type bodyFaultKey struct{}

// bodyFault returns the fault that changes what r's handler writes, if any.
func bodyFault(r *http.Request) *Fault {
	f, _ := r.Context().Value(bodyFaultKey{}).(*Fault)
	return f
}

// route dispatches an API request after checking the key.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if !strings.HasPrefix(p, apiPrefix+"/") {
		writeError(w, http.StatusNotFound, codeRoute, msgRoute)
		return
	}
	full, known := s.keyAccess(r.Header.Get("X-DC-DEVKEY"))
	if !known {
		writeError(w, http.StatusForbidden, codeInvalidKey, msgInvalidKey)
		return
	}
	seg := strings.Split(strings.TrimPrefix(p, apiPrefix+"/"), "/")
	if seg[0] != "report" {
		writeError(w, http.StatusNotFound, codeRoute, msgRoute)
		return
	}
	seg = seg[1:]
	get := r.Method == http.MethodGet
	switch {
	case get && len(seg) == 1 && seg[0] == "history":
		s.handleHistory(w, r)
	case get && len(seg) == 1 && seg[0] != "":
		s.handleDetails(w, seg[0])
	case r.Method == http.MethodPost && len(seg) == 2 && seg[1] == "run":
		if !full {
			writeError(w, http.StatusForbidden, codePermission, msgPermission)
			return
		}
		s.handleRun(w, seg[0])
	case get && len(seg) == 3 && seg[2] == "json":
		s.handleBody(w, r, seg[0], seg[1], false)
	case get && len(seg) == 3 && seg[2] == "download":
		s.handleBody(w, r, seg[0], seg[1], true)
	default:
		writeError(w, http.StatusNotFound, codeRoute, msgRoute)
	}
}

// keyAccess reports whether key is known and whether it has full access.
func (s *Server) keyAccess(key string) (full, known bool) {
	if key == "" {
		return false, false
	}
	if key == s.cfg.APIKey {
		return true, true
	}
	for _, k := range s.cfg.ViewOnlyKeys {
		if key == k {
			return false, true
		}
	}
	return false, false
}
