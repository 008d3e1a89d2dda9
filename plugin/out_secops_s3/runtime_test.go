package main

import (
	"os"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flbplugin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// The plugin's runtime runs with its own GOGC from load on.
func TestOutputGCPercent(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the plugin keeps it")
	}
	if got := flbplugin.GCPercent(); got != secopsout.GCPercent {
		t.Errorf("GOGC at load %d, want %d", got, secopsout.GCPercent)
	}
}
