// Package flbtest holds what the tests of several packages share: a logger
// that keeps its lines in memory.
package flbtest

import (
	"strings"
	"sync"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// MemoryLogger keeps every line in memory. Tests use it to assert on what a
// plugin logged (and that no secret was ever logged). Safe for concurrent use.
type MemoryLogger struct {
	mu    sync.Mutex
	lines []string
}

func (m *MemoryLogger) add(level, msg string, args []any) {
	m.mu.Lock()
	m.lines = append(m.lines, "["+level+"] "+flb.Format(msg, args...))
	m.mu.Unlock()
}

// Error records a line at error level.
func (m *MemoryLogger) Error(msg string, args ...any) { m.add("error", msg, args) }

// Warn records a line at warning level.
func (m *MemoryLogger) Warn(msg string, args ...any) { m.add("warn", msg, args) }

// Info records a line at info level.
func (m *MemoryLogger) Info(msg string, args ...any) { m.add("info", msg, args) }

// Debug records a line at debug level.
func (m *MemoryLogger) Debug(msg string, args ...any) { m.add("debug", msg, args) }

// Lines returns a copy of every line recorded so far, each prefixed with its level.
func (m *MemoryLogger) Lines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.lines...)
}

// String returns every line joined by newlines.
func (m *MemoryLogger) String() string { return strings.Join(m.Lines(), "\n") }
