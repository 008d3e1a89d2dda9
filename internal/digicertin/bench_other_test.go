//go:build !unix

package digicertin

import "time"

// processCPU is not measured here; the benchmark then omits rows/cpu-s.
func processCPU() time.Duration { return 0 }

// offHeap: no portable way outside the Go heap; peak-heap then includes it.
func offHeap(n int) []byte { return make([]byte, n) }
