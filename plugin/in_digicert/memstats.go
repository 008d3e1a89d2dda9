package main

import "github.com/digicert-secops/fluent-bit-digicert/plugin/flb"

// IN_DIGICERT_MEMSTATS=file makes this plugin's Go runtime report its memory
// there (benchmarks; see flb.WatchMemoryFromEnv).
func init() { flb.WatchMemoryFromEnv("IN_DIGICERT_MEMSTATS") }
