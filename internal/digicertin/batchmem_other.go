//go:build !unix

package digicertin

import "errors"

func mapMemory(int) ([]byte, error) { return nil, errors.New("no anonymous mappings on this system") }
func unmapMemory([]byte)            {}

// heapMemory is batchMemory on the Go heap, for systems without anonymous
// mappings.
type heapMemory struct{}

func (heapMemory) alloc(n int) ([]byte, error) { return make([]byte, 0, n), nil }
func (heapMemory) free([]byte)                 {}

func defaultBatchMemory() batchMemory { return heapMemory{} }
