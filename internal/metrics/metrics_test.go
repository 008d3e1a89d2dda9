package metrics

import (
	"strings"
	"testing"
)

var descs = []Desc{
	{Name: "runs_total", Help: "h", Kind: Counter, Label: "result", Values: []string{"ok", "failed"}},
	{Name: "last", Help: "h", Kind: Gauge},
}

func TestRecordingKeepsDeclaredSeriesOnly(t *testing.T) {
	r := NewRecording(descs)
	r.Add("runs_total", "ok", 2)
	r.Add("runs_total", "ok", 1)
	r.Set("last", "", 42)
	if r.Value("runs_total", "ok") != 3 || r.Value("runs_total", "failed") != 0 || r.Value("last", "") != 42 {
		t.Errorf("values:\n%s", r)
	}
	r.Add("runs_total", "maybe", 1) // undeclared label value
	r.Add("nope", "", 1)            // undeclared metric
	r.Set("runs_total", "ok", 0)    // Set on a counter
	r.Add("runs_total", "ok", -1)   // a counter going down
	r.Add("last", "x", 1)           // a label on an unlabelled metric
	if errs := r.Errors(); len(errs) != 5 {
		t.Errorf("errors %v", errs)
	}
	if !strings.Contains(r.String(), "runs_total{failed} = 0") {
		t.Errorf("String:\n%s", r)
	}
	var s Sink = Or(nil)
	s.Add("x", "", 1) // Nop: no panic
}

func TestCheck(t *testing.T) {
	if err := Check(descs); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Desc{
		{{Name: "", Help: "h"}},
		{{Name: "a", Help: "h"}, {Name: "a", Help: "h"}},
		{{Name: "a", Help: "h", Label: "l"}},
		{{Name: "a", Help: "h", Values: []string{"v"}}},
	} {
		if Check(bad) == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
