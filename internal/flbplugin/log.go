package flbplugin

/*
#include <stdlib.h>
#cgo CFLAGS: -I${SRCDIR}/../../plugin/flbabi
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// Logger implements flb.Logger through Fluent Bit's log_print, gated by the
// instance's log_level (input_log_check/output_log_check), so log_level and
// log_file apply. From goroutine threads Fluent Bit writes these lines to
// stderr itself. Every line passes through the plugin's Redactor first:
// this is the one place messages leave the plugin.
type Logger struct {
	p      *Plugin
	prefix string

	mu     sync.RWMutex
	api    *C.struct_flb_api
	ins    unsafe.Pointer // the Fluent Bit instance; nil: no level check
	closed bool
}

// Error logs at error level.
func (l *Logger) Error(msg string, args ...any) { l.log(flb.LevelError, msg, args) }

// Warn logs at warning level.
func (l *Logger) Warn(msg string, args ...any) { l.log(flb.LevelWarn, msg, args) }

// Info logs at info level.
func (l *Logger) Info(msg string, args ...any) { l.log(flb.LevelInfo, msg, args) }

// Debug logs at debug level.
func (l *Logger) Debug(msg string, args ...any) { l.log(flb.LevelDebug, msg, args) }

func (l *Logger) log(level flb.Level, msg string, args []any) {
	line := l.p.Redact(l.prefix + flb.Format(msg, args...))
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || l.api == nil {
		// The instance (and maybe the API table) is gone: only errors
		// still deserve a line, on stderr.
		if level == flb.LevelError {
			fmt.Fprintln(stderr, line)
		}
		return
	}
	if C.fp_log_enabled(l.api, C.int(l.p.kind), l.ins, C.int(level)) == 0 {
		return
	}
	cs := C.CString(line)
	cf := C.CString(l.p.logName)
	C.fp_log(l.api, C.int(level), cf, cs)
	C.free(unsafe.Pointer(cs))
	C.free(unsafe.Pointer(cf))
}

// Close waits for lines in flight and stops using Fluent Bit's pointers,
// which die with the instance after its exit callback.
func (l *Logger) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}
