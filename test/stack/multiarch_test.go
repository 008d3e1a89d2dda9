package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerStage is one FROM … AS name stage of the Dockerfile.
type dockerStage struct {
	from string   // the FROM line
	runs []string // RUN commands, continuation lines joined
	args []string // ARG lines
}

// dockerStages parses the Dockerfile's stages by name.
func dockerStages(t *testing.T) map[string]*dockerStage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	stages := map[string]*dockerStage{}
	var cur *dockerStage
	as := regexp.MustCompile(`(?i)\sAS\s+(\S+)\s*$`)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "FROM "):
			m := as.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("Dockerfile: unnamed stage %q", line)
			}
			cur = &dockerStage{from: line}
			stages[m[1]] = cur
		case strings.HasPrefix(line, "RUN ") && cur != nil:
			cur.runs = append(cur.runs, strings.TrimPrefix(line, "RUN "))
		case strings.HasPrefix(line, "ARG ") && cur != nil:
			cur.args = append(cur.args, strings.TrimPrefix(line, "ARG "))
		}
	}
	return stages
}

// runStub runs a Dockerfile RUN command with sh, the named commands replaced
// by stubs that log their arguments; it returns sh's combined output, the
// log and sh's error.
func runStub(t *testing.T, cmd string, env []string, stubs ...string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	for _, s := range stubs {
		script := "#!/bin/sh\necho \"" + s + " $*\" >> " + log + "\n"
		if err := os.WriteFile(filepath.Join(dir, s), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := exec.Command("sh", "-c", cmd)
	c.Env = append(append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH")), env...)
	out, err := c.CombinedOutput()
	calls, _ := os.ReadFile(log)
	return string(out), string(calls), err
}

// docker buildx build --platform linux/amd64,linux/arm64: the build stage
// runs on the build platform and cross-compiles for TARGETARCH with the
// Makefile's build-linux-<arch>, installing the cross gcc that the Makefile
// names; the runtime stages follow the target platform.
func TestDockerfileBuildsForTargetPlatform(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	stages := dockerStages(t)
	build := stages["build"]
	if build == nil {
		t.Fatal("no build stage")
	}
	if !strings.HasPrefix(build.from, "FROM --platform=$BUILDPLATFORM ") {
		t.Errorf("build stage %q: want FROM --platform=$BUILDPLATFORM (cross-compile, no emulation)", build.from)
	}
	for _, name := range []string{"fluent-bit", "digicert-sim"} {
		if s := stages[name]; s == nil || strings.Contains(s.from, "--platform") {
			t.Errorf("runtime stage %s must exist and follow the target platform (no --platform): %+v", name, s)
		}
	}
	// A stage that runs on the build platform and compiles builds for the
	// target (one that only makes directories has nothing per platform).
	compiles := regexp.MustCompile(`\b(go build|make|gcc|cc)\b`)
	for name, s := range stages {
		if strings.Contains(s.from, "--platform=$BUILDPLATFORM") && slices.ContainsFunc(s.runs, compiles.MatchString) &&
			!slices.ContainsFunc(s.args, func(a string) bool { return a == "TARGETARCH" || strings.HasPrefix(a, "TARGETARCH=") }) {
			t.Errorf("stage %s compiles on $BUILDPLATFORM but has no ARG TARGETARCH to build for the target", name)
		}
	}
	var install, compile string
	for _, r := range build.runs {
		switch {
		case strings.Contains(r, "apt-get install"):
			install = r
		case strings.Contains(r, "build-linux-"):
			compile = r
		}
	}
	if install == "" || compile == "" {
		t.Fatalf("build stage: want a RUN installing the cross gcc and one running make build-linux-<arch>; RUNs: %q", build.runs)
	}
	if regexp.MustCompile(`\bVERSION=`).MatchString(compile) {
		t.Errorf("the build passes VERSION (%q): the version must come from the VERSION file only", compile)
	}
	crossCC := makeVars(t)
	for _, c := range []struct{ target, build, wantPkg string }{
		{"amd64", "amd64", ""},
		{"arm64", "arm64", ""},
		{"arm64", "amd64", "gcc-aarch64-linux-gnu"},
		{"amd64", "arm64", "gcc-x86-64-linux-gnu"},
	} {
		env := []string{"TARGETARCH=" + c.target, "BUILDARCH=" + c.build}
		out, calls, err := runStub(t, install, env, "apt-get")
		if err != nil {
			t.Fatalf("%s on %s: install step: %v\n%s", c.target, c.build, err, out)
		}
		if c.wantPkg == "" {
			if calls != "" {
				t.Errorf("%s on %s: installs %q, want nothing (native build)", c.target, c.build, calls)
			}
		} else {
			if !regexp.MustCompile(`apt-get install .*\b` + regexp.QuoteMeta(c.wantPkg) + `\b`).MatchString(calls) {
				t.Errorf("%s on %s: apt-get calls %q, want %s installed", c.target, c.build, calls, c.wantPkg)
			}
			// Debian's gcc-<triple> package provides <triple>-gcc (x86-64 → x86_64).
			cc := strings.ReplaceAll(strings.TrimPrefix(c.wantPkg, "gcc-"), "x86-64", "x86_64") + "-gcc"
			if crossCC[c.target] != cc {
				t.Errorf("the Dockerfile installs %s for %s but the Makefile's CROSS_CC_%s is %q", c.wantPkg, c.target, c.target, crossCC[c.target])
			}
		}
		out, calls, err = runStub(t, compile, env, "make", "mv")
		if err != nil {
			t.Fatalf("%s: build step: %v\n%s", c.target, err, out)
		}
		if !strings.Contains(calls, "make build-linux-"+c.target+" ") {
			t.Errorf("%s: build step runs %q, want make build-linux-%s", c.target, calls, c.target)
		}
	}
	if out, _, err := runStub(t, install, []string{"TARGETARCH=s390x", "BUILDARCH=amd64"}, "apt-get"); err == nil || !strings.Contains(out, "unsupported target architecture s390x") {
		t.Errorf("s390x: want a failure naming the architecture; got %v %q", err, out)
	}
}

// makeVars returns the Makefile's CROSS_CC_<arch> per arch, and checks that
// its build-linux-<arch> cross-compiles with it (make -n: nothing is built).
func makeVars(t *testing.T) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		c := exec.Command("make", "-s", "-n", "--no-print-directory", "build-linux-"+arch, "BUILD="+t.TempDir(), "GOHOSTARCH=none")
		c.Dir = root
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n build-linux-%s: %v\n%s", arch, err, b)
		}
		m := regexp.MustCompile(`GOOS=linux GOARCH=` + arch + ` CC=(\S+) `).FindStringSubmatch(string(b))
		if m == nil || !strings.Contains(string(b), "-buildmode=c-shared") {
			t.Fatalf("make -n build-linux-%s does not cross-build the plugins:\n%s", arch, b)
		}
		out[arch] = m[1]
	}
	return out
}
