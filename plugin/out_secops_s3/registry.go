package main

import (
	"sync"
	"sync/atomic"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
	"github.com/digicert-secops/fluent-bit-digicert/plugin/s3out"
)

// instance is one [OUTPUT] section: its output and its logger.
type instance struct {
	id  uintptr
	out *s3out.Output
	log flb.Logger
}

// registry maps the integer ids stored in Fluent Bit's remote_context to
// instances. An id is stored instead of a Go pointer because C must not hold
// Go pointers; ids are never reused, so a stale one finds nothing, even
// across hot reloads (the Go runtime and its globals outlive them).
type registry struct {
	mu    sync.RWMutex
	next  atomic.Uintptr
	items map[uintptr]*instance
}

func newRegistry() *registry { return &registry{items: map[uintptr]*instance{}} }

// reserve returns a fresh non-zero id, so the instance's log lines can
// carry it before the instance exists.
func (r *registry) reserve() uintptr { return r.next.Add(1) }

// put stores inst under id (from reserve).
func (r *registry) put(id uintptr, inst *instance) {
	inst.id = id
	r.mu.Lock()
	r.items[id] = inst
	r.mu.Unlock()
}

func (r *registry) get(id uintptr) *instance {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.items[id]
}

// remove takes the instance out and returns it (nil when unknown).
func (r *registry) remove(id uintptr) *instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst := r.items[id]
	delete(r.items, id)
	return inst
}

// removeAll empties the registry and returns what it held.
func (r *registry) removeAll() []*instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := make([]*instance, 0, len(r.items))
	for id, inst := range r.items {
		all = append(all, inst)
		delete(r.items, id)
	}
	return all
}
