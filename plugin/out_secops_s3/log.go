package main

/*
#include <stdlib.h>
#include "abi.h"
*/
import "C"

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
)

// logPrefix starts every line, like Fluent Bit's own "[output:name:alias]".
const logPrefix = "[out_secops_s3] "

// lastAPI is the flb_api seen at the latest init, used for messages that
// belong to no instance (a panic outside one). The table is global in
// Fluent Bit, so any instance's pointer will do.
var lastAPI atomic.Pointer[C.struct_flb_api]

// newLogger returns a Logger writing through Fluent Bit's log_print, gated
// by the instance's log_level through output_log_check.
func newLogger(api *C.struct_flb_api, oIns unsafe.Pointer, prefix string) flb.Logger {
	return &flb.FuncLogger{
		Prefix: prefix,
		Print: func(level flb.Level, line string) {
			cs := C.CString(line)
			C.secops_log(api, C.int(level), cs)
			C.free(unsafe.Pointer(cs))
		},
		Enabled: func(level flb.Level) bool {
			return C.secops_log_enabled(api, oIns, C.int(level)) != 0
		},
	}
}

// logGlobal logs an error with no instance at hand. Before any init there is
// no log_print to use, and stderr is the only place left (never stdout).
func logGlobal(msg string) {
	if api := lastAPI.Load(); api != nil {
		newLogger(api, nil, logPrefix).Error(msg)
		return
	}
	fmt.Fprintln(os.Stderr, logPrefix+msg)
}
