package main

import "github.com/digicert-secops/fluent-bit-digicert/internal/flb"

// OUT_SECOPS_S3_MEMSTATS=file makes this plugin's Go runtime report its
// memory there (benchmarks; see flb.WatchMemoryFromEnv).
func init() { flb.WatchMemoryFromEnv("OUT_SECOPS_S3_MEMSTATS") }
