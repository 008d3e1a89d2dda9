// Package flbplugin is what the two cgo layers (plugin/in_digicert and
// plugin/out_secops_s3) share: registration with Fluent Bit's Go proxy,
// panic guards, logging through Fluent Bit with secrets scrubbed, reading an
// instance's properties, the instance registry, native metrics and the
// strict config map. Each layer's //export file is then a short list of
// callbacks. (cgo exports must live in package main, so none are here.)
package flbplugin

/*
#include <stdlib.h>
#cgo CFLAGS: -I${SRCDIR}/../../plugin/flbabi
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// Kind says which side of Fluent Bit a plugin is on.
type Kind int

// Plugin kinds, numbered as Fluent Bit's FLB_PROXY_*_PLUGIN.
const (
	Input  Kind = C.FLB_PROXY_INPUT_PLUGIN
	Output Kind = C.FLB_PROXY_OUTPUT_PLUGIN
)

// Plugin is one Go plugin (one .so): its registration and the state shared
// by its instances. The Go runtime and its globals outlive hot reloads, so
// a Plugin lives for the whole process.
type Plugin struct {
	kind    Kind
	name    string // as registered, e.g. "digicert"
	logName string // prefix of its log lines, e.g. "in_digicert"

	// Fluent Bit keeps these pointers (def->description is not copied) and
	// a reload registers again in the same process: allocated once.
	cName, cDesc *C.char

	api      atomic.Pointer[C.struct_flb_api] // of the latest init; nil after Unregister
	secrets  flb.Redactor
	cfgMap   *configMap
	mapSet   atomic.Bool // the latest registration carries the config map
	strict   atomic.Bool // the host took it (known from the first init on)
	metaOnce atomic.Bool // "no metrics" logged
}

// New describes a plugin. keys are its configuration keys with their
// documented defaults, for the config map Fluent Bit ≥ 5.1.1 validates.
func New(kind Kind, name, logName, description string, keys []Key) *Plugin {
	return &Plugin{
		kind: kind, name: name, logName: logName,
		cName: C.CString(name), cDesc: C.CString(description),
		cfgMap: newConfigMap(keys),
	}
}

// AddSecret registers a secret to scrub from every line this plugin logs.
func (p *Plugin) AddSecret(s string) { p.secrets.Add(s) }

// Redact scrubs registered secrets from s.
func (p *Plugin) Redact(s string) string { return p.secrets.Redact(s) }

// Guard runs an export's body and recovers a panic there: it is logged with
// its stack and the export keeps the failure value its caller preset,
// instead of crashing Fluent Bit. (recover must be called by the deferred
// function itself.)
func (p *Plugin) Guard(export string, body func()) {
	defer func() {
		if r := recover(); r != nil {
			p.LogGlobal(fmt.Sprintf("panic in %s: %v\n%s", export, r, debug.Stack()))
		}
	}()
	body()
}

// Register fills Fluent Bit's registration (FLBPluginRegister's argument).
// It sets the config map only when the host's allocation has room for the
// field (Fluent Bit ≥ 5.1.1): on older hosts the field lies past the
// allocation and writing it would corrupt the heap.
func (p *Plugin) Register(def unsafe.Pointer) error {
	d := (*C.struct_flb_plugin_proxy_def)(def)
	if C.fp_register(d, C.int(p.kind), p.cName, p.cDesc) != 0 {
		return fmt.Errorf("%s: Fluent Bit passed no registration struct", p.logName)
	}
	set := p.cfgMap != nil && C.fp_def_has_config_map(d) != 0
	if set {
		C.fp_set_config_map(d, p.cfgMap.ptr)
	}
	p.mapSet.Store(set)
	p.strict.Store(false) // until an init sees the host took it
	return nil
}

// ConfigMapSet reports whether the latest registration carries the config map.
func (p *Plugin) ConfigMapSet() bool { return p.mapSet.Load() }

// StrictConfig reports whether Fluent Bit took the config map, so that it
// rejects unknown keys itself (known once an instance has started).
func (p *Plugin) StrictConfig() bool { return p.strict.Load() }

// checkStrict asks the host, at an instance's init, whether it took the
// config map; a host that cannot tell counts as not checking keys.
func (i Instance) checkStrict() {
	p := i.p
	if !p.mapSet.Load() || p.cfgMap.probe == "" {
		p.strict.Store(false)
		return
	}
	probe := C.CString(p.cfgMap.probe)
	defer C.free(unsafe.Pointer(probe))
	p.strict.Store(C.fp_host_took_config_map(C.int(p.kind), i.ins, probe, C.size_t(len(p.cfgMap.probe))) == 1)
}

// HostDescription names the host as far as the plugin can tell: only
// Fluent Bit ≥ 5.1.1 takes a Go plugin's config map.
func (p *Plugin) HostDescription() string {
	if p.StrictConfig() {
		return "Fluent Bit >= 5.1.1"
	}
	return "Fluent Bit < 5.1.1 (or a host without config maps)"
}

// Unregister forgets the API table: Fluent Bit frees it right after.
func (p *Plugin) Unregister() { p.api.Store(nil) }

// Instance is what FLBPluginInit receives, valid only during that call:
// Fluent Bit overwrites the struct at every instance's init.
type Instance struct {
	p       *Plugin
	api     *C.struct_flb_api
	ins     unsafe.Pointer
	context unsafe.Pointer
}

// Begin reads FLBPluginInit's argument (struct flbgo_input_plugin or
// flbgo_output_plugin: both start name, api, instance, context). It
// returns false for a NULL argument.
func (p *Plugin) Begin(plugin unsafe.Pointer) (Instance, bool) {
	if plugin == nil {
		return Instance{}, false
	}
	s := (*C.struct_flbgo_output_plugin)(plugin)
	p.api.Store(s.api)
	return Instance{p: p, api: s.api, ins: s.o_ins, context: unsafe.Pointer(s.context)}, true
}

// Config copies the listed keys' values (properties are readable only
// during FLBPluginInit).
func (i Instance) Config(keys []string) flb.MapConfig {
	m := flb.MapConfig{}
	for _, k := range keys {
		ck := C.CString(k)
		if v := C.fp_get_property(i.api, C.int(i.p.kind), i.ins, ck); v != nil {
			m[k] = C.GoString(v)
		}
		C.free(unsafe.Pointer(ck))
	}
	return m
}

// SetContext stores id in the instance's remote_context, which Fluent Bit
// hands back to the *Ctx callbacks.
func (i Instance) SetContext(id uintptr) error {
	if C.fp_set_remote_context(C.int(i.p.kind), i.context, C.uintptr_t(id)) != 0 {
		return fmt.Errorf("the host passed no %s context (plugin->context is NULL): it does not follow Fluent Bit's Go proxy ABI", i.p.logName)
	}
	return nil
}

// Name is the instance's name in Fluent Bit (its alias, else e.g.
// "digicert.0"), or fallback when the host cannot tell.
func (i Instance) Name(fallback string) string {
	if n := C.fp_instance_name(C.int(i.p.kind), i.ins); n != nil {
		return C.GoString(n)
	}
	return fallback
}

// Logger returns the instance's logger: prefix starts every line.
func (i Instance) Logger(prefix string) *Logger {
	return &Logger{p: i.p, api: i.api, ins: i.ins, prefix: prefix}
}

// LogGlobal logs an error that belongs to no instance (a panic outside
// one). Before the first init and after Unregister that is stderr.
func (p *Plugin) LogGlobal(msg string) {
	l := &Logger{p: p, api: p.api.Load(), prefix: "[" + p.logName + "] "}
	l.Error(msg)
}

// stderr is where lines go when Fluent Bit's log function is gone; never stdout.
var stderr = os.Stderr

// Build describes how the plugin was built: Go version and, when the build
// recorded it, the source revision (e.g. "go1.26.8 rev 1a2b3c4d5e6f").
func Build() string {
	b := runtime.Version()
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		b += " rev " + rev[:min(12, len(rev))]
		if dirty {
			b += "+dirty"
		}
	}
	return b
}

// APITable is the API table the plugin would log through outside an
// instance (nil before the first init and after Unregister).
func (p *Plugin) APITable() unsafe.Pointer { return unsafe.Pointer(p.api.Load()) }

// Registrations is what the callbacks below need from a Registry.
type Registrations interface {
	Register(def uintptr)
	Reserve() uintptr
}

// RegisterCallback is the whole FLBPluginRegister: 0, or -1 when the
// registration cannot be filled (a panic included).
func (p *Plugin) RegisterCallback(def unsafe.Pointer, reg Registrations) (ret int) {
	ret = -1
	p.Guard("FLBPluginRegister", func() {
		if err := p.Register(def); err != nil {
			p.LogGlobal(err.Error())
			return
		}
		reg.Register(uintptr(def))
		ret = 0
	})
	return ret
}

// InitCallback is the frame of FLBPluginInit: it reserves the instance's id,
// makes its logger ("[logName#id] "), and runs body, which reads the
// configuration and starts the instance. An error from body is logged (it
// names the key to fix) and fails the init; so does a panic. It returns
// FLB_OK (1) or FLB_ERROR (0).
func (p *Plugin) InitCallback(plugin unsafe.Pointer, reg Registrations, body func(in Instance, id uintptr, log *Logger) error) (ret int) {
	p.Guard("FLBPluginInit", func() {
		in, ok := p.Begin(plugin)
		if !ok {
			p.LogGlobal("FLBPluginInit without a plugin struct")
			return
		}
		in.checkStrict()
		id := reg.Reserve()
		log := in.Logger(fmt.Sprintf("[%s#%d] ", p.logName, id))
		if err := body(in, id, log); err != nil {
			log.Error(err.Error())
			log.Close()
			return
		}
		ret = 1
	})
	return ret
}

// Started logs an instance's start-up line (which names the plugin's
// version and build and what is known of the host) with its own details,
// and, on a host that cannot check keys, says so.
func (p *Plugin) Started(log *Logger, version, name string, details ...any) {
	args := append(details, "name", name, "version", version, "build", Build(), "host", p.HostDescription())
	log.Info("started", args...)
	if !p.StrictConfig() {
		log.Info("this Fluent Bit does not check this plugin's keys: a misspelt key is ignored (Fluent Bit >= 5.1.1 rejects it at start)")
	}
}
