// Command in_digicert is the Fluent Bit input plugin `digicert`, built with
// -buildmode=c-shared into in_digicert.so. It only converts Fluent Bit's
// Go-proxy calls for package digicertin, which holds all the logic; what both
// plugins share with Fluent Bit (registration, logging, registry, metrics,
// config map) is package flbplugin.
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
#define FLB_ERROR 0
#define FLB_OK 1
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flbplugin"
)

const (
	pluginName  = "digicert"
	logName     = "in_digicert"
	description = "DigiCert CertCentral audit logs (Reports API)"
	// stopTimeout bounds how long one instance's exit waits for its poller;
	// Fluent Bit's whole shutdown grace is 5 s by default.
	stopTimeout = 3 * time.Second
)

var (
	plugin    = flbplugin.New(flbplugin.Input, pluginName, logName, description, digicertin.KeyDocs())
	instances = flbplugin.NewRegistry[*instance]()
	buffers   = newHandouts()
)

// FLBPluginRegister declares the input plugin `digicert` (once per load of
// the .so, and again at every hot reload).
//
//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) C.int {
	return C.int(plugin.RegisterCallback(def, instances))
}

// FLBPluginInit sets up one [INPUT] section. It reads every key now, the
// only moment Fluent Bit allows it, validates them, opens the checkpoint,
// checks the key and report with DigiCert (at most StartCheckTimeout),
// starts the poller and stores the instance's integer id in
// remote_context. Any problem is logged, naming the key, and fails the
// start with FLB_ERROR.
//
//export FLBPluginInit
func FLBPluginInit(p unsafe.Pointer) C.int {
	return C.int(plugin.InitCallback(p, instances, initInstance))
}

func initInstance(in flbplugin.Instance, id uintptr, log *flbplugin.Logger) error {
	raw := in.Config(digicertin.Keys())
	// Before anything can fail: whatever the mistake, these never reach the log.
	for _, s := range digicertin.Secrets(raw) {
		plugin.AddSecret(s)
	}
	cfg, err := digicertin.LoadConfig(raw)
	if err != nil {
		return err
	}
	plugin.AddSecret(string(cfg.APIKey))
	eng, err := digicertin.New(cfg, log)
	if err != nil {
		return err
	}
	name := in.Name(fmt.Sprintf("%s.%d", pluginName, id-1))
	sink, closeMetrics := in.Metrics(digicertin.MetricDescs(), name, log)
	eng.SetMetrics(sink)
	// A wrong key or report id stops Fluent Bit now, not an hour later.
	if err := eng.StartChecked(digicertin.StartCheckTimeout); err != nil {
		closeMetrics()
		return err
	}
	if err := in.SetContext(id); err != nil {
		_ = eng.Stop(stopTimeout)
		closeMetrics()
		return err
	}
	instances.Add(id, flbplugin.ThreadID(), &instance{id: id, eng: eng, log: log, closeMetrics: closeMetrics})
	plugin.Started(log, digicert.Version, name, "report_id", cfg.ReportID, "mode", string(cfg.Mode), "interval", cfg.Interval.String())
	return nil
}

// FLBPluginInputCallbackCtx is Fluent Bit's 1-second collect. It never
// blocks: it hands over the batch the poller has prepared (nothing while
// paused) as it lies in the engine's memory, which stays valid until the
// cleanup callback, and remembers which batch that buffer carries.
//
//export FLBPluginInputCallbackCtx
func FLBPluginInputCallbackCtx(ctx uintptr, data *unsafe.Pointer, size *uintptr) (ret C.int) {
	// ctx is the void* remote_context and size a size_t*: cgo's GoUintptr
	// is size_t, passed like a pointer. ctx holds a small integer id, which
	// must not sit in a Go pointer-typed variable: the runtime aborts
	// ("invalid pointer found on stack") when such a stack grows.
	*data, *size = nil, 0
	ret = C.FLB_ERROR
	plugin.Guard("FLBPluginInputCallbackCtx", func() {
		inst, ok := instances.Get(ctx)
		if !ok {
			// An exited instance (Fluent Bit may still call it during its
			// shutdown grace) or a context this plugin never set.
			ret = C.FLB_OK
			return
		}
		// The records are outside the Go heap (the engine maps them), so
		// Fluent Bit may read them after this call returns.
		recs, batch := inst.eng.Collect()
		if batch != 0 && len(recs) > 0 {
			p := unsafe.Pointer(unsafe.SliceData(recs))
			buffers.put(uintptr(p), inst.eng, batch)
			*data, *size = p, uintptr(len(recs))
		}
		ret = C.FLB_OK
	})
	return ret
}

// FLBPluginInputCleanupCallbackCtx runs right after Fluent Bit appended
// (copied) a buffer from the collect callback: the engine frees exactly that
// buffer and learns the batch is in Fluent Bit, so the checkpoint may
// advance. It finds the engine through the buffer, not ctx, so a buffer
// cleaned up after its instance exited is still freed.
//
//export FLBPluginInputCleanupCallbackCtx
func FLBPluginInputCleanupCallbackCtx(ctx uintptr, data unsafe.Pointer) (ret C.int) {
	ret = C.FLB_ERROR
	plugin.Guard("FLBPluginInputCleanupCallbackCtx", func() {
		if data == nil {
			ret = C.FLB_OK
			return
		}
		h, ok := buffers.take(uintptr(data))
		if !ok {
			// Not ours: freeing it could corrupt the process, keeping it only leaks.
			plugin.LogGlobal(fmt.Sprintf("cleanup of a buffer this plugin did not hand out (context %d); left alone", ctx))
			return
		}
		h.eng.Release(h.batch)
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
	plugin.Guard("FLBPluginInputPause", func() {
		for _, inst := range instances.OnThread(flbplugin.ThreadID()) {
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
	plugin.Guard("FLBPluginInputResume", func() {
		for _, inst := range instances.OnThread(flbplugin.ThreadID()) {
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
	plugin.Guard("FLBPluginInputPreExit", func() {
		for _, inst := range instances.OnThread(flbplugin.ThreadID()) {
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
	plugin.Guard("FLBPluginExit", func() {
		stopAll(instances.RemoveOnThread(flbplugin.ThreadID()))
		ret = C.FLB_OK
	})
	return ret
}

// stopAll stops each instance; a panic in one does not spare the others.
func stopAll(list []*instance) {
	for _, inst := range list {
		plugin.Guard("stopping an instance", func() {
			defer inst.log.Close()
			if inst.closeMetrics != nil {
				defer inst.closeMetrics()
			}
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
	plugin.Guard("FLBPluginUnregister", func() {
		defer plugin.Unregister()
		stopAll(instances.Unregister(uintptr(def)))
	})
}

func main() {}
