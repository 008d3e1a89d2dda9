package digicert

import "time"

// Observer is told about the client's traffic, for metrics. Its methods are
// called synchronously from the request path and must be quick.
type Observer interface {
	// Response reports one HTTP answer's status, or 0 when none came
	// (connection, TLS or timeout error).
	Response(status int)
	// RateLimitWait reports a request held back by the client-side rate
	// limiter or by an HTTP 429 answer.
	RateLimitWait(d time.Duration)
	// Downloaded reports the bytes of one downloaded report file.
	Downloaded(n int64)
}

type nopObserver struct{}

func (nopObserver) Response(int)                {}
func (nopObserver) RateLimitWait(time.Duration) {}
func (nopObserver) Downloaded(int64)            {}
