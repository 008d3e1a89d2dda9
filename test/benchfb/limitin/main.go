// Command limitin is the reference input of `make bench-fluentbit`: a Go
// input that does nothing but hand Fluent Bit records encoded beforehand, at
// most BENCHFB_PER_COLLECT bytes per 1-second collect, so the benchmark can
// show how fast Fluent Bit's Go-input path is when the input costs nothing.
// Built with -buildmode=c-shared. BENCHFB_RECORDS is a file of records
// (msgpack) laid end to end, BENCHFB_RECORDS.idx the end offset of each
// (8 bytes, little-endian); each collect reads the next records from the
// file straight into the C buffer, so the input holds no records itself.
package main

/*
#include <stdlib.h>
#include <string.h>
#cgo CFLAGS: -I${SRCDIR}/../../../plugin/flbabi
#include "flb_go_proxy.h"

static void limitin_register(struct flb_plugin_proxy_def *def, char *name) {
    def->type = FLB_PROXY_INPUT_PLUGIN;
    def->proxy = FLB_PROXY_GOLANG;
    def->flags = 0;
    def->name = name;
    def->description = name;
    def->event_type = 0;
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

var (
	mu         sync.Mutex
	records    *os.File
	ends       []int // end offset of each record in records
	next       int   // next record to hand over
	perCollect = 32_000_000
	announced  bool
)

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) C.int {
	C.limitin_register((*C.struct_flb_plugin_proxy_def)(def), C.CString("benchlimit"))
	return 0
}

//export FLBPluginInit
func FLBPluginInit(unsafe.Pointer) C.int {
	if err := load(); err != nil {
		fmt.Fprintln(os.Stderr, "benchlimit:", err)
		return C.FLB_ERROR
	}
	return C.FLB_OK
}

func load() error {
	if v := os.Getenv("BENCHFB_PER_COLLECT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("BENCHFB_PER_COLLECT=%q: want a positive byte count", v)
		}
		perCollect = n
	}
	path := os.Getenv("BENCHFB_RECORDS")
	idx, err := os.ReadFile(path + ".idx")
	if err != nil {
		return fmt.Errorf("BENCHFB_RECORDS: %w", err)
	}
	for ; len(idx) >= 8; idx = idx[8:] {
		ends = append(ends, int(binary.LittleEndian.Uint64(idx)))
	}
	if records, err = os.Open(path); err != nil {
		return fmt.Errorf("BENCHFB_RECORDS: %w", err)
	}
	fmt.Fprintf(os.Stderr, "benchlimit: %d records, %d bytes per collect\n", len(ends), perCollect)
	return nil
}

// FLBPluginInputCallback hands over the next records. No cleanup callback is
// exported, so Fluent Bit frees the C buffer itself.
//
//export FLBPluginInputCallback
func FLBPluginInputCallback(data *unsafe.Pointer, size *C.size_t) C.int {
	mu.Lock()
	defer mu.Unlock()
	*data, *size = nil, 0
	if next >= len(ends) {
		return C.FLB_OK
	}
	start := 0
	if next > 0 {
		start = ends[next-1]
	}
	end := next
	for end < len(ends) && (end == next || ends[end]-start <= perCollect) {
		end++
	}
	n := ends[end-1] - start
	buf := C.malloc(C.size_t(n))
	if _, err := records.ReadAt(unsafe.Slice((*byte)(buf), n), int64(start)); err != nil {
		C.free(buf)
		fmt.Fprintln(os.Stderr, "benchlimit:", err)
		return C.FLB_OK
	}
	if !announced {
		announced = true
		fmt.Fprintf(os.Stderr, "benchlimit: first collect %d\n", time.Now().UnixNano())
	}
	next = end
	*data, *size = buf, C.size_t(n)
	return C.FLB_OK
}

//export FLBPluginExit
func FLBPluginExit() C.int { return C.FLB_OK }

func main() {}
