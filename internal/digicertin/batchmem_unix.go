//go:build unix

package digicertin

import "syscall"

// mmapMemory gives each batch an anonymous private mapping of its full
// capacity: the kernel supplies pages as records are written, so a batch
// of a few rows costs a few pages whatever max_bytes_per_collect is, and
// unmapping returns all of it at once.
type mmapMemory struct{}

func (mmapMemory) alloc(n int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, max(n, 1), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	return b[:0], nil
}

func (mmapMemory) free(b []byte) {
	if cap(b) > 0 {
		// Munmap only fails for a slice it did not map, which the
		// buffer never passes.
		_ = syscall.Munmap(b[:cap(b)])
	}
}

func defaultBatchMemory() batchMemory { return mmapMemory{} }
