package digicertsim

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"time"
)

// statusRecorder remembers the status and body size for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	n      int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.n += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (Hijack).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// slowWriter trickles the body out: every write is cut into up to
// slowPieces flushed pieces (at least 512 bytes each) with a pause after each.
type slowWriter struct {
	http.ResponseWriter
	delay time.Duration
}

const slowPieces = 16

func (w *slowWriter) Write(b []byte) (int, error) {
	d := w.delay
	if d <= 0 {
		d = 5 * time.Millisecond
	}
	return pacedWrite(w.ResponseWriter, b, max(512, (len(b)+slowPieces-1)/slowPieces), d, nil)
}

// trickleWriter sends the body at about rate bytes per second (a piece every
// 100 ms), until the client goes away.
type trickleWriter struct {
	http.ResponseWriter
	rate int
	done <-chan struct{}
}

func (w *trickleWriter) Write(b []byte) (int, error) {
	piece := max(1, w.rate/10)
	if w.rate <= 0 {
		piece = 6 // 64 B/s
	}
	return pacedWrite(w.ResponseWriter, b, piece, 100*time.Millisecond, w.done)
}

// pacedWrite writes b in flushed pieces with a pause after each; done, if
// closed (the client went away), ends it.
func pacedWrite(w http.ResponseWriter, b []byte, piece int, pause time.Duration, done <-chan struct{}) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), piece)
		m, err := w.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		_ = http.NewResponseController(w).Flush()
		b = b[k:]
		select {
		case <-done:
			return n, http.ErrAbortHandler
		case <-time.After(pause):
		}
	}
	return n, nil
}

// truncWriter buffers the response and lets only part of the body out.
// Faulted responses are test-sized, so buffering is fine here.
type truncWriter struct {
	http.ResponseWriter
	fault  Fault
	status int
	buf    bytes.Buffer
}

func (w *truncWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *truncWriter) Write(b []byte) (int, error) { return w.buf.Write(b) }

func (w *truncWriter) finish() {
	full := w.buf.Bytes()
	n := w.fault.After
	if n <= 0 || n >= len(full) {
		n = len(full) / 2
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.fault.Abort {
		w.Header().Set("Content-Length", strconv.Itoa(len(full)))
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(n))
	}
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(full[:n])
	if w.fault.Abort {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		// The server recovers ErrAbortHandler and closes the connection
		// without finishing the body.
		panic(http.ErrAbortHandler)
	}
}

// applyFault serves faults that replace the response. It reports whether
// the request is done.
func (s *Server) applyFault(w *statusRecorder, r *http.Request, f Fault) bool {
	switch f.Kind {
	case FaultRateLimit:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeError(w, http.StatusTooManyRequests, codeRateLimit, msgRateLimit)
		return true
	case FaultStatus:
		st := f.Status
		if st == 0 {
			st = http.StatusServiceUnavailable
		}
		if st == http.StatusInternalServerError {
			writeError(w, st, codeInternal, "An internal error occurred.")
			return true
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(st)
		_, _ = w.Write([]byte("<html><head><title>" + strconv.Itoa(st) + " " + http.StatusText(st) +
			"</title></head><body><h1>" + http.StatusText(st) + "</h1></body></html>\n"))
		return true
	case FaultReset:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// Not hijackable (e.g. httptest.ResponseRecorder): abort instead.
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST, not FIN
		}
		_ = conn.Close()
		return true
	case FaultDelay:
		d := f.Delay
		if d <= 0 {
			d = 5 * time.Millisecond
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	return false
}
