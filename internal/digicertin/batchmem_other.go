//go:build !unix

package digicertin

import "errors"

func mapMemory(int) ([]byte, error) { return nil, errors.New("no anonymous mappings on this system") }
func unmapMemory([]byte)            {}

func defaultBatchMemory() batchMemory { return heapMemory{} }
