package flbplugin

import (
	"sort"
	"sync"
)

// Registry holds a plugin's instances. Fluent Bit gets integer ids (never Go
// pointers, which C must not hold) in remote_context; ids are never reused,
// so a stale id from an instance that has exited finds nothing, also across
// hot reloads (the Go runtime and its globals outlive them). Each instance
// remembers the thread that ran its init (Fluent Bit runs each Go input
// instance on its own thread, and calls the callbacks that carry no
// instance there) and the registration it belongs to.
type Registry[T any] struct {
	mu       sync.Mutex
	nextID   uintptr
	gen      uint64             // bumped by every FLBPluginRegister
	defs     map[uintptr]uint64 // def address → its registration
	items    map[uintptr]*entry[T]
	byThread map[uint64]uintptr
}

type entry[T any] struct {
	id     uintptr
	v      T
	thread uint64
	gen    uint64
}

// NewRegistry returns an empty registry.
func NewRegistry[T any]() *Registry[T] {
	return &Registry[T]{defs: map[uintptr]uint64{}, items: map[uintptr]*entry[T]{}, byThread: map[uint64]uintptr{}}
}

// Register notes a FLBPluginRegister call. On a hot reload Fluent Bit
// registers the new configuration while the old instances still run, so
// nothing they use is reset here; Unregister of the old def stops them.
func (r *Registry[T]) Register(def uintptr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	r.defs[def] = r.gen
}

// Reserve returns a fresh non-zero id, so log lines can carry it before the
// instance exists.
func (r *Registry[T]) Reserve() uintptr {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	return r.nextID
}

// Add stores an initialised instance under id (from Reserve); it belongs to
// the latest registration and to thread.
func (r *Registry[T]) Add(id uintptr, thread uint64, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items[id] = &entry[T]{id: id, v: v, thread: thread, gen: r.gen}
	r.byThread[thread] = id
}

// Get returns the instance with id.
func (r *Registry[T]) Get(id uintptr) (v T, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.items[id]; e != nil {
		return e.v, true
	}
	return v, false
}

// Remove takes out the instance with id.
func (r *Registry[T]) Remove(id uintptr) (v T, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.items[id]
	if e == nil {
		return v, false
	}
	r.removeLocked(e)
	return e.v, true
}

// OnThread returns the instance initialised on thread, or, when the thread
// is not one of ours (a host that calls from elsewhere), every instance.
func (r *Registry[T]) OnThread(thread uint64) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return values(r.onThreadLocked(thread))
}

// RemoveOnThread takes out what OnThread would return.
func (r *Registry[T]) RemoveOnThread(thread uint64) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.onThreadLocked(thread)
	for _, e := range list {
		r.removeLocked(e)
	}
	return values(list)
}

// RemoveAll empties the registry and returns what it held, oldest first.
func (r *Registry[T]) RemoveAll() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.sortedLocked(func(*entry[T]) bool { return true })
	for _, e := range list {
		r.removeLocked(e)
	}
	return values(list)
}

// Unregister forgets def and takes out the instances still running under it
// (normally none: Fluent Bit exits every instance first).
func (r *Registry[T]) Unregister(def uintptr) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	gen, ok := r.defs[def]
	delete(r.defs, def)
	list := r.sortedLocked(func(e *entry[T]) bool { return !ok || e.gen == gen })
	for _, e := range list {
		r.removeLocked(e)
	}
	return values(list)
}

func (r *Registry[T]) onThreadLocked(thread uint64) []*entry[T] {
	if id, ok := r.byThread[thread]; ok {
		if e := r.items[id]; e != nil {
			return []*entry[T]{e}
		}
	}
	return r.sortedLocked(func(*entry[T]) bool { return true })
}

func (r *Registry[T]) sortedLocked(keep func(*entry[T]) bool) []*entry[T] {
	var out []*entry[T]
	for _, e := range r.items {
		if keep(e) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (r *Registry[T]) removeLocked(e *entry[T]) {
	delete(r.items, e.id)
	if r.byThread[e.thread] == e.id {
		delete(r.byThread, e.thread)
	}
}

func values[T any](list []*entry[T]) []T {
	out := make([]T, len(list))
	for i, e := range list {
		out[i] = e.v
	}
	return out
}

// ThreadID names the calling OS thread.
func ThreadID() uint64 { return threadID() }
