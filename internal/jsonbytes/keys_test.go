package jsonbytes

import (
	"fmt"
	"testing"
)

func TestKeysIntern(t *testing.T) {
	var k Keys
	a, b := k.Intern([]byte("Account ID")), k.Intern([]byte("Date and time (UTC)"))
	if a == 0 || b == 0 || a == b {
		t.Fatalf("ids %d, %d", a, b)
	}
	if again := k.Intern([]byte("Account ID")); again != a {
		t.Fatalf("same key got id %d, then %d", a, again)
	}
	if string(k.Key(a)) != "Account ID" || string(k.Key(b)) != "Date and time (UTC)" || k.Len() != 2 {
		t.Fatalf("Key(%d)=%q Key(%d)=%q Len=%d", a, k.Key(a), b, k.Key(b), k.Len())
	}
	empty := k.Intern(nil)
	if empty == 0 || len(k.Key(empty)) != 0 {
		t.Fatalf("empty key: id %d, %q", empty, k.Key(empty))
	}
}

// A table that fills up starts over with a new generation; ids and keys of
// the new generation agree.
func TestKeysStartOver(t *testing.T) {
	var k Keys
	k.Intern([]byte("first"))
	gen := k.Gen()
	for i := 0; k.Gen() == gen; i++ {
		if i > maxKeys+1 {
			t.Fatal("the table never started over")
		}
		k.Intern(fmt.Appendf(nil, "key %d", i))
	}
	if k.Len() != 1 {
		t.Fatalf("after starting over the table holds %d keys, want the one just added", k.Len())
	}
	id := k.Intern([]byte("first"))
	if id != 2 || string(k.Key(id)) != "first" {
		t.Fatalf("re-interned key: id %d, %q", id, k.Key(id))
	}
	if huge := k.Intern(make([]byte, maxKeyBytes)); huge != 0 {
		t.Fatalf("a key larger than the table's budget got id %d", huge)
	}
}
