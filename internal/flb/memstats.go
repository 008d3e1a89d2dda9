package flb

import (
	"fmt"
	"os"
	"runtime/metrics"
	"time"
)

// WatchMemoryFromEnv helps find where a Fluent Bit process's memory goes:
// with two Go plugins it holds two Go runtimes, and its RSS does not say
// which holds what. When the environment variable env names a file, a
// goroutine samples this runtime's memory every 100 ms and rewrites the file
// with the current and peak figures (bytes). Off unless env is set; for
// benchmarks (make bench-fluentbit sets it).
func WatchMemoryFromEnv(env string) {
	path := os.Getenv(env)
	if path == "" {
		return
	}
	go watchMemory(path, 100*time.Millisecond)
}

// memNames are the runtime/metrics samples written, in this order.
var memNames = []string{
	"/memory/classes/total:bytes",         // mapped by this runtime
	"/memory/classes/heap/released:bytes", // of which returned to the OS
	"/memory/classes/heap/objects:bytes",  // live and not yet swept objects
	"/gc/heap/goal:bytes",
}

func watchMemory(path string, every time.Duration) {
	samples := make([]metrics.Sample, len(memNames))
	for i, n := range memNames {
		samples[i].Name = n
	}
	var peakHeld, peakObjects, peakGoal uint64
	for {
		metrics.Read(samples)
		v := func(i int) uint64 {
			if samples[i].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return samples[i].Value.Uint64()
		}
		held := v(0) - v(1) // what this runtime holds from the OS
		peakHeld, peakObjects, peakGoal = max(peakHeld, held), max(peakObjects, v(2)), max(peakGoal, v(3))
		line := fmt.Sprintf("held %d peak_held %d objects %d peak_objects %d goal %d peak_goal %d\n",
			held, peakHeld, v(2), peakObjects, v(3), peakGoal)
		_ = os.WriteFile(path, []byte(line), 0o644)
		time.Sleep(every)
	}
}
