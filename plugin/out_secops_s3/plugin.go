// Command out_secops_s3 is the Fluent Bit output plugin `secops_s3`, built
// with -buildmode=c-shared into out_secops_s3.so. It only adapts Fluent
// Bit's Go-proxy calls to package s3out, which holds all the logic.
package main

/*
#include <stdlib.h>
#cgo CFLAGS: -I${SRCDIR}/../flbabi
#include "abi.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
	"github.com/digicert-secops/fluent-bit-digicert/plugin/s3out"
)

const description = "DigiCert audit logs to Google SecOps: gzip NDJSON objects on S3, create-only writes"

var (
	instances = newRegistry()
	// Register's strings must outlive the call: Fluent Bit keeps the
	// description pointer. Allocated once per process.
	cName        = C.CString(s3out.PluginName)
	cDescription = C.CString(description)
)

// guard recovers a panic at an export boundary, logs it with its stack, and
// makes the export return ret instead of crashing Fluent Bit.
func guard(export string, result *C.int, ret C.int) {
	if r := recover(); r != nil {
		logGlobal(fmt.Sprintf("panic in %s: %v\n%s", export, r, debug.Stack()))
		*result = ret
	}
}

// FLBPluginRegister declares the output plugin secops_s3 (once per load).
//
//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) (ret C.int) {
	defer guard("FLBPluginRegister", &ret, -1)
	C.secops_register((*C.struct_flb_plugin_proxy_def)(def), cName, cDescription)
	return 0
}

// FLBPluginInit sets up one [OUTPUT] instance: it reads every key (the only
// moment Fluent Bit allows it), validates them, checks the bucket, and
// stores the instance id in the instance's context.
//
//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) (ret C.int) {
	defer guard("FLBPluginInit", &ret, C.FLB_ERROR)
	p := (*C.struct_flbgo_output_plugin)(plugin)
	lastAPI.Store(p.api)
	id := instances.reserve()
	log := newLogger(p.api, p.o_ins, fmt.Sprintf("[out_secops_s3#%d] ", id))

	cfg, err := s3out.LoadConfig(readConfig(p))
	if err != nil {
		log.Error(err.Error())
		return C.FLB_ERROR
	}
	out, err := s3out.New(context.Background(), cfg, log)
	if err != nil {
		log.Error(err.Error())
		return C.FLB_ERROR
	}
	instances.put(id, &instance{out: out, log: log})
	C.secops_set_context(p, C.uintptr_t(id))
	return C.FLB_OK
}

// readConfig copies every accepted key of the instance being initialised.
func readConfig(p *C.struct_flbgo_output_plugin) flb.MapConfig {
	m := flb.MapConfig{}
	for _, k := range s3out.Keys() {
		ck := C.CString(k)
		if v := C.secops_get_property(p, ck); v != nil {
			m[k] = C.GoString(v)
		}
		C.free(unsafe.Pointer(ck))
	}
	return m
}

// The remote context is taken as uintptr: it holds a small integer id, and a
// non-pointer value in an unsafe.Pointer can abort the Go runtime when it
// scans a growing stack. The calling convention is the same as void*.
//
// FLBPluginFlushCtx stores one chunk and answers FLB_OK only once S3 has
// confirmed the object (or already had it), FLB_RETRY for transient
// failures and FLB_ERROR for permanent ones. data and tag are valid only
// during the call; the chunk is not copied.
//
//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx uintptr, data unsafe.Pointer, length C.size_t, tag *C.char) (ret C.int) {
	defer guard("FLBPluginFlushCtx", &ret, C.FLB_RETRY)
	inst := instances.get(ctx)
	if inst == nil {
		logGlobal(fmt.Sprintf("flush for unknown instance %d: was FLBPluginInit successful?", ctx))
		return C.FLB_ERROR
	}
	chunk := unsafe.Slice((*byte)(data), int(length))
	r := inst.out.Flush(context.Background(), chunk, C.GoString(tag))
	return C.int(r.Status)
}

// FLBPluginExitCtx stops one instance: uploads still running are cancelled.
//
//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx uintptr) (ret C.int) {
	defer guard("FLBPluginExitCtx", &ret, C.FLB_ERROR)
	if inst := instances.remove(ctx); inst != nil {
		inst.out.Close()
		inst.log.Debug("stopped")
	}
	return C.FLB_OK
}

// FLBPluginExit stops every instance. Fluent Bit calls it only when
// FLBPluginExitCtx is missing; it is kept for hosts that do.
//
//export FLBPluginExit
func FLBPluginExit() (ret C.int) {
	defer guard("FLBPluginExit", &ret, C.FLB_ERROR)
	for _, inst := range instances.removeAll() {
		inst.out.Close()
	}
	return C.FLB_OK
}

// FLBPluginUnregister is called once per load at plugin destroy; instances
// are already gone by then, and the registration strings stay allocated
// because a hot reload registers again in the same process.
//
//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	defer func() {
		if r := recover(); r != nil {
			logGlobal(fmt.Sprintf("panic in FLBPluginUnregister: %v", r))
		}
	}()
}

func main() {}
