package main

import (
	"sync"
	"time"
)

// engine is what the cgo layer needs from *digicertin.Engine (an interface so the
// bookkeeping is testable without Fluent Bit or the network).
type engine interface {
	Collect() (records []byte, batch uint64)
	Release(batch uint64)
	Pause()
	Resume()
	Stop(timeout time.Duration) error
}

// instance is one [INPUT] section.
type instance struct {
	id           uintptr
	eng          engine
	log          logger
	closeMetrics func()
}

// logger is the instance's flb.Logger, closed with it.
type logger interface {
	Error(msg string, args ...any)
	Warn(msg string, args ...any)
	Info(msg string, args ...any)
	Debug(msg string, args ...any)
	Close()
}

// handout is a buffer given to Fluent Bit and not yet cleaned up.
type handout struct {
	eng   engine
	batch uint64
}

// handouts maps buffer addresses to the engine that owns them and their
// batch. A buffer outlives its instance when Fluent Bit cleans it up after
// the exit: its engine still frees it.
type handouts struct {
	mu sync.Mutex
	m  map[uintptr]handout
}

func newHandouts() *handouts { return &handouts{m: map[uintptr]handout{}} }

// put remembers that buffer p carries batch of eng.
func (h *handouts) put(p uintptr, eng engine, batch uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[p] = handout{eng: eng, batch: batch}
}

// take forgets buffer p and returns its batch and owner; ok is false for a
// buffer this plugin did not hand out, which must then not be freed.
func (h *handouts) take(p uintptr) (handout, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ho, ok := h.m[p]
	delete(h.m, p)
	return ho, ok
}
