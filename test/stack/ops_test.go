package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// shippedConfigs lists every Fluent Bit config the repository ships, YAML and
// classic, relative to the repository root.
func shippedConfigs(t *testing.T) (yamls, classics []string) {
	t.Helper()
	all := []string{"fluent-bit.yaml", "fluent-bit.conf"}
	ex, _ := filepath.Glob(filepath.Join(root, "examples", "*", "fluent-bit.*"))
	for _, e := range ex {
		rel, _ := filepath.Rel(root, e)
		all = append(all, rel)
	}
	for _, f := range all {
		if strings.HasSuffix(f, ".yaml") {
			yamls = append(yamls, f)
		} else {
			classics = append(classics, f)
		}
	}
	if len(yamls) < 5 || len(classics) < 5 {
		t.Fatalf("expected the default config and four examples in both formats, found %v %v", yamls, classics)
	}
	return yamls, classics
}

// serviceOf returns the service settings of a shipped config, keys lower-cased.
func serviceOf(t *testing.T, rel string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if strings.HasSuffix(rel, ".yaml") {
		var cfg fbYAML
		readYAML(t, rel, &cfg)
		for k := range cfg.Service {
			out[strings.ToLower(k)] = str(cfg.Service, k)
		}
		return out
	}
	secs, err := ParseClassic(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if s.Name == "SERVICE" {
			return s.Props
		}
	}
	return out
}

func isOn(v string) bool {
	switch strings.ToLower(v) {
	case "on", "true", "yes", "1":
		return true
	}
	return false
}

// TestHTTPServerWiring: every shipped config turns on Fluent Bit's HTTP
// server with the health check on one port, and the compose stack, the image
// and its health check all use that port.
func TestHTTPServerWiring(t *testing.T) {
	yamls, classics := shippedConfigs(t)
	port := ""
	for _, f := range append(yamls, classics...) {
		svc := serviceOf(t, f)
		if !isOn(svc["http_server"]) || !isOn(svc["health_check"]) {
			t.Errorf("%s: service needs http_server on and health_check on (metrics and the health endpoint); has %q, %q", f, svc["http_server"], svc["health_check"])
		}
		if svc["http_listen"] != "0.0.0.0" {
			t.Errorf("%s: http_listen %q; in a container it must listen on 0.0.0.0 to be reachable", f, svc["http_listen"])
		}
		if port == "" {
			port = svc["http_port"]
		}
		if svc["http_port"] != port || port == "" {
			t.Errorf("%s: http_port %q, want one port in every config (%q)", f, svc["http_port"], port)
		}
	}

	var c compose
	readYAML(t, "docker-compose.yml", &c)
	fb := c.Services["fluent-bit"]
	if !slicesContains(fb.Ports, "127.0.0.1:"+port+":"+port) {
		t.Errorf("compose fluent-bit ports %q: metrics must be reachable from the host at 127.0.0.1:%s", fb.Ports, port)
	}
	hc := strings.Join(fb.Healthcheck.Test, " ")
	if !strings.HasPrefix(hc, "CMD /fluent-bit/bin/fb-healthcheck") || !strings.Contains(hc, "http://127.0.0.1:"+port+"/api/v1/health") {
		t.Errorf("compose fluent-bit healthcheck %q must run /fluent-bit/bin/fb-healthcheck against :%s/api/v1/health", hc, port)
	}

	df := dockerfileStage(t, "fluent-bit")
	if !regexp.MustCompile(`(?m)^COPY --from=healthcheck \S*/fb-healthcheck /fluent-bit/bin/fb-healthcheck$`).MatchString(df) {
		t.Error("the fluent-bit stage does not copy fb-healthcheck into /fluent-bit/bin/")
	}
	if !regexp.MustCompile(`(?m)^EXPOSE ` + port + `$`).MatchString(df) {
		t.Errorf("the fluent-bit stage does not EXPOSE %s", port)
	}
	if !regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["/fluent-bit/bin/fb-healthcheck"`).MatchString(df) {
		t.Error("the fluent-bit stage has no HEALTHCHECK running fb-healthcheck")
	}
	// fb-healthcheck's default URL is what the image's HEALTHCHECK relies on.
	b, err := os.ReadFile(filepath.Join(root, "cmd", "fb-healthcheck", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"http://127.0.0.1:`+port+`/api/v1/health"`) {
		t.Errorf("fb-healthcheck's default URL is not http://127.0.0.1:%s/api/v1/health", port)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// dockerfileStage returns the lines of one stage of the Dockerfile.
func dockerfileStage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	head := regexp.MustCompile(`(?m)^FROM .* AS ` + regexp.QuoteMeta(name) + `$`).FindStringIndex(df)
	if head == nil {
		t.Fatalf("the Dockerfile has no stage %q", name)
	}
	rest := df[head[1]:]
	if next := regexp.MustCompile(`(?m)^FROM `).FindStringIndex(rest); next != nil {
		rest = rest[:next[0]]
	}
	return rest
}

// TestImageRunsAsOwnerOfItsDirectories: a plain `docker run` of the image
// must find every directory the shipped configs write to, owned by the user
// it runs as (the state_file directory is not created by the plugin).
func TestImageRunsAsOwnerOfItsDirectories(t *testing.T) {
	final := dockerfileStage(t, "fluent-bit")
	m := regexp.MustCompile(`(?m)^USER (\d+)(:\d+)?$`).FindStringSubmatch(final)
	if m == nil || m[1] == "0" {
		t.Fatalf("the fluent-bit stage must run as a numeric non-root USER (Kubernetes runAsNonRoot checks it); found %v", m)
	}
	uid := m[1]
	cp := regexp.MustCompile(`(?m)^COPY --from=dirs --chown=` + uid + `(:\d+)? /out/var/lib/fluent-bit /var/lib/fluent-bit$`)
	if !cp.MatchString(final) {
		t.Errorf("the fluent-bit stage must copy /var/lib/fluent-bit from the dirs stage owned by %s", uid)
	}
	made := dockerfileStage(t, "dirs")
	yamls, classics := shippedConfigs(t)
	var paths []string
	for _, f := range yamls {
		var cfg fbYAML
		readYAML(t, f, &cfg)
		paths = append(paths, str(cfg.Service, "storage.path"))
		for _, in := range cfg.Pipeline.Inputs {
			if sf := str(in, "state_file"); sf != "" {
				paths = append(paths, filepath.Dir(sf))
			}
		}
	}
	for _, f := range classics {
		secs, err := ParseClassic(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secs {
			paths = append(paths, s.Props["storage.path"])
			if sf := s.Props["state_file"]; sf != "" {
				paths = append(paths, filepath.Dir(sf))
			}
		}
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if !strings.HasPrefix(p, "/var/lib/fluent-bit/") {
			t.Errorf("%s is outside /var/lib/fluent-bit, which the image prepares", p)
			continue
		}
		if !strings.Contains(made, " /out"+p) {
			t.Errorf("the dirs stage does not create %s", p)
		}
	}
}
