package flbplugin

import (
	"slices"
	"testing"
)

type item struct{ id uintptr }

func add(r *Registry[*item], thread uint64) *item {
	it := &item{id: r.Reserve()}
	r.Add(it.id, thread, it)
	return it
}

func ids(list []*item) (out []uintptr) {
	for _, i := range list {
		out = append(out, i.id)
	}
	return out
}

func TestRegistryThreadSelectsInstance(t *testing.T) {
	r := NewRegistry[*item]()
	r.Register(0x1000)
	a, b := add(r, 11), add(r, 22)
	if got := ids(r.OnThread(22)); !slices.Equal(got, []uintptr{b.id}) {
		t.Errorf("thread 22 → %v, want [%d]", got, b.id)
	}
	// An unknown thread (a host calling from elsewhere) means every instance.
	if got := ids(r.OnThread(99)); !slices.Equal(got, []uintptr{a.id, b.id}) {
		t.Errorf("unknown thread → %v", got)
	}
	if got := ids(r.RemoveOnThread(11)); !slices.Equal(got, []uintptr{a.id}) {
		t.Errorf("remove on 11 → %v", got)
	}
	if _, ok := r.Get(a.id); ok {
		t.Error("removed instance still found")
	}
	if got, _ := r.Get(b.id); got != b {
		t.Error("remove took the wrong instance")
	}
	// a's thread is now unknown: calls from it fall back to the rest.
	if got := ids(r.OnThread(11)); !slices.Equal(got, []uintptr{b.id}) {
		t.Errorf("thread 11 after exit → %v", got)
	}
}

func TestRegistryIDsNeverReused(t *testing.T) {
	r := NewRegistry[*item]()
	a := add(r, 1)
	if _, ok := r.Remove(a.id); !ok {
		t.Fatal("remove")
	}
	if _, ok := r.Remove(a.id); ok {
		t.Error("removed twice")
	}
	b := add(r, 1)
	if a.id == 0 || b.id == a.id {
		t.Errorf("ids %d then %d", a.id, b.id)
	}
	if _, ok := r.Get(a.id); ok {
		t.Error("a stale id found an instance")
	}
	if got := ids(r.RemoveAll()); !slices.Equal(got, []uintptr{b.id}) {
		t.Errorf("RemoveAll → %v", got)
	}
}

// A hot reload registers the new configuration while the old instances
// run; unregistering the old def must stop only those.
func TestRegistryUnregisterStopsOnlyItsGeneration(t *testing.T) {
	r := NewRegistry[*item]()
	r.Register(0xA)
	old := add(r, 1)
	r.Register(0xB)
	if got, _ := r.Get(old.id); got != old {
		t.Fatal("Register of the new config disturbed a running instance")
	}
	fresh := add(r, 2)
	if got := ids(r.Unregister(0xA)); !slices.Equal(got, []uintptr{old.id}) {
		t.Errorf("unregister old → %v", got)
	}
	if got, _ := r.Get(fresh.id); got != fresh {
		t.Error("unregister of the old def removed the new instance")
	}
	if got := ids(r.Unregister(0xB)); !slices.Equal(got, []uintptr{fresh.id}) {
		t.Errorf("unregister new → %v", got)
	}
}
