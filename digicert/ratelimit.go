package digicert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// limiter keeps request rates under a set of sliding windows. Each window
// remembers the send times of its last Requests requests (a ring); a new
// request may go once the oldest of them is Per old.
type limiter struct {
	clock Clock

	mu          sync.Mutex
	windows     []slidingWindow
	pausedUntil time.Time // set after a 429 so that every caller backs off
}

type slidingWindow struct {
	per  time.Duration
	ring []time.Time // send times; when full, ring[next] is the oldest
	next int
	full bool
}

func newLimiter(rl *RateLimit, clock Clock) *limiter {
	l := &limiter{clock: clock}
	if rl != nil {
		for _, w := range rl.Windows {
			if w.Requests > 0 && w.Per > 0 {
				l.windows = append(l.windows, slidingWindow{per: w.Per, ring: make([]time.Time, w.Requests)})
			}
		}
	}
	return l
}

// reserve records a send at now and returns 0, or returns how long to wait
// before trying again (recording nothing).
func (l *limiter) reserve(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	if now.Before(l.pausedUntil) {
		wait = l.pausedUntil.Sub(now)
	}
	for i := range l.windows {
		w := &l.windows[i]
		if !w.full {
			continue
		}
		if d := w.ring[w.next].Add(w.per).Sub(now); d > wait {
			wait = d
		}
	}
	if wait > 0 {
		return wait
	}
	for i := range l.windows {
		w := &l.windows[i]
		w.ring[w.next] = now
		w.next++
		if w.next == len(w.ring) {
			w.next, w.full = 0, true
		}
	}
	return 0
}

// wait blocks until a request may be sent, or ctx ends. It reports how long
// it waited in total, for logging.
func (l *limiter) wait(ctx context.Context) (time.Duration, error) {
	var total time.Duration
	for {
		d := l.reserve(l.clock.Now())
		if d <= 0 {
			return total, nil
		}
		if err := l.clock.Sleep(ctx, d); err != nil {
			return total, err
		}
		total += d
	}
}

// pause makes every request wait until t (DigiCert said 429).
func (l *limiter) pause(t time.Time) {
	l.mu.Lock()
	if t.After(l.pausedUntil) {
		l.pausedUntil = t
	}
	l.mu.Unlock()
}

// DigiCert's limits are per API key, so clients in one process that share a
// key (several inputs reading different reports) share one limiter.
var sharedLimiters struct {
	sync.Mutex
	m map[string]*limiter
}

func sharedLimiter(key Secret, rl *RateLimit) *limiter {
	sum := sha256.Sum256([]byte(key))
	id := hex.EncodeToString(sum[:]) + "|" + rl.String()
	sharedLimiters.Lock()
	defer sharedLimiters.Unlock()
	if l, ok := sharedLimiters.m[id]; ok {
		return l
	}
	if sharedLimiters.m == nil {
		sharedLimiters.m = make(map[string]*limiter)
	}
	l := newLimiter(rl, SystemClock)
	sharedLimiters.m[id] = l
	return l
}
