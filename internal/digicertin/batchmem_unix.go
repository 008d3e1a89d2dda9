//go:build unix

package digicertin

import "syscall"

// mapMemory returns n bytes (length 0, capacity n) in an anonymous private
// mapping: outside the Go heap, supplied by the kernel page by page as they
// are written, and returned whole by unmapMemory.
func mapMemory(n int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, max(n, 1), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	return b[:0], nil
}

// unmapMemory returns memory from mapMemory. Munmap only fails for memory it
// did not map, which the callers never pass.
func unmapMemory(b []byte) {
	if cap(b) > 0 {
		_ = syscall.Munmap(b[:cap(b)])
	}
}

// mmapMemory gives each batch a mapping of its full capacity, so a batch of
// a few rows costs a few pages whatever max_bytes_per_collect is.
type mmapMemory struct{}

func (mmapMemory) alloc(n int) ([]byte, error) { return mapMemory(n) }
func (mmapMemory) free(b []byte)               { unmapMemory(b) }

func defaultBatchMemory() batchMemory { return mmapMemory{} }
