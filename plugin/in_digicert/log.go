package main

/*
#include <stdlib.h>
#include "abi.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
)

// logger implements flb.Logger through Fluent Bit's log_print, gated by the
// instance's log_level (input_log_check), so log_level and log_file apply.
// From goroutine threads Fluent Bit writes these lines to stderr itself.
// Nothing is ever written to stdout.
type logger struct {
	prefix string
	mu     sync.RWMutex
	api    *C.struct_flb_api
	ins    unsafe.Pointer // the flb_input_instance; nil: no level check
	closed bool
}

func newLogger(api *C.struct_flb_api, ins unsafe.Pointer, prefix string) *logger {
	return &logger{prefix: prefix, api: api, ins: ins}
}

func (l *logger) Error(msg string, args ...any) { l.log(flb.LevelError, msg, args) }
func (l *logger) Warn(msg string, args ...any)  { l.log(flb.LevelWarn, msg, args) }
func (l *logger) Info(msg string, args ...any)  { l.log(flb.LevelInfo, msg, args) }
func (l *logger) Debug(msg string, args ...any) { l.log(flb.LevelDebug, msg, args) }

func (l *logger) log(level flb.Level, msg string, args []any) {
	// The engine's messages start with "in_digicert: "; the prefix says it.
	line := l.prefix + flb.Format(strings.TrimPrefix(msg, "in_digicert: "), args...)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || l.api == nil {
		// The instance (and maybe the API table) is gone: only errors
		// still deserve a line, on stderr.
		if level == flb.LevelError {
			fmt.Fprintln(os.Stderr, line)
		}
		return
	}
	if C.dc_log_enabled(l.api, l.ins, C.int(level)) == 0 {
		return
	}
	cs := C.CString(line)
	C.dc_log(l.api, C.int(level), cs)
	C.free(unsafe.Pointer(cs))
}

// close waits for lines in flight and stops using Fluent Bit's pointers,
// which die with the instance after FLBPluginExit.
func (l *logger) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// lastAPI is the API table of the latest init, for messages that belong to
// no instance. Cleared at Unregister, when Fluent Bit frees the table.
var lastAPI atomic.Pointer[C.struct_flb_api]

// logGlobal logs an error outside any instance; before the first init and
// after Unregister that is stderr.
func logGlobal(msg string) {
	newLogger(lastAPI.Load(), nil, "[in_digicert] ").Error(msg)
}
