//go:build !unix

package digicertin

func defaultBatchMemory() batchMemory { return heapMemory{} }
