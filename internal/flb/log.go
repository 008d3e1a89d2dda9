package flb

import (
	"fmt"
	"strings"
)

// Logger is what the plugins log through. The cgo layers implement it on top of
// Fluent Bit's own log function, so log_level and log_file apply; tests use
// flbtest.MemoryLogger.
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
)

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
