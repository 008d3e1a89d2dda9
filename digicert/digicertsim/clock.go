package digicertsim

import (
	"sync"
	"time"
)

// clock is the simulated clock: moved by Advance and, when speed > 0, also
// by wall time.
type clock struct {
	mu      sync.Mutex
	base    time.Time // simulated time at wallRef
	wallRef time.Time
	speed   float64
}

func newClock(start time.Time, speed float64) *clock {
	return &clock{base: start, wallRef: time.Now(), speed: speed}
}

// now returns the simulated time, truncated to whole seconds (events and
// history timestamps have second resolution).
func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.base
	if c.speed > 0 {
		t = t.Add(time.Duration(float64(time.Since(c.wallRef)) * c.speed))
	}
	return t.Truncate(time.Second)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.base = c.base.Add(d)
	c.mu.Unlock()
}
