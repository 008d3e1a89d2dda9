package digicertin

import "errors"

// batchMemory holds the bytes of the batches handed to Fluent Bit. Records
// are encoded straight into it and Fluent Bit copies a batch from there, so
// a batch is written once and never copied on the Go side; memory outside
// the Go heap also keeps a backfill's batches out of the garbage collector's
// accounting, so they add no GC slack and go back to the system when freed.
type batchMemory interface {
	// alloc returns a slice of length 0 and capacity n. Pages not yet
	// written need not take memory.
	alloc(n int) ([]byte, error)
	// free returns a slice from alloc (any length); it must not be used after.
	free(b []byte)
}

// errBatchMemory wraps a failed allocation of a batch.
var errBatchMemory = errors.New("no memory for a batch")
