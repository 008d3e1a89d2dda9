package main

import (
	"sort"
	"sync"
	"time"
)

// engine is what the cgo layer needs from *input.Engine (an interface so the
// bookkeeping below is testable without Fluent Bit or the network).
type engine interface {
	Collect(alloc func(n int) []byte) (n int, batch uint64)
	Release(batch uint64)
	Pause()
	Resume()
	Stop(timeout time.Duration) error
}

// instance is one [INPUT] section.
type instance struct {
	id     uintptr
	eng    engine
	log    *logger
	thread uint64 // the Fluent Bit thread that ran its init
	gen    uint64 // the registration it belongs to
}

// handout is a C buffer given to Fluent Bit and not yet cleaned up.
type handout struct {
	id    uintptr
	batch uint64
}

// registry holds all per-instance state. Fluent Bit gets integer ids (never
// Go pointers) in remote_context; ids are never reused, so a stale id from
// an instance that has exited finds nothing, also across hot reloads (the Go
// runtime and these globals outlive them).
type registry struct {
	mu       sync.Mutex
	nextID   uintptr
	gen      uint64             // bumped by every FLBPluginRegister
	defs     map[uintptr]uint64 // def address → its registration
	items    map[uintptr]*instance
	byThread map[uint64]uintptr
	handouts map[uintptr]handout // C buffer address → owner
}

func newRegistry() *registry {
	return &registry{
		defs:     map[uintptr]uint64{},
		items:    map[uintptr]*instance{},
		byThread: map[uint64]uintptr{},
		handouts: map[uintptr]handout{},
	}
}

// register notes a FLBPluginRegister call. On a hot reload Fluent Bit
// registers the new configuration while the old instances still run, so
// nothing they use is reset here; Unregister of the old def stops them.
func (r *registry) register(def uintptr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	r.defs[def] = r.gen
}

// reserve returns a fresh non-zero id, so log lines can carry it before the
// instance exists.
func (r *registry) reserve() uintptr {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	return r.nextID
}

// add stores an initialised instance; it belongs to the latest registration
// and to the calling thread.
func (r *registry) add(inst *instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst.gen = r.gen
	r.items[inst.id] = inst
	r.byThread[inst.thread] = inst.id
}

func (r *registry) get(id uintptr) *instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.items[id]
}

// onThread returns the instance initialised on thread, or, when the thread
// is not one of ours (a host that calls from elsewhere), every instance.
func (r *registry) onThread(thread uint64) []*instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	if inst := r.items[r.byThread[thread]]; inst != nil {
		return []*instance{inst}
	}
	return r.sortedLocked(func(*instance) bool { return true })
}

// removeOnThread takes out what onThread would return.
func (r *registry) removeOnThread(thread uint64) []*instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	if inst := r.items[r.byThread[thread]]; inst != nil {
		r.removeLocked(inst)
		return []*instance{inst}
	}
	all := r.sortedLocked(func(*instance) bool { return true })
	for _, inst := range all {
		r.removeLocked(inst)
	}
	return all
}

// unregister forgets def and takes out the instances still running under it
// (normally none: Fluent Bit exits every instance first).
func (r *registry) unregister(def uintptr) []*instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	gen, ok := r.defs[def]
	delete(r.defs, def)
	left := r.sortedLocked(func(inst *instance) bool { return !ok || inst.gen == gen })
	for _, inst := range left {
		r.removeLocked(inst)
	}
	return left
}

func (r *registry) sortedLocked(keep func(*instance) bool) []*instance {
	var out []*instance
	for _, inst := range r.items {
		if keep(inst) {
			out = append(out, inst)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (r *registry) removeLocked(inst *instance) {
	delete(r.items, inst.id)
	if r.byThread[inst.thread] == inst.id {
		delete(r.byThread, inst.thread)
	}
	// Handouts stay: a buffer Fluent Bit still holds must remain freeable.
}

// handOut remembers that buffer p carries batch of instance id.
func (r *registry) handOut(p uintptr, id uintptr, batch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handouts[p] = handout{id: id, batch: batch}
}

// takeBack forgets buffer p and returns its batch and owner (nil once the
// owner has exited). ok is false for a buffer this plugin did not hand out,
// which must then not be freed.
func (r *registry) takeBack(p uintptr) (h handout, inst *instance, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok = r.handouts[p]
	delete(r.handouts, p)
	return h, r.items[h.id], ok
}
