// Command in_digicert is the Fluent Bit input plugin `digicert`, built with
// -buildmode=c-shared into in_digicert.so. It only converts Fluent Bit's
// Go-proxy calls for package input, which holds all the logic.
//
// It needs Fluent Bit ≥ 4.1: it exports only the per-instance *Ctx collect
// and cleanup callbacks, which older versions do not call.
//
// Threads: Fluent Bit runs each instance on its own thread (init, collect,
// cleanup, pause, resume, pre-exit and exit all happen there), so the
// callbacks without an instance argument (pause, resume, exit) act on the
// instance whose init ran on the calling thread, and on every instance when
// the thread is unknown.
package main

/*
#include <stdlib.h>
#include <string.h>
#cgo CFLAGS: -I${SRCDIR}/../flbabi
#include "abi.h"
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
	"github.com/digicert-secops/fluent-bit-digicert/plugin/input"
)

const (
	pluginName  = "digicert"
	description = "DigiCert CertCentral audit logs (Reports API)"
	// stopTimeout bounds how long one instance's exit waits for its poller;
	// Fluent Bit's whole shutdown grace is 5 s by default.
	stopTimeout = 3 * time.Second
)

var (
	instances = newRegistry()
	// Fluent Bit keeps these pointers (def->description is not copied) and
	// a reload registers again in the same process: allocated once, never freed.
	cName        = C.CString(pluginName)
	cDescription = C.CString(description)
)

// guard runs an export's body and recovers a panic there: it is logged with
// its stack and the export returns its failure value instead of crashing
// Fluent Bit. (recover must be called by the deferred function itself.)
func guard(export string, body func()) {
	defer func() {
		if r := recover(); r != nil {
			logGlobal(fmt.Sprintf("panic in %s: %v\n%s", export, r, debug.Stack()))
		}
	}()
	body()
}

// threadID names the calling OS thread.
func threadID() uint64 { return uint64(C.dc_thread_id()) }

// FLBPluginRegister declares the input plugin `digicert` (once per load of
// the .so, and again at every hot reload).
//
//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) (ret C.int) {
	ret = -1
	guard("FLBPluginRegister", func() {
		if C.dc_register((*C.struct_flb_plugin_proxy_def)(def), cName, cDescription) == 0 {
			instances.register(uintptr(def))
			ret = 0
		}
	})
	return ret
}

// FLBPluginInit sets up one [INPUT] section. It reads every key now, the
// only moment Fluent Bit allows it, validates them, opens the checkpoint,
// checks the key and report with DigiCert (at most StartCheckTimeout),
// starts the poller and stores the instance's integer id in
// remote_context. Any problem is logged, naming the key, and fails the
// start with FLB_ERROR.
//
//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) (ret C.int) {
	ret = C.FLB_ERROR
	guard("FLBPluginInit", func() { ret = initInstance((*C.struct_flbgo_input_plugin)(plugin)) })
	return ret
}

func initInstance(p *C.struct_flbgo_input_plugin) C.int {
	lastAPI.Store(p.api)
	id := instances.reserve()
	log := newLogger(p.api, p.i_ins, fmt.Sprintf("[in_digicert#%d] ", id))

	cfg, err := input.LoadConfig(readConfig(p))
	if err != nil {
		log.Error(err.Error())
		return C.FLB_ERROR
	}
	eng, err := input.New(cfg, log)
	if err != nil {
		log.Error(err.Error())
		return C.FLB_ERROR
	}
	// A wrong key or report id stops Fluent Bit now, not an hour later.
	if err := eng.StartChecked(input.StartCheckTimeout); err != nil {
		log.Error(err.Error())
		return C.FLB_ERROR
	}
	if C.dc_set_remote_context(p, C.uintptr_t(id)) != 0 {
		log.Error("the host passed no input context (plugin->context is NULL): it does not follow Fluent Bit's Go proxy ABI")
		_ = eng.Stop(stopTimeout)
		return C.FLB_ERROR
	}
	instances.add(&instance{id: id, eng: eng, log: log, thread: threadID()})
	log.Info("started", "report_id", cfg.ReportID, "mode", string(cfg.Mode), "interval", cfg.Interval.String())
	return C.FLB_OK
}

// readConfig copies every key the input accepts from the instance being
// initialised (properties are readable only during FLBPluginInit).
func readConfig(p *C.struct_flbgo_input_plugin) flb.MapConfig {
	m := flb.MapConfig{}
	for _, k := range input.Keys() {
		ck := C.CString(k)
		if v := C.dc_get_property(p, ck); v != nil {
			m[k] = C.GoString(v)
		}
		C.free(unsafe.Pointer(ck))
	}
	return m
}

// FLBPluginInputCallbackCtx is Fluent Bit's 1-second collect. It never
// blocks: it takes what the poller has queued (nothing while paused), copies
// it into C memory that Fluent Bit may hold until the cleanup callback, and
// remembers which batch that buffer carries.
//
//export FLBPluginInputCallbackCtx
func FLBPluginInputCallbackCtx(ctx uintptr, data *unsafe.Pointer, size *uintptr) (ret C.int) {
	// ctx is the void* remote_context and size a size_t*: cgo's GoUintptr
	// is size_t, passed like a pointer. ctx holds a small integer id, which
	// must not sit in a Go pointer-typed variable: the runtime aborts
	// ("invalid pointer found on stack") when such a stack grows.
	*data, *size = nil, 0
	ret = C.FLB_ERROR
	guard("FLBPluginInputCallbackCtx", func() {
		inst := instances.get(ctx)
		if inst == nil {
			// An exited instance (Fluent Bit may still call it during its
			// shutdown grace) or a context this plugin never set.
			ret = C.FLB_OK
			return
		}
		// The engine copies the batch straight into C memory for Fluent Bit.
		var buf unsafe.Pointer
		handed := false
		defer func() {
			if buf != nil && !handed {
				C.free(buf) // allocated, but the engine handed nothing out
			}
		}()
		n, batch := inst.eng.Collect(func(n int) []byte {
			// cgo's C.malloc aborts the process rather than return NULL.
			buf = C.malloc(C.size_t(max(n, 1)))
			return unsafe.Slice((*byte)(buf), n)
		})
		if n > 0 && buf != nil {
			instances.handOut(uintptr(buf), inst.id, batch)
			*data, *size = buf, uintptr(n)
			handed = true
		}
		ret = C.FLB_OK
	})
	return ret
}

// FLBPluginInputCleanupCallbackCtx runs right after Fluent Bit appended
// (copied) a buffer from the collect callback: it frees exactly that buffer
// and tells the engine the batch is in Fluent Bit, so the checkpoint may
// advance.
//
//export FLBPluginInputCleanupCallbackCtx
func FLBPluginInputCleanupCallbackCtx(ctx uintptr, data unsafe.Pointer) (ret C.int) {
	ret = C.FLB_ERROR
	guard("FLBPluginInputCleanupCallbackCtx", func() {
		if data == nil {
			ret = C.FLB_OK
			return
		}
		h, inst, ok := instances.takeBack(uintptr(data))
		if !ok {
			// Not ours: freeing it could corrupt the heap, keeping it only leaks.
			logGlobal(fmt.Sprintf("cleanup of a buffer this plugin did not hand out (context %d); left alone", ctx))
			return
		}
		C.free(data)
		if inst != nil {
			inst.eng.Release(h.batch)
		}
		ret = C.FLB_OK
	})
	return ret
}

// FLBPluginInputPause is Fluent Bit's backpressure signal. It carries no
// instance, but Fluent Bit calls it on the paused instance's thread, so
// that instance's engine stops handing out rows; rows stay queued (the
// poller waits when the queue is full) and nothing is checkpointed until a
// later cleanup, so pausing loses nothing. Called from an unknown thread it
// pauses every engine, which only delays them.
//
//export FLBPluginInputPause
func FLBPluginInputPause() {
	guard("FLBPluginInputPause", func() {
		for _, inst := range instances.onThread(threadID()) {
			inst.eng.Pause()
			inst.log.Debug("paused")
		}
	})
}

// FLBPluginInputResume undoes FLBPluginInputPause for the instance of the
// calling thread (every instance from an unknown thread).
//
//export FLBPluginInputResume
func FLBPluginInputResume() {
	guard("FLBPluginInputResume", func() {
		for _, inst := range instances.onThread(threadID()) {
			inst.eng.Resume()
			inst.log.Debug("resumed")
		}
	})
}

// FLBPluginInputPreExit comes right before FLBPluginExit on the same
// thread. The instance stops handing out rows: Fluent Bit is shutting it
// down (or reloading) and would drop them.
//
//export FLBPluginInputPreExit
func FLBPluginInputPreExit(hotReload C.int) {
	guard("FLBPluginInputPreExit", func() {
		for _, inst := range instances.onThread(threadID()) {
			inst.eng.Pause()
			inst.log.Debug("stopping", "hot_reload", hotReload != 0)
		}
	})
}

// FLBPluginExit stops the instance of the calling thread: Fluent Bit calls
// it once per input instance (inputs have no ExitCtx) on that instance's
// thread. From an unknown thread it stops every instance. Stopping cancels
// the network, waits for the poller and saves the checkpoint of released
// batches only.
//
//export FLBPluginExit
func FLBPluginExit() (ret C.int) {
	ret = C.FLB_ERROR
	guard("FLBPluginExit", func() {
		stopAll(instances.removeOnThread(threadID()))
		ret = C.FLB_OK
	})
	return ret
}

// stopAll stops each instance; a panic in one does not spare the others.
func stopAll(list []*instance) {
	for _, inst := range list {
		guard("stopping an instance", func() {
			defer inst.log.close()
			if err := inst.eng.Stop(stopTimeout); err != nil {
				inst.log.Error(err.Error())
			} else {
				inst.log.Info("stopped")
			}
		})
	}
}

// FLBPluginUnregister comes once per registration when Fluent Bit destroys
// the plugin (shutdown, or the old configuration of a hot reload). Any
// instance of that registration still running is stopped; the API table is
// freed by Fluent Bit right after, so it is forgotten.
//
//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	guard("FLBPluginUnregister", func() {
		defer lastAPI.Store(nil)
		stopAll(instances.unregister(uintptr(def)))
	})
}

func main() {}
