// Command out_secops_s3 is the Fluent Bit output plugin `secops_s3`, built
// with -buildmode=c-shared into out_secops_s3.so. It only adapts Fluent
// Bit's Go-proxy calls to package secopsout, which holds all the logic; what
// both plugins share with Fluent Bit (registration, logging, registry,
// metrics, config map) is package flbplugin.
package main

/*
#define FLB_ERROR 0
#define FLB_OK 1
#define FLB_RETRY 2
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flbplugin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

const (
	logName     = "out_secops_s3"
	description = "DigiCert audit logs to Google SecOps: gzip NDJSON objects on S3, create-only writes"
)

var (
	plugin    = flbplugin.New(flbplugin.Output, secopsout.PluginName, logName, description, secopsout.KeyDocs())
	instances = flbplugin.NewRegistry[*instance]()
)

// FLBPluginRegister declares the output plugin secops_s3 (once per load,
// and again at every hot reload).
//
//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) C.int {
	return C.int(plugin.RegisterCallback(def, instances))
}

// FLBPluginInit sets up one [OUTPUT] instance: it reads every key (the only
// moment Fluent Bit allows it), validates them, checks the bucket, and
// stores the instance id in the instance's context.
//
//export FLBPluginInit
func FLBPluginInit(p unsafe.Pointer) C.int {
	return C.int(plugin.InitCallback(p, instances, initInstance))
}

func initInstance(in flbplugin.Instance, id uintptr, log *flbplugin.Logger) error {
	for _, s := range secopsout.EnvSecrets() {
		plugin.AddSecret(s)
	}
	cfg, err := secopsout.LoadConfig(in.Config(secopsout.Keys()))
	if err != nil {
		return err
	}
	out, err := secopsout.New(context.Background(), cfg, log)
	if err != nil {
		return err
	}
	for _, s := range out.Secrets() {
		plugin.AddSecret(s)
	}
	if err := in.SetContext(id); err != nil {
		out.Close()
		return err
	}
	name := in.Name(fmt.Sprintf("%s.%d", secopsout.PluginName, id-1))
	sink, closeMetrics := in.Metrics(secopsout.MetricDescs(), name, log)
	out.SetMetrics(sink)
	instances.Add(id, flbplugin.ThreadID(), &instance{out: out, log: log, closeMetrics: closeMetrics})
	plugin.Started(log, digicert.Version, name)
	return nil
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
	ret = C.FLB_RETRY // a panic: the chunk is kept and retried
	plugin.Guard("FLBPluginFlushCtx", func() {
		inst, ok := instances.Get(ctx)
		if !ok {
			plugin.LogGlobal(fmt.Sprintf("flush for unknown instance %d: was FLBPluginInit successful?", ctx))
			ret = C.FLB_ERROR
			return
		}
		chunk := unsafe.Slice((*byte)(data), int(length))
		r := inst.out.Flush(context.Background(), chunk, C.GoString(tag))
		ret = C.int(r.Status)
	})
	return ret
}

// FLBPluginExitCtx stops one instance: uploads still running are cancelled.
//
//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx uintptr) (ret C.int) {
	ret = C.FLB_ERROR
	plugin.Guard("FLBPluginExitCtx", func() {
		if inst, ok := instances.Remove(ctx); ok {
			inst.stop()
		}
		ret = C.FLB_OK
	})
	return ret
}

// FLBPluginExit stops every instance. Fluent Bit calls it only when
// FLBPluginExitCtx is missing; it is kept for hosts that do.
//
//export FLBPluginExit
func FLBPluginExit() (ret C.int) {
	ret = C.FLB_ERROR
	plugin.Guard("FLBPluginExit", func() {
		for _, inst := range instances.RemoveAll() {
			plugin.Guard("stopping an instance", inst.stop)
		}
		ret = C.FLB_OK
	})
	return ret
}

// FLBPluginUnregister is called once per registration at plugin destroy
// (shutdown, or the old configuration of a hot reload). Instances of that
// registration still running are stopped; the API table is freed by Fluent
// Bit right after, so it is forgotten. The registration strings stay
// allocated because a hot reload registers again in the same process.
//
//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	plugin.Guard("FLBPluginUnregister", func() {
		defer plugin.Unregister()
		for _, inst := range instances.Unregister(uintptr(def)) {
			plugin.Guard("stopping an instance", inst.stop)
		}
	})
}

func main() {}
