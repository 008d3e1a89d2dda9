package digicertin

import (
	"strings"
	"testing"
)

// The engine's lines carry no plugin name: the cgo layer's logger puts the
// instance ("[in_digicert#1] ") in front of every line.
func TestLogLinesDoNotNameThePlugin(t *testing.T) {
	r := newRig(t, defaultSim(), nil)
	r.poll()
	r.stop()
	lines := r.log.Lines()
	if len(lines) < 3 {
		t.Fatalf("only %d lines", len(lines))
	}
	for _, l := range lines {
		if strings.Contains(l, "in_digicert:") {
			t.Errorf("line names the plugin itself: %q", l)
		}
	}
}
