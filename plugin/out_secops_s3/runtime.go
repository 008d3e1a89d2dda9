package main

import (
	"os"
	"runtime/debug"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(secopsout.GCPercent)
	}
	// OUT_SECOPS_S3_MEMSTATS=file makes this plugin's Go runtime report its
	// memory there (benchmarks; see flb.WatchMemoryFromEnv).
	flb.WatchMemoryFromEnv("OUT_SECOPS_S3_MEMSTATS")
}
