package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const root = "../.."

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       map[string]string `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Command     []string          `yaml:"command"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// fbYAML is the part of a Fluent Bit YAML config these checks read.
type fbYAML struct {
	Service  map[string]any `yaml:"service"`
	Plugins  []string       `yaml:"plugins"`
	Pipeline struct {
		Inputs  []map[string]any `yaml:"inputs"`
		Filters []map[string]any `yaml:"filters"`
		Outputs []map[string]any `yaml:"outputs"`
	} `yaml:"pipeline"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func str(m map[string]any, k string) string {
	if v, ok := m[k]; ok {
		return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(toString(v), "'"), "'"))
	}
	return ""
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return ""
	default:
		return strings.TrimSpace(strings.ReplaceAll(yamlString(x), "\n", ""))
	}
}

func yamlString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// envDefault returns the default of a ${VAR:-default} expression, or the text itself.
func envDefault(s string) string {
	if m := regexp.MustCompile(`^\$\{[A-Z0-9_]+:-(.*)\}$`).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return s
}

func TestComposeWiring(t *testing.T) {
	var c compose
	readYAML(t, "docker-compose.yml", &c)
	for _, name := range []string{"digicert-sim", "s3", "s3-init", "fluent-bit"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no %q service", name)
		}
	}
	sim, s3, initc, fb := c.Services["digicert-sim"], c.Services["s3"], c.Services["s3-init"], c.Services["fluent-bit"]

	if s3.Image != "versity/versitygw:v1.8.0" {
		t.Errorf("s3 image = %q, want versity/versitygw:v1.8.0 (the server CI tests against)", s3.Image)
	}
	if len(s3.Healthcheck.Test) == 0 || !strings.Contains(strings.Join(s3.Healthcheck.Test, " "), s3.Environment["VGW_HEALTH"]) {
		t.Errorf("s3 health check %q does not probe VGW_HEALTH %q", s3.Healthcheck.Test, s3.Environment["VGW_HEALTH"])
	}
	if len(sim.Healthcheck.Test) == 0 {
		t.Error("digicert-sim has no health check")
	}
	if sim.Build["target"] != "digicert-sim" || fb.Build["target"] != "fluent-bit" {
		t.Errorf("build targets: sim %q, fluent-bit %q; want the Dockerfile stages digicert-sim and fluent-bit", sim.Build["target"], fb.Build["target"])
	}

	// Fluent Bit must reach the simulator and S3 on the ports they listen on.
	simPort := strings.TrimPrefix(sim.Environment["DIGICERT_SIM_LISTEN"], ":")
	if want := "http://digicert-sim:" + simPort; fb.Environment["DIGICERT_API_BASE"] != want {
		t.Errorf("fluent-bit DIGICERT_API_BASE = %q, want %q", fb.Environment["DIGICERT_API_BASE"], want)
	}
	// A plain-http api_base off loopback is refused without the opt-in.
	if fb.Environment["DIGICERT_ALLOW_INSECURE_HTTP"] != "true" {
		t.Errorf("fluent-bit DIGICERT_ALLOW_INSECURE_HTTP = %q, want true for the http simulator", fb.Environment["DIGICERT_ALLOW_INSECURE_HTTP"])
	}
	s3Port := strings.TrimPrefix(s3.Environment["VGW_PORT"], ":")
	if want := "http://s3:" + s3Port; fb.Environment["S3_ENDPOINT"] != want {
		t.Errorf("fluent-bit S3_ENDPOINT = %q, want %q", fb.Environment["S3_ENDPOINT"], want)
	}
	if !strings.Contains(strings.Join(initc.Command, " "), "http://s3:"+s3Port) {
		t.Errorf("s3-init command %q does not target http://s3:%s", initc.Command, s3Port)
	}
	if fb.Environment["AWS_ACCESS_KEY_ID"] != s3.Environment["ROOT_ACCESS_KEY"] ||
		fb.Environment["AWS_SECRET_ACCESS_KEY"] != s3.Environment["ROOT_SECRET_KEY"] {
		t.Error("fluent-bit AWS credentials differ from the s3 root credentials")
	}
	if fb.Environment["DIGICERT_API_KEY"] != sim.Environment["DIGICERT_SIM_API_KEY"] {
		t.Error("fluent-bit DIGICERT_API_KEY differs from the simulator's DIGICERT_SIM_API_KEY")
	}
	if envDefault(fb.Environment["DIGICERT_REPORT_ID"]) != envDefault(sim.Environment["DIGICERT_SIM_REPORTS"]) {
		t.Errorf("report id %q is not the simulator's report %q", fb.Environment["DIGICERT_REPORT_ID"], sim.Environment["DIGICERT_SIM_REPORTS"])
	}
	initCmd := strings.Join(initc.Command, " ")
	if initc.Environment["S3_BUCKET"] != fb.Environment["S3_BUCKET"] || !strings.Contains(initCmd, `create-bucket --bucket "$$S3_BUCKET"`) {
		t.Errorf("s3-init does not create the bucket %q that fluent-bit writes to (command %q)", fb.Environment["S3_BUCKET"], initCmd)
	}
	if !strings.Contains(initCmd, "head-bucket") {
		t.Error("s3-init is not idempotent: a second `docker compose up` would fail on the existing bucket")
	}
	if fb.Environment["AWS_REGION"] == "" || initc.Environment["AWS_DEFAULT_REGION"] == "" {
		t.Error("fluent-bit and s3-init need a region")
	}
	for dep, cond := range map[string]string{"digicert-sim": "service_healthy", "s3": "service_healthy", "s3-init": "service_completed_successfully"} {
		if fb.DependsOn[dep].Condition != cond {
			t.Errorf("fluent-bit depends_on %s: condition %q, want %q", dep, fb.DependsOn[dep].Condition, cond)
		}
	}

	// State and buffers live on named volumes, at the paths the config uses.
	var cfg fbYAML
	readYAML(t, "fluent-bit.yaml", &cfg)
	mounts := map[string]string{}
	for _, v := range fb.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		if _, ok := c.Volumes[src]; !ok {
			t.Errorf("fluent-bit volume %q is not a declared named volume", src)
		}
		mounts[dst] = src
	}
	onVolume := func(what, path string) {
		for dst := range mounts {
			if strings.HasPrefix(path, dst+"/") || path == dst {
				return
			}
		}
		t.Errorf("%s %q is not on a volume of the fluent-bit service (mounts %v)", what, path, mounts)
	}
	onVolume("storage.path", str(cfg.Service, "storage.path"))
	for _, in := range cfg.Pipeline.Inputs {
		if str(in, "name") == "digicert" {
			onVolume("state_file", str(in, "state_file"))
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	if m := regexp.MustCompile(`ARG FLUENT_BIT_IMAGE=fluent/fluent-bit:(\S+)`).FindStringSubmatch(df); m == nil || !strings.HasPrefix(m[1], "5.1.") {
		t.Errorf("the runtime image must be fluent/fluent-bit pinned to a 5.1.x tag; found %v", m)
	}
	if m := regexp.MustCompile(`ARG GO_IMAGE=(\S+)`).FindStringSubmatch(df); m == nil || strings.Contains(m[1], "alpine") ||
		!(strings.Contains(m[1], "bookworm") || strings.Contains(m[1], "bullseye")) {
		t.Errorf("the build image must be Debian with a glibc no newer than the Fluent Bit image's; found %v", m)
	}
	var cfg fbYAML
	readYAML(t, "fluent-bit.yaml", &cfg)
	for _, p := range cfg.Plugins {
		dir, file := filepath.Split(p)
		if !regexp.MustCompile(`COPY --from=build [^\n]*/` + regexp.QuoteMeta(file) + `[^\n]* ` + regexp.QuoteMeta(dir)).MatchString(df) {
			t.Errorf("fluent-bit.yaml loads %s but the Dockerfile does not copy %s into %s", p, file, dir)
		}
	}
	if !strings.Contains(df, `ENTRYPOINT ["/fluent-bit/bin/fluent-bit"]`) || !strings.Contains(df, `CMD ["-c", "/fluent-bit/etc/fluent-bit.yaml"]`) {
		t.Error("the fluent-bit stage must run /fluent-bit/bin/fluent-bit -c /fluent-bit/etc/fluent-bit.yaml (ENTRYPOINT binary, CMD arguments)")
	}
	for _, f := range []string{"fluent-bit.yaml", "fluent-bit.conf", "plugins.conf", "plugins-input.conf"} {
		if !regexp.MustCompile(`COPY [^\n]*\b` + regexp.QuoteMeta(f) + `\b[^\n]* /fluent-bit/etc/`).MatchString(df) {
			t.Errorf("the Dockerfile does not copy %s into /fluent-bit/etc/", f)
		}
	}
}

// TestClassicMatchesYAML keeps fluent-bit.conf the twin of fluent-bit.yaml.
func TestClassicMatchesYAML(t *testing.T) {
	var y fbYAML
	readYAML(t, "fluent-bit.yaml", &y)
	secs, err := ParseClassic(filepath.Join(root, "fluent-bit.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var ins, outs []map[string]string
	for _, s := range secs {
		switch s.Name {
		case "INPUT":
			ins = append(ins, s.Props)
		case "OUTPUT":
			outs = append(outs, s.Props)
		case "SERVICE":
			pf := filepath.Join(root, s.Props["plugins_file"])
			ps, err := ParseClassic(pf)
			if err != nil {
				t.Fatalf("plugins_file: %v", err)
			}
			b, _ := os.ReadFile(pf)
			for _, p := range y.Plugins {
				if !strings.Contains(string(b), "Path "+p) {
					t.Errorf("%s does not load %s (YAML does)", pf, p)
				}
			}
			if len(ps) != 1 || ps[0].Name != "PLUGINS" {
				t.Errorf("%s must hold exactly one [PLUGINS] section", pf)
			}
		}
	}
	compare := func(kind string, ym []map[string]any, cm []map[string]string) {
		if len(ym) != len(cm) {
			t.Fatalf("%s: YAML has %d, classic %d", kind, len(ym), len(cm))
		}
		for i := range ym {
			for k, v := range ym[i] {
				if got := cm[i][strings.ToLower(k)]; got != toString(v) {
					t.Errorf("%s %d key %s: classic %q, YAML %q", kind, i, k, got, toString(v))
				}
			}
			if len(ym[i]) != len(cm[i]) {
				t.Errorf("%s %d: YAML has %d keys, classic %d", kind, i, len(ym[i]), len(cm[i]))
			}
		}
	}
	compare("input", y.Pipeline.Inputs, ins)
	compare("output", y.Pipeline.Outputs, outs)
}

// TestRoutesAreSecOpsCorrect checks every shipped route for the settings the
// SecOps feeds need (see README "Routes to SecOps").
func TestRoutesAreSecOpsCorrect(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*", "fluent-bit.yaml"))
	files = append(files, filepath.Join(root, "fluent-bit.yaml"))
	if len(files) < 5 {
		t.Fatalf("expected the default config and four examples, found %v", files)
	}
	seen := map[string]bool{}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		var cfg fbYAML
		readYAML(t, rel, &cfg)
		var hasInput bool
		for _, in := range cfg.Pipeline.Inputs {
			if str(in, "name") == "digicert" {
				hasInput = true
				if sf := str(in, "state_file"); !strings.HasPrefix(sf, "/var/lib/fluent-bit/") {
					t.Errorf("%s: state_file %q should be on the persistent /var/lib/fluent-bit volume", rel, sf)
				}
			}
		}
		if !hasInput {
			t.Errorf("%s: no digicert input", rel)
		}
		for _, o := range cfg.Pipeline.Outputs {
			name := str(o, "name")
			seen[name] = true
			switch name {
			case "s3":
				k := str(o, "s3_key_format")
				if !strings.HasPrefix(k, "/digicert/logs/") || !strings.Contains(k, "$UUID") || !strings.HasSuffix(k, ".json.gz") {
					t.Errorf("%s: s3_key_format %q must start /digicert/logs/, contain $UUID and end .json.gz", rel, k)
				}
				for key, want := range map[string]string{"json_date_key": "false", "compression": "gzip", "use_put_object": "true", "content_type": "application/x-ndjson"} {
					got := strings.ToLower(str(o, key))
					if got == "on" {
						got = "true"
					}
					if got != want {
						t.Errorf("%s: s3 %s = %q, want %q", rel, key, got, want)
					}
				}
				if !strings.HasPrefix(str(o, "store_dir"), "/var/lib/fluent-bit/") {
					t.Errorf("%s: s3 store_dir must be persistent", rel)
				}
			case "chronicle":
				if str(o, "log_type") != "DIGICERT" {
					t.Errorf("%s: chronicle log_type = %q, want DIGICERT", rel, str(o, "log_type"))
				}
				for _, k := range []string{"customer_id", "project_id", "google_service_credentials"} {
					if str(o, k) == "" {
						t.Errorf("%s: chronicle needs %s", rel, k)
					}
				}
			case "gcs":
				k := str(o, "gcs_key_format")
				if !strings.HasPrefix(k, "digicert/logs/") || !strings.Contains(k, "$UUID") || !strings.HasSuffix(k, ".json.gz") {
					t.Errorf("%s: gcs_key_format %q must start digicert/logs/, contain $UUID and end .json.gz", rel, k)
				}
				if str(o, "compression") != "gzip" {
					t.Errorf("%s: gcs compression must be gzip", rel)
				}
			case "secops_s3":
				if p := str(o, "prefix"); p != "" && p != "digicert/logs" {
					t.Errorf("%s: secops_s3 prefix %q differs from the feed prefix digicert/logs", rel, p)
				}
			}
		}
	}
	for _, want := range []string{"secops_s3", "s3", "chronicle", "gcs"} {
		if !seen[want] {
			t.Errorf("no shipped config routes to the %s output", want)
		}
	}
}
