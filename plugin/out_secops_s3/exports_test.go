package main

import (
	"testing"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flbplugin"
)

// An init that fails still leaves the API table behind for messages outside
// an instance; Unregister must forget it, because Fluent Bit frees the
// table right after (logging through it later would use freed memory).
func TestUnregisterForgetsAPITable(t *testing.T) {
	api := flbplugin.AllocDef(9 * 8) // a zeroed flb_api: every function NULL
	defer flbplugin.FreeDef(api)
	st := flbplugin.AllocDef(9 * 8) // struct flbgo_output_plugin
	defer flbplugin.FreeDef(st)
	(*[4]unsafe.Pointer)(st)[1] = api
	if ret := FLBPluginInit(st); ret != 0 {
		t.Fatalf("init without bucket: ret %d, want FLB_ERROR", ret)
	}
	if plugin.APITable() != api {
		t.Fatal("init did not keep the API table")
	}
	def := flbplugin.AllocDef(flbplugin.DefSize)
	defer flbplugin.FreeDef(def)
	if ret := FLBPluginRegister(def); ret != 0 {
		t.Fatalf("register: %d", ret)
	}
	FLBPluginUnregister(def)
	if plugin.APITable() != nil {
		t.Error("the API table outlived Unregister")
	}
}

func TestExportsRecoverPanicsAndNULL(t *testing.T) {
	if ret := FLBPluginInit(nil); ret != 0 {
		t.Errorf("init(NULL): ret %d", ret)
	}
	if ret := FLBPluginRegister(nil); ret != -1 {
		t.Errorf("register(NULL): ret %d", ret)
	}
	if ret := FLBPluginFlushCtx(12345, nil, 0, nil); ret != 0 {
		t.Errorf("flush of an unknown instance: ret %d, want FLB_ERROR", ret)
	}
	if ret := FLBPluginExitCtx(12345); ret != 1 {
		t.Errorf("exit of an unknown instance: ret %d", ret)
	}
	if ret := FLBPluginExit(); ret != 1 {
		t.Errorf("exit: ret %d", ret)
	}
	FLBPluginUnregister(nil)
}
