package main

import (
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flbplugin"
)

// The exports called directly, with fake engines: buffer hand-over and
// release, per-thread pause/exit, and panics that must not escape.

type scriptedEngine struct {
	mu       sync.Mutex
	out      [][]byte
	batch    uint64
	released []uint64
	paused   bool
	stopped  bool
	panicAt  string // "collect", "release", "pause", "stop"
}

func (e *scriptedEngine) hit(op string) {
	if e.panicAt == op {
		panic("boom in " + op)
	}
}

func (e *scriptedEngine) Collect() ([]byte, uint64) {
	e.hit("collect")
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.paused || len(e.out) == 0 {
		return nil, 0
	}
	b := e.out[0]
	e.out = e.out[1:]
	e.batch++
	return b, e.batch
}

func (e *scriptedEngine) Release(b uint64) {
	e.hit("release")
	e.mu.Lock()
	e.released = append(e.released, b)
	e.mu.Unlock()
}

func (e *scriptedEngine) Pause()  { e.hit("pause"); e.mu.Lock(); e.paused = true; e.mu.Unlock() }
func (e *scriptedEngine) Resume() { e.mu.Lock(); e.paused = false; e.mu.Unlock() }
func (e *scriptedEngine) Stop(time.Duration) error {
	e.hit("stop")
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	return nil
}

// withInstances installs fresh global state for one test.
func withInstances(t *testing.T) {
	t.Helper()
	old, oldBuf := instances, buffers
	instances, buffers = flbplugin.NewRegistry[*instance](), newHandouts()
	t.Cleanup(func() { instances, buffers = old, oldBuf })
}

// nopLogger stands in for Fluent Bit's log (there is none in go test).
type nopLogger struct{ closed bool }

func (*nopLogger) Error(string, ...any) {}
func (*nopLogger) Warn(string, ...any)  {}
func (*nopLogger) Info(string, ...any)  {}
func (*nopLogger) Debug(string, ...any) {}
func (l *nopLogger) Close()             { l.closed = true }

func addEngine(eng engine, thread uint64) *instance {
	inst := &instance{id: instances.Reserve(), eng: eng, log: &nopLogger{}}
	instances.Add(inst.id, thread, inst)
	return inst
}

func TestExportsCollectAndCleanup(t *testing.T) {
	withInstances(t)
	eng := &scriptedEngine{out: [][]byte{[]byte("first"), []byte("second!")}}
	inst := addEngine(eng, 0)
	ctx := inst.id

	for i, want := range []string{"first", "second!"} {
		var data unsafe.Pointer
		var size uintptr
		if ret := FLBPluginInputCallbackCtx(ctx, &data, &size); ret != 1 || data == nil {
			t.Fatalf("collect %d: ret %d data %v", i, ret, data)
		}
		if got := string(unsafe.Slice((*byte)(data), size)); got != want {
			t.Errorf("collect %d handed %q, want %q", i, got, want)
		}
		if ret := FLBPluginInputCleanupCallbackCtx(ctx, data); ret != 1 {
			t.Errorf("cleanup %d: ret %d", i, ret)
		}
	}
	if len(eng.released) != 2 || eng.released[0] != 1 || eng.released[1] != 2 {
		t.Errorf("released %v, want [1 2]", eng.released)
	}
	var data unsafe.Pointer
	var size uintptr
	if ret := FLBPluginInputCallbackCtx(ctx, &data, &size); ret != 1 || data != nil || size != 0 {
		t.Errorf("empty collect: ret %d data %v size %d", ret, data, size)
	}
	// Unknown context (an exited instance): nothing, and no crash.
	if ret := FLBPluginInputCallbackCtx(999, &data, &size); ret != 1 || data != nil {
		t.Errorf("unknown context: ret %d data %v", ret, data)
	}
	// A buffer the plugin never handed out is left alone (not freed).
	foreign := new([16]byte)
	if ret := FLBPluginInputCleanupCallbackCtx(ctx, unsafe.Pointer(foreign)); ret != 0 {
		t.Errorf("foreign cleanup: ret %d, want FLB_ERROR", ret)
	}
	if len(eng.released) != 2 {
		t.Errorf("a foreign buffer released a batch: %v", eng.released)
	}
}

// A buffer Fluent Bit cleans up after its instance exited still goes back
// to the engine that handed it out, which frees it.
func TestExportsCleanupAfterExit(t *testing.T) {
	withInstances(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	eng := &scriptedEngine{out: [][]byte{[]byte("last")}}
	inst := addEngine(eng, flbplugin.ThreadID())
	var data unsafe.Pointer
	var size uintptr
	if ret := FLBPluginInputCallbackCtx(inst.id, &data, &size); ret != 1 || size != 4 {
		t.Fatalf("collect: ret %d size %d", ret, size)
	}
	FLBPluginExit()
	if !eng.stopped {
		t.Fatal("exit did not stop the instance")
	}
	if ret := FLBPluginInputCleanupCallbackCtx(inst.id, data); ret != 1 {
		t.Errorf("cleanup after exit: ret %d", ret)
	}
	if len(eng.released) != 1 || eng.released[0] != 1 {
		t.Errorf("released %v, want [1]", eng.released)
	}
}

// deep uses about n KiB of stack, forcing the goroutine's stack to be copied.
func deep(n int) byte {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return deep(n-1) + pad[n%1024]
}

type growingEngine struct{ scriptedEngine }

func (g *growingEngine) Collect() ([]byte, uint64) {
	deep(512)
	return g.scriptedEngine.Collect()
}

func (g *growingEngine) Release(b uint64) {
	deep(512)
	g.scriptedEngine.Release(b)
}

// The instance id travels in remote_context as a small integer. Held in a
// Go pointer-typed variable it would abort the process when the stack grows
// during a callback ("invalid pointer found on stack"); it must not.
func TestExportsSurviveStackGrowth(t *testing.T) {
	withInstances(t)
	eng := &growingEngine{scriptedEngine{out: [][]byte{[]byte("x")}}}
	inst := addEngine(eng, 0)
	done := make(chan struct{})
	go func() { // a fresh goroutine starts with a small stack
		defer close(done)
		var data unsafe.Pointer
		var size uintptr
		if ret := FLBPluginInputCallbackCtx(inst.id, &data, &size); ret != 1 || size != 1 {
			t.Errorf("collect: ret %d size %d", ret, size)
		}
		if ret := FLBPluginInputCleanupCallbackCtx(inst.id, data); ret != 1 {
			t.Errorf("cleanup: ret %d", ret)
		}
	}()
	<-done
	if len(eng.released) != 1 {
		t.Errorf("released %v", eng.released)
	}
}

func TestExportsRecoverPanics(t *testing.T) {
	withInstances(t)
	for _, op := range []string{"collect", "release", "pause", "stop"} {
		eng := &scriptedEngine{out: [][]byte{[]byte("x")}, panicAt: op}
		inst := addEngine(eng, 0)
		ctx := inst.id
		var data unsafe.Pointer
		var size uintptr
		ret := FLBPluginInputCallbackCtx(ctx, &data, &size)
		switch op {
		case "collect":
			if ret != 0 || data != nil || size != 0 {
				t.Errorf("panicking collect: ret %d data %v size %d", ret, data, size)
			}
		case "release":
			if ret := FLBPluginInputCleanupCallbackCtx(ctx, data); ret != 0 {
				t.Errorf("panicking release: ret %d", ret)
			}
		default:
			FLBPluginInputCleanupCallbackCtx(ctx, data)
		}
	}
	FLBPluginInputPause() // unknown thread: every engine, one of which panics
	FLBPluginInputResume()
	FLBPluginInputPreExit(0)
	if ret := FLBPluginExit(); ret != 1 {
		t.Errorf("exit: ret %d", ret)
	}
	if ret := FLBPluginInit(nil); ret != 0 {
		t.Errorf("init(NULL): ret %d, want FLB_ERROR", ret)
	}
	if ret := FLBPluginRegister(nil); ret != -1 {
		t.Errorf("register(NULL): ret %d, want -1", ret)
	}
	FLBPluginUnregister(nil)
}

// Pause, resume and exit carry no instance; Fluent Bit calls them on the
// instance's own thread, so that thread selects the instance. From any
// other thread they apply to every instance.
func TestExportsActOnCallingThreadsInstance(t *testing.T) {
	withInstances(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mine, other := &scriptedEngine{}, &scriptedEngine{}
	addEngine(mine, flbplugin.ThreadID())
	addEngine(other, flbplugin.ThreadID()+1)

	FLBPluginInputPause()
	if !mine.paused || other.paused {
		t.Errorf("pause from my thread: mine %v other %v", mine.paused, other.paused)
	}
	elsewhere := func(f func()) {
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread() // a thread of its own, not the test's
			defer runtime.UnlockOSThread()
			f()
			close(done)
		}()
		<-done
	}
	elsewhere(FLBPluginInputPause)
	if !other.paused {
		t.Error("pause from an unknown thread did not pause every instance")
	}
	elsewhere(FLBPluginInputResume)
	if mine.paused || other.paused {
		t.Error("resume from an unknown thread did not resume every instance")
	}

	FLBPluginExit()
	if !mine.stopped || other.stopped {
		t.Errorf("exit from my thread: mine %v other %v", mine.stopped, other.stopped)
	}
	FLBPluginExit() // my instance is gone: now the thread is unknown
	if !other.stopped {
		t.Error("exit from an unknown thread left an instance running")
	}
}

func TestExportsRegisterAndUnregister(t *testing.T) {
	withInstances(t)
	// struct flb_plugin_proxy_def: int type, proxy, flags; char *name,
	// *description; int event_type; void *config_map (48 bytes on LP64),
	// allocated with the C allocator as Fluent Bit does.
	p := flbplugin.AllocDef(flbplugin.DefSize)
	defer flbplugin.FreeDef(p)
	def := (*[6]uint64)(p)
	if ret := FLBPluginRegister(p); ret != 0 {
		t.Fatalf("register: ret %d", ret)
	}
	words := (*[12]uint32)(p)
	if words[0] != 1 || words[1] != 11 || words[2] != 0 || words[8] != 0 || def[5] == 0 {
		t.Errorf("def type=%d proxy=%d flags=%d event_type=%d config_map=%#x", words[0], words[1], words[2], words[8], def[5])
	}
	if name := cString(def[2]); name != "digicert" {
		t.Errorf("name %q", name)
	}
	if d := cString(def[3]); d != description {
		t.Errorf("description %q", d)
	}
	eng := &scriptedEngine{}
	addEngine(eng, flbplugin.ThreadID()+7)
	FLBPluginUnregister(p)
	if !eng.stopped {
		t.Error("unregister left an instance of its registration running")
	}
}

func cString(addr uint64) string {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	var b []byte
	for i := uintptr(0); ; i++ {
		c := *(*byte)(unsafe.Add(p, i))
		if c == 0 {
			return string(b)
		}
		b = append(b, c)
	}
}
