package main

import (
	"os"
	"runtime/metrics"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// The plugin's runtime runs with its own GOGC from load on, read here as
// the runtime reports it.
func TestOutputGCPercent(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the plugin keeps it")
	}
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if got := s[0].Value.Uint64(); got != secopsout.GCPercent {
		t.Errorf("GOGC at load %d, want %d", got, secopsout.GCPercent)
	}
}
