//go:build amd64 || arm64

package digicertin

import "unsafe"

// prefetch asks the CPU to start loading the cache line at p and returns at
// once (a hint: it never faults, whatever p is). Go has no such statement;
// a plain load would stall the thread until the line arrives.
//
//go:noescape
func prefetch(p unsafe.Pointer)
