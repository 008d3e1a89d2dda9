package main

import (
	"testing"
	"time"
)

type fakeEngine struct{ paused, stopped bool }

func (f *fakeEngine) Collect(func(int) []byte) (int, uint64) { return 0, 0 }
func (f *fakeEngine) Release(uint64)                         {}
func (f *fakeEngine) Pause()                                 { f.paused = true }
func (f *fakeEngine) Resume()                                { f.paused = false }
func (f *fakeEngine) Stop(time.Duration) error               { f.stopped = true; return nil }
func ids(list []*instance) (out []uintptr) {
	for _, i := range list {
		out = append(out, i.id)
	}
	return out
}

func addInst(r *registry, thread uint64) *instance {
	inst := &instance{id: r.reserve(), eng: &fakeEngine{}, thread: thread}
	r.add(inst)
	return inst
}

func TestRegistryThreadSelectsInstance(t *testing.T) {
	r := newRegistry()
	r.register(0x1000)
	a, b := addInst(r, 11), addInst(r, 22)
	if got := ids(r.onThread(22)); len(got) != 1 || got[0] != b.id {
		t.Errorf("thread 22 → %v, want [%d]", got, b.id)
	}
	// An unknown thread (a host calling from elsewhere) means every instance.
	if got := ids(r.onThread(99)); len(got) != 2 || got[0] != a.id || got[1] != b.id {
		t.Errorf("unknown thread → %v", got)
	}
	if got := ids(r.removeOnThread(11)); len(got) != 1 || got[0] != a.id {
		t.Errorf("remove on 11 → %v", got)
	}
	if r.get(a.id) != nil || r.get(b.id) != b {
		t.Error("remove took the wrong instance")
	}
	// a's thread is now unknown: calls from it fall back to the rest.
	if got := ids(r.onThread(11)); len(got) != 1 || got[0] != b.id {
		t.Errorf("thread 11 after exit → %v", got)
	}
}

func TestRegistryIDsNeverReused(t *testing.T) {
	r := newRegistry()
	a := addInst(r, 1)
	r.removeOnThread(1)
	b := addInst(r, 1)
	if a.id == 0 || b.id == a.id {
		t.Errorf("ids %d then %d", a.id, b.id)
	}
	if r.get(a.id) != nil {
		t.Error("a stale id found an instance")
	}
}

// A hot reload registers the new configuration while the old instances
// run; unregistering the old def must stop only those.
func TestRegistryUnregisterStopsOnlyItsGeneration(t *testing.T) {
	r := newRegistry()
	r.register(0xA)
	old := addInst(r, 1)
	r.register(0xB)
	if r.get(old.id) != old {
		t.Fatal("Register of the new config disturbed a running instance")
	}
	fresh := addInst(r, 2)
	if got := ids(r.unregister(0xA)); len(got) != 1 || got[0] != old.id {
		t.Errorf("unregister old → %v", got)
	}
	if r.get(fresh.id) != fresh {
		t.Error("unregister of the old def removed the new instance")
	}
	if got := ids(r.unregister(0xB)); len(got) != 1 || got[0] != fresh.id {
		t.Errorf("unregister new → %v", got)
	}
}

func TestRegistryHandouts(t *testing.T) {
	r := newRegistry()
	a := addInst(r, 1)
	r.handOut(0xbeef, a.id, 7)
	if _, _, ok := r.takeBack(0xdead); ok {
		t.Error("a foreign buffer was accepted")
	}
	// The owner exits while Fluent Bit still holds its buffer: the buffer
	// must stay freeable, its batch no longer released anywhere.
	r.removeOnThread(1)
	h, inst, ok := r.takeBack(0xbeef)
	if !ok || h.batch != 7 || h.id != a.id || inst != nil {
		t.Errorf("takeBack = %+v %v %v", h, inst, ok)
	}
	if _, _, ok := r.takeBack(0xbeef); ok {
		t.Error("a buffer was taken back twice")
	}
}
