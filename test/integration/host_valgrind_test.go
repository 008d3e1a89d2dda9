package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What valgrind 3.19 prints on a CPU where it does not decode RDTSCP
// (0F 01 F9), which the Go runtime executes at start-up.
const dcSIGILLLog = `==4242== Memcheck, a memory error detector
vex amd64->IR: unhandled instruction bytes: 0xF 0x1 0xF9 0x48 0xC1 0xE2 0x20 0x48
vex amd64->IR:   REX=0 REX.W=0 REX.R=0 REX.X=0 REX.B=0
==4242== valgrind: Unrecognised instruction at address 0x4776e0.
==4242== Your program just tried to execute an instruction that Valgrind
==4242== did not recognise.
==4242== Process terminating with default action of signal 4 (SIGILL)
==4242==  Illegal opcode at address 0x4776E0
`

func TestValgrindVerdict(t *testing.T) {
	for _, c := range []struct {
		name, stdout, log string
		err               error
		want              string // substring of the reason; "" = valgrind works
	}{
		{"works", "valgrind-go-probe ok\n", "==1== ERROR SUMMARY: 523 errors from 365 contexts", nil, ""},
		{"rdtscp", "", dcSIGILLLog, os.ErrProcessDone, "0xF 0x1 0xF9"},
		{"sigill without the vex line", "", "==1== Process terminating with default action of signal 4 (SIGILL)", os.ErrProcessDone, "SIGILL"},
		{"other failure", "", "valgrind: failed to start tool 'memcheck'", os.ErrProcessDone, "the probe failed"},
		{"silent", "", "", nil, "printed nothing"},
	} {
		got := dcValgrindVerdict(c.stdout, c.log, c.err)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: verdict %q, want %q", c.name, got, c.want)
		}
	}
}

// dcFakeValgrind writes a "valgrind" that dies the way valgrind 3.19 does on
// a CPU it cannot run Go code on.
func dcFakeValgrind(t *testing.T) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "sigill.log")
	if err := os.WriteFile(log, []byte(dcSIGILLLog), 0o644); err != nil {
		t.Fatal(err)
	}
	vg := filepath.Join(t.TempDir(), "valgrind")
	script := "#!/bin/sh\ncat " + log + " >&2\nkill -ILL $$\n"
	if err := os.WriteFile(vg, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return vg
}

func TestValgrindProbeSeesSIGILL(t *testing.T) {
	reason := dcValgrindRunsGo(dcFakeValgrind(t), "/bin/true")
	if !strings.Contains(reason, "0xF 0x1 0xF9") || !strings.Contains(reason, "SIGILL") {
		t.Errorf("probe verdict %q, want the unhandled instruction and SIGILL named", reason)
	}
}

// A host that dies (here: under a valgrind that hits SIGILL) must end a wait
// for records at once, with the reason, not after the wait's time limit.
func TestHostWaitEndsWhenHostDies(t *testing.T) {
	vg := dcFakeValgrind(t)
	h := dcStartHost(t, "input", dcCPlugin(t, "in_fixed.c"), 20, []dcInstance{{"a", []string{"label=A"}}}, vg)
	start := time.Now()
	_, err := h.awaitRecords("a", 1, 30*time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the wait noticed the dead host only after %s", took)
	}
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "SIGILL") {
		t.Errorf("wait error %v, want the exit and its SIGILL reason", err)
	}
}
