package flbplugin

/*
#include <stdlib.h>
#include <string.h>
#cgo CFLAGS: -I${SRCDIR}/../../plugin/flbabi
#include "glue.h"
*/
import "C"

import (
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

func threadID() uint64 { return uint64(C.fp_thread_id()) }

// Key is one configuration key of a plugin, with its documented default
// ("" when it has none) and a one-line description (`fluent-bit -i NAME -h`).
type Key = flb.KeyDoc

// configMap is a C array of struct flb_config_map, allocated once per
// process and never freed: Fluent Bit keeps pointing at it (also across
// hot reloads, which register again).
type configMap struct {
	ptr   unsafe.Pointer
	n     int
	probe string // a key as a msgpack string, to find in the host's help
}

func newConfigMap(keys []Key) *configMap {
	if len(keys) == 0 {
		return nil
	}
	size := C.size_t(unsafe.Sizeof(C.struct_flb_config_map{}))
	ptr := C.calloc(C.size_t(len(keys)+1), size) // zeroed: the last entry ends the map
	entries := unsafe.Slice((*C.struct_flb_config_map)(ptr), len(keys)+1)
	for i, k := range keys {
		e := &entries[i]
		e._type = C.FLB_CONFIG_MAP_STR
		e.name = C.CString(k.Name)
		if k.Default != "" {
			e.def_value = C.CString(k.Default)
		}
		e.desc = C.CString(k.Desc)
	}
	m := &configMap{ptr: ptr, n: len(keys)}
	for _, k := range keys {
		if len(k.Name) >= 8 && len(k.Name) < 32 { // a msgpack fixstr, distinctive enough
			m.probe = string([]byte{byte(0xa0 + len(k.Name))}) + k.Name
			break
		}
	}
	return m
}

// entries returns the map's names and defaults as C holds them (tests).
func (m *configMap) entries() (names, defaults []string) {
	all := unsafe.Slice((*C.struct_flb_config_map)(m.ptr), m.n+1)
	for _, e := range all[:m.n] {
		names = append(names, C.GoString(e.name))
		d := ""
		if e.def_value != nil {
			d = C.GoString(e.def_value)
		}
		defaults = append(defaults, d)
	}
	if all[m.n].name != nil {
		names = append(names, "<unterminated>")
	}
	return names, defaults
}

// AllocDef allocates a zeroed registration struct of size bytes with the C
// allocator, as Fluent Bit does (40 bytes before 5.1.1, 48 from it on LP64),
// for tests of FLBPluginRegister; free it with FreeDef.
func AllocDef(size int) unsafe.Pointer { return C.calloc(1, C.size_t(size)) }

// FreeDef frees what AllocDef returned.
func FreeDef(p unsafe.Pointer) { C.free(p) }

// DefSize is sizeof(struct flb_plugin_proxy_def) with config_map (5.1.1).
const DefSize = int(unsafe.Sizeof(C.struct_flb_plugin_proxy_def{}))

// OldDefSize is the struct's size before 5.1.1: it ends after event_type.
const OldDefSize = int(unsafe.Offsetof(C.struct_flb_plugin_proxy_def{}.config_map))
