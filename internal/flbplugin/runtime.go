package flbplugin

import (
	"os"
	"runtime/debug"
	"runtime/metrics"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// TuneRuntime is for a plugin's init: each .so has a Go runtime of its own,
// run with gcPercent as its GOGC unless Fluent Bit's environment sets GOGC.
// When the environment variable memstatsEnv names a file, the runtime
// reports its memory there (benchmarks; see flb.WatchMemoryFromEnv).
func TuneRuntime(gcPercent int, memstatsEnv string) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	flb.WatchMemoryFromEnv(memstatsEnv)
}

// GCPercent is the runtime's GOGC as the runtime reports it.
func GCPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
