package main

import (
	"github.com/digicert-secops/fluent-bit-digicert/internal/flbplugin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

func init() {
	// OUT_SECOPS_S3_MEMSTATS=file makes this runtime report its memory there.
	flbplugin.TuneRuntime(secopsout.GCPercent, "OUT_SECOPS_S3_MEMSTATS")
}
