package flb

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Logger is what the plugins log through. The cgo layers implement it on top of
// Fluent Bit's own log function, so log_level and log_file apply; tests use
// NewTestLogger or slog.
type Logger interface {
	Error(msg string, args ...any)
	Warn(msg string, args ...any)
	Info(msg string, args ...any)
	Debug(msg string, args ...any)
}

// Level is a Fluent Bit log level, numbered as in flb_log.h.
type Level int

// Fluent Bit's log levels.
const (
	LevelError Level = 1
	LevelWarn  Level = 2
	LevelInfo  Level = 3
	LevelDebug Level = 4
	LevelTrace Level = 5
)

// PrintFunc writes one finished log line at a level; it reports whether the
// level is enabled through enabled so that disabled lines cost nothing.
type PrintFunc func(level Level, line string)

// FuncLogger adapts a PrintFunc (Fluent Bit's log_print) to Logger. Prefix is
// put in front of every line, e.g. "[in_digicert] ". Args are key/value pairs,
// rendered as key=value after the message.
type FuncLogger struct {
	Prefix  string
	Print   PrintFunc
	Enabled func(Level) bool // nil: every level is enabled
}

func (l *FuncLogger) log(level Level, msg string, args []any) {
	if l == nil || l.Print == nil || (l.Enabled != nil && !l.Enabled(level)) {
		return
	}
	l.Print(level, l.Prefix+Format(msg, args...))
}

// Error logs at error level.
func (l *FuncLogger) Error(msg string, args ...any) { l.log(LevelError, msg, args) }

// Warn logs at warning level.
func (l *FuncLogger) Warn(msg string, args ...any) { l.log(LevelWarn, msg, args) }

// Info logs at info level.
func (l *FuncLogger) Info(msg string, args ...any) { l.log(LevelInfo, msg, args) }

// Debug logs at debug level.
func (l *FuncLogger) Debug(msg string, args ...any) { l.log(LevelDebug, msg, args) }

// Format renders a message and key/value pairs as one line: `msg k=v k2="v 2"`.
func Format(msg string, args ...any) string {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i < len(args); i += 2 {
		b.WriteByte(' ')
		if i+1 >= len(args) {
			fmt.Fprintf(&b, "!extra=%v", args[i])
			break
		}
		v := fmt.Sprint(args[i+1])
		if strings.ContainsAny(v, " \"=\n\t") || v == "" {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "%v=%s", args[i], v)
	}
	return b.String()
}

// SlogLogger adapts a *slog.Logger to Logger.
type SlogLogger struct{ L *slog.Logger }

// Error logs at error level.
func (s SlogLogger) Error(msg string, args ...any) { s.L.Error(msg, args...) }

// Warn logs at warning level.
func (s SlogLogger) Warn(msg string, args ...any) { s.L.Warn(msg, args...) }

// Info logs at info level.
func (s SlogLogger) Info(msg string, args ...any) { s.L.Info(msg, args...) }

// Debug logs at debug level.
func (s SlogLogger) Debug(msg string, args ...any) { s.L.Debug(msg, args...) }

// SlogHandler returns an slog.Handler that writes through l, so packages that
// take a *slog.Logger (the digicert client) log through Fluent Bit too.
func SlogHandler(l Logger) slog.Handler { return &slogBridge{l: l} }

type slogBridge struct {
	l     Logger
	attrs []any
}

func (h *slogBridge) Enabled(context.Context, slog.Level) bool { return true }

func (h *slogBridge) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Resolve().String())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.l.Error(r.Message, args...)
	case r.Level >= slog.LevelWarn:
		h.l.Warn(r.Message, args...)
	case r.Level >= slog.LevelInfo:
		h.l.Info(r.Message, args...)
	default:
		h.l.Debug(r.Message, args...)
	}
	return nil
}

func (h *slogBridge) WithAttrs(as []slog.Attr) slog.Handler {
	n := &slogBridge{l: h.l, attrs: append([]any(nil), h.attrs...)}
	for _, a := range as {
		n.attrs = append(n.attrs, a.Key, a.Value.Resolve().String())
	}
	return n
}

// WithGroup is accepted but groups are flattened: Fluent Bit lines are flat.
func (h *slogBridge) WithGroup(string) slog.Handler { return h }

// MemoryLogger keeps every line in memory. Tests use it to assert on what a
// plugin logged (and that no secret was ever logged). Safe for concurrent use.
type MemoryLogger struct {
	mu    sync.Mutex
	lines []string
}

func (m *MemoryLogger) add(level, msg string, args []any) {
	m.mu.Lock()
	m.lines = append(m.lines, "["+level+"] "+Format(msg, args...))
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
