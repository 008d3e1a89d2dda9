package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestInputGCPercent(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the plugin keeps it")
	}
	old := debug.SetGCPercent(inputGCPercent)
	defer debug.SetGCPercent(old)
	if old != inputGCPercent {
		t.Errorf("GC percent at load %d, want %d", old, inputGCPercent)
	}
}
