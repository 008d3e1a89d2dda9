//go:build unix

// Package cputime reads the process's CPU time for benchmarks: with work on
// several goroutines, wall time alone hides what it costs.
package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time the process has used, user and system, all
// threads; 0 if it cannot be read.
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
