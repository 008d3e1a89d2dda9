package main

import "testing"

func TestRegistryIDsAreUniqueAndNeverReused(t *testing.T) {
	r := newRegistry()
	a, b := r.reserve(), r.reserve()
	if a == 0 || b == 0 || a == b {
		t.Fatalf("ids %d, %d", a, b)
	}
	r.put(a, &instance{})
	r.put(b, &instance{})
	if r.get(a) == nil || r.get(a).id != a || r.get(b).id != b {
		t.Fatal("get after put")
	}
	if r.remove(a) == nil || r.get(a) != nil || r.remove(a) != nil {
		t.Fatal("remove")
	}
	if c := r.reserve(); c == a || c == b {
		t.Errorf("id %d reused", c)
	}
	if all := r.removeAll(); len(all) != 1 || all[0].id != b || r.get(b) != nil {
		t.Errorf("removeAll: %v", all)
	}
}
