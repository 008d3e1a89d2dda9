package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Self-tests of test/host/flbhost with the tiny C plugins in
// test/host/testdata: they show the host calls plugins as Fluent Bit 5.1.1
// does, and that its checks catch what they are meant to catch.

// dcFixedRecords checks the records of in_fixed for one instance: seq counts
// from 0, the label and the per-instance context id are in every body.
func dcFixedRecords(t *testing.T, recs []dcRecord, label string, ctx int64, want int) {
	t.Helper()
	if len(recs) != want {
		t.Fatalf("%s: %d records, want %d", label, len(recs), want)
	}
	for i, r := range recs {
		if !r.EventTime || r.Sec != 1700000000+uint32(i) || r.Nsec != 7 || len(r.Meta) != 0 {
			t.Errorf("%s record %d: time %d.%d eventtime=%v meta=%v", label, i, r.Sec, r.Nsec, r.EventTime, r.Meta)
		}
		wantBody := []dcKV{{"instance", label}, {"ctx", ctx}, {"seq", int64(i)}}
		if len(r.Body) != 3 || r.Body[0] != wantBody[0] || r.Body[1] != wantBody[1] || r.Body[2] != wantBody[2] {
			t.Errorf("%s record %d: body %v, want %v", label, i, r.Body, wantBody)
		}
	}
}

func TestHostSelfTestInputTwoInstances(t *testing.T) {
	so := dcCPlugin(t, "in_fixed.c")
	h := dcStartHost(t, "input", so, 20, []dcInstance{
		{"a", []string{"label=A", "records=2", "batches=3"}},
		{"b", []string{"LABEL=B", "records=1", "batches=4", "log_level=debug"}},
	})
	h.next(`^init 1 ret=1$`)
	h.send("wait 0 6")
	h.send("wait 1 6")
	events := h.finish()

	for _, e := range events {
		if !dcEventGrammar.MatchString(e) {
			t.Errorf("unexpected stdout line %q", e)
		}
	}
	if !strings.Contains(strings.Join(events, "\n"), "register ret=0 type=1 proxy=11 flags=0 event_type=0 name=fixed") {
		t.Errorf("register event missing: %q", events)
	}
	// remote_context at offset 8 reaches the Ctx callbacks per instance.
	dcFixedRecords(t, h.records("a"), "A", 1, 6)
	dcFixedRecords(t, h.records("b"), "B", 2, 4)
	for i, buffers := range []int64{3, 4} {
		s := dcSummary(t, events, i)
		if s["buffers"] != buffers || s["dropped"] != 0 || s["not_freed"] != 0 {
			t.Errorf("instance %d summary %v", i, s)
		}
	}
	if n := dcCount(events, `^cleanup \d ret=0 freed=yes$`); n != 7 {
		t.Errorf("%d cleanups freed their buffer, want 7", n)
	}
	for _, want := range []string{"exit 0 ret=1", "exit 1 ret=1", "unregister", "done status=0"} {
		if dcCount(events, "^"+regexp.QuoteMeta(want)+"$") != 1 {
			t.Errorf("event %q not seen once", want)
		}
	}
	// log_level gates through input_log_check: debug only for b.
	log := h.stderr.String()
	if strings.Count(log, "[in_fixed] init ctx=") != 2 || strings.Count(log, "[debug] [in_fixed] debug line") != 1 {
		t.Errorf("log lines:\n%s", log)
	}
}

func TestHostSelfTestCleanupOwnership(t *testing.T) {
	cases := []struct {
		defines   []string
		symbols   string
		freed     string
		notFreed  int64
		wantFreed int
	}{
		{nil, "collect=ctx cleanup=ctx", "yes", 0, 3},
		{[]string{"PLAIN"}, "collect=plain cleanup=plain", "yes", 0, 3},
		// no cleanup exported: Fluent Bit (the host) frees with libc free
		{[]string{"NO_CLEANUP"}, "collect=ctx cleanup=none", "yes", 0, 3},
		// a cleanup that does not free is caught
		{[]string{"LEAKY_CLEANUP"}, "collect=ctx cleanup=ctx", "no", 3, 0},
	}
	for _, c := range cases {
		t.Run(strings.Join(append([]string{"default"}, c.defines...), "_"), func(t *testing.T) {
			h := dcStartHost(t, "input", dcCPlugin(t, "in_fixed.c", c.defines...), 20, []dcInstance{{"a", []string{"label=A"}}})
			h.send("wait 0 5")
			events := h.finish()
			all := strings.Join(events, "\n")
			if !strings.Contains(all, "memtrack on") {
				t.Fatalf("buffer tracking is off: %q", events)
			}
			if !strings.Contains(all, "symbols "+c.symbols) {
				t.Errorf("symbols: want %q in %q", c.symbols, events)
			}
			if n := dcCount(events, `^cleanup 0 ret=0 freed=`+c.freed+`$`); n != 3 {
				t.Errorf("%d cleanups with freed=%s, want 3: %q", n, c.freed, events)
			}
			if s := dcSummary(t, events, 0); s["not_freed"] != c.notFreed || s["buffers"] != 3 {
				t.Errorf("summary %v", s)
			}
			dcFixedRecords(t, h.records("a"), "A", 1, 6)
		})
	}
}

// The host models Fluent Bit 5.1.1's pause: the plugin is told, the
// collector of the LAST initialised instance stops, and appends to a paused
// instance are dropped. A plugin that ignores pause loses data; one that
// honours it loses nothing.
func TestHostSelfTestPauseModel(t *testing.T) {
	for _, c := range []struct {
		name    string
		defines []string
		dropped bool
	}{{"honours_pause", nil, false}, {"ignores_pause", []string{"IGNORE_PAUSE"}, true}} {
		t.Run(c.name, func(t *testing.T) {
			h := dcStartHost(t, "input", dcCPlugin(t, "in_fixed.c", c.defines...), 20, []dcInstance{
				{"a", []string{"label=A", "batches=4"}}, {"b", []string{"label=B", "batches=0"}},
			})
			h.next(`^init 1 ret=1$`)
			h.send("pause 0")
			h.send("wait 0 6") // a's collector still runs: pause stopped b's
			h.send("resume 0")
			h.send("wait 0 6")
			events := h.finish()
			// twice: the command, then the shutdown's pause of every input
			if dcCount(events, `^pause 0 collector_of=1$`) != 2 || dcCount(events, `^resume 0 collector_of=1$`) != 1 {
				t.Errorf("pause/resume events: %q", events)
			}
			s := dcSummary(t, events, 0)
			dropped := h.file("a", "dropped")
			if c.dropped {
				if s["dropped"] == 0 || len(dropped) == 0 {
					t.Errorf("appends while paused were not dropped: %v", s)
				}
			} else {
				if s["dropped"] != 0 || len(dropped) != 0 {
					t.Errorf("dropped %v bytes=%d", s, len(dropped))
				}
				dcFixedRecords(t, h.records("a"), "A", 1, 8)
			}
		})
	}
}

func TestHostSelfTestInitFailure(t *testing.T) {
	h := dcStartHost(t, "input", dcCPlugin(t, "in_fixed.c"), 20, []dcInstance{
		{"a", []string{"label=A"}}, {"b", []string{"fail=bad value for key x"}}, {"c", nil},
	})
	events := h.finish()
	all := strings.Join(events, "\n")
	for _, want := range []string{"init 0 ret=1", "init 1 ret=0", "exit 0 ret=1", "unregister", "done status=3"} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in %q", want, events)
		}
	}
	if strings.Contains(all, "init 2") {
		t.Errorf("instance after the failed one was started: %q", events)
	}
	if ee, ok := h.waitErr.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit: %v, want status 3", h.waitErr)
	}
	if !strings.Contains(h.stderr.String(), "[error] [in_fixed] fail: bad value for key x") {
		t.Errorf("stderr:\n%s", h.stderr.String())
	}
}

func TestHostSelfTestOutput(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "flushes")
	data := filepath.Join(dir, "chunk.msgpack")
	if err := os.WriteFile(data, []byte{0x92, 0xce, 0, 0, 0, 1, 0x80}, 0o644); err != nil {
		t.Fatal(err)
	}
	h := dcStartHost(t, "output", dcCPlugin(t, "out_record.c"), 0, []dcInstance{
		{"x", []string{"label=X", "record_file=" + rec}},
		{"y", []string{"label=Y", "record_file=" + rec, "result=2"}},
		{"z", []string{"label=Z", "record_file=" + rec, "result=7"}},
	})
	h.send("flush 0 " + data + " digicert.audit")
	h.send("flush 1 " + data + " other")
	h.send("flush 2 " + data)
	events := h.finish()
	for _, want := range []string{
		"symbols flush=ctx exit=ctx",
		"flush 0 ret=1 result=OK bytes=7", "flush 1 ret=2 result=RETRY bytes=7",
		"flush 2 ret=7 result=ERROR bytes=7", "exit 0 ret=1", "exit 2 ret=1", "done status=0",
	} {
		if dcCount(events, "^"+regexp.QuoteMeta(want)+"$") != 1 {
			t.Errorf("event %q not seen once in %q", want, events)
		}
	}
	got, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := "X digicert.audit 7 92\nY other 7 92\nZ flbhost 7 92\n"; string(got) != want {
		t.Errorf("flushes seen by the plugin:\n%s\nwant:\n%s", got, want)
	}
}

// Under valgrind the host's own free() tracking is off (valgrind replaces
// the allocator); valgrind's leak check must then catch a kept buffer.
func TestHostSelfTestValgrindCatchesLeak(t *testing.T) {
	vg := dcValgrind(t)
	h := dcStartHost(t, "input", dcCPlugin(t, "in_fixed.c", "LEAKY_CLEANUP"), 20,
		[]dcInstance{{"a", []string{"label=A"}}}, dcValgrindArgs(vg)...)
	h.send("wait 0 4")
	events := h.finish()
	if !strings.Contains(strings.Join(events, "\n"), "memtrack off") {
		t.Errorf("expected tracking off under valgrind: %q", events)
	}
	lost, ok := dcDefinitelyLost(h.stderr.String())
	if !ok || lost < 3*128 {
		t.Errorf("valgrind definitely lost %d bytes (found=%v), want the 3 kept buffers\n%s", lost, ok, dcReadableLog(h.stderr.String()))
	}
}
