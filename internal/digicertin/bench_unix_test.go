//go:build unix

package digicertin

import (
	"syscall"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/cputime"
)

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration { return cputime.Process() }

// offHeap returns n bytes outside the Go heap, standing in for the C memory
// the cgo layer copies batches into, so it does not count as engine heap.
func offHeap(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}
