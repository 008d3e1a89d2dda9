package flbplugin

import (
	"runtime/debug"
	"slices"
	"testing"
	"unsafe"
)

var testKeys = []Key{{Name: "alpha", Default: "1h", Desc: "a"}, {Name: "beta", Desc: "b"}}

// def reads back the registration fields: int type, proxy, flags; char
// *name, *description; int event_type; void *config_map.
type def struct {
	typ, proxy, flags int32
	_                 int32
	name, desc        unsafe.Pointer
	eventType         int32
	_                 int32
	configMap         unsafe.Pointer
}

// Fluent Bit ≥ 5.1.1 allocates the 48-byte struct: the config map is set
// and the plugin says keys are checked.
func TestRegisterSetsConfigMapOnNewHost(t *testing.T) {
	p := New(Output, "x", "out_x", "desc", testKeys)
	mem := AllocDef(DefSize)
	defer FreeDef(mem)
	if err := p.Register(mem); err != nil {
		t.Fatal(err)
	}
	d := (*def)(mem)
	// event_type stays as the host made it (0: logs); Fluent Bit 4.1's
	// struct ends before it.
	if d.typ != int32(Output) || d.proxy != 11 || d.eventType != 0 {
		t.Errorf("def %+v", *d)
	}
	if d.configMap != p.cfgMap.ptr || !p.ConfigMapSet() {
		t.Fatalf("config map %p (want %p), set %v", d.configMap, p.cfgMap.ptr, p.ConfigMapSet())
	}
	// Whether the host took it is known only at init.
	if p.StrictConfig() {
		t.Error("strict before any init")
	}
	if p.cfgMap.probe != "\xa5alpha" && p.cfgMap.probe != "" {
		t.Errorf("probe %q", p.cfgMap.probe)
	}
	names, defaults := p.cfgMap.entries()
	if !slices.Equal(names, []string{"alpha", "beta"}) || !slices.Equal(defaults, []string{"1h", ""}) {
		t.Errorf("config map %v %v", names, defaults)
	}
}

// Fluent Bit 4.x–5.1.0 allocates 40 bytes: the field lies past the
// allocation and must not be written (it would corrupt the host's heap).
func TestRegisterLeavesOldHostAlone(t *testing.T) {
	p := New(Input, "x", "in_x", "desc", testKeys)
	if OldDefSize != 40 || DefSize != 48 {
		t.Fatalf("sizes %d/%d: not LP64?", OldDefSize, DefSize)
	}
	mem := AllocDef(OldDefSize)
	defer FreeDef(mem)
	if err := p.Register(mem); err != nil {
		t.Fatal(err)
	}
	if p.ConfigMapSet() { // (reading the field back would read past the allocation)
		t.Fatal("the config map was set on a host whose struct has no room for it")
	}
	if (*def)(mem).typ != int32(Input) {
		t.Error("registration not filled")
	}
	// A later registration on a new host turns it on, and back off again.
	mem2 := AllocDef(DefSize)
	defer FreeDef(mem2)
	_ = p.Register(mem2)
	if !p.ConfigMapSet() {
		t.Error("new host after old: no config map")
	}
	_ = p.Register(mem)
	if p.ConfigMapSet() {
		t.Error("old host after new: still a config map")
	}
}

func TestRegisterNULL(t *testing.T) {
	p := New(Input, "x", "in_x", "desc", testKeys)
	if err := p.Register(nil); err == nil {
		t.Error("NULL def accepted")
	}
}

// The API table of the latest init is forgotten at Unregister: Fluent Bit
// frees it right after.
func TestUnregisterForgetsAPITable(t *testing.T) {
	p := New(Output, "x", "out_x", "desc", nil)
	api := AllocDef(9 * 8) // a zeroed flb_api: no function at all
	defer FreeDef(api)
	st := AllocDef(4 * 8) // {name, api, ins, context}
	defer FreeDef(st)
	(*[4]unsafe.Pointer)(st)[1] = api
	in, ok := p.Begin(st)
	if !ok || p.APITable() != api {
		t.Fatalf("Begin: ok %v table %p", ok, p.APITable())
	}
	if cfg := in.Config([]string{"alpha"}); len(cfg) != 0 {
		t.Errorf("config from a table without get_property: %v", cfg)
	}
	if err := in.SetContext(1); err == nil {
		t.Error("SetContext without a context struct succeeded")
	}
	p.Unregister()
	if p.APITable() != nil {
		t.Error("API table kept after Unregister")
	}
}

// TuneRuntime sets GOGC, but leaves one set in the environment alone.
func TestTuneRuntime(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	TuneRuntime(37, "")
	if got := GCPercent(); got != 37 {
		t.Errorf("GOGC %d after TuneRuntime(37), want 37", got)
	}
	t.Setenv("GOGC", "80")
	TuneRuntime(12, "")
	if got := GCPercent(); got != 37 {
		t.Errorf("GOGC %d after TuneRuntime(12) with GOGC set, want it unchanged (37)", got)
	}
}
