package stack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// These tests validate deploy/ without a cluster or Helm: every YAML document
// parses, the Kubernetes objects have what they need, and the Fluent Bit
// config inside them parses, loads our plugins as the shipped config does and
// uses only keys the plugins accept.

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, rel string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", rel)
	}
	return docs
}

// dig walks nested maps and lists ("0" indexes a list).
func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func digStr(v any, path ...string) string { return toString(dig(v, path...)) }

func digList(v any, path ...string) []any {
	l, _ := dig(v, path...).([]any)
	return l
}

// pipeline is a Fluent Bit config as deployed, with the pod around it.
type pipeline struct {
	where    string
	service  map[string]string
	plugins  []string
	inputs   []map[string]string
	outputs  []map[string]string
	mounts   map[string]string // mountPath → volume kind (persistentVolumeClaim, secret, …)
	env      map[string]bool
	claim    string // claimName of the persistentVolumeClaim volume
	pod      any    // pod securityContext
	ctr      any    // container: securityContext, probes, resources
	portName string // the container port the HTTP server is on
	port     string
}

// genericKeys are Fluent Bit's own keys of inputs and outputs that the
// deployed configs may use next to the plugins' keys.
var genericKeys = []string{"name", "tag", "match", "workers", "retry_limit", "storage.type", "log_level", "alias", "mem_buf_limit", "storage.total_limit_size"}

// imageUID is the user the image runs as (Dockerfile USER of the fluent-bit stage).
func imageUID(t *testing.T) string {
	m := regexp.MustCompile(`(?m)^USER (\d+)`).FindStringSubmatch(dockerfileStage(t, "fluent-bit"))
	if m == nil {
		t.Fatal("the fluent-bit stage has no numeric USER")
	}
	return m[1]
}

func (p pipeline) check(t *testing.T) {
	t.Helper()
	errorf := func(format string, a ...any) {
		t.Helper()
		t.Errorf(p.where+": "+format, a...)
	}

	// The plugins, as the shipped config loads them.
	var shipped fbYAML
	readYAML(t, "fluent-bit.yaml", &shipped)
	if !slices.Equal(p.plugins, shipped.Plugins) {
		errorf("loads plugins %v, the shipped fluent-bit.yaml %v", p.plugins, shipped.Plugins)
	}

	// HTTP server with the health check, on the port the probes use.
	if !isOn(p.service["http_server"]) || !isOn(p.service["health_check"]) || p.service["http_listen"] != "0.0.0.0" {
		errorf("service needs http_server on, http_listen 0.0.0.0 and health_check on (the readiness probe reads /api/v1/health); has %v", p.service)
	}
	if p.service["http_port"] != p.port {
		errorf("http_port %q, but the container port %q is %q", p.service["http_port"], p.portName, p.port)
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if got := digStr(p.ctr, probe, "httpGet", "port"); got != p.portName {
			errorf("%s port %q, want the HTTP server's port %q", probe, got, p.portName)
		}
	}
	if got := digStr(p.ctr, "readinessProbe", "httpGet", "path"); got != "/api/v1/health" && got != "/api/v2/health" {
		errorf("readinessProbe path %q, want Fluent Bit's health endpoint", got)
	}

	// State and buffers on the volume claim; the key from a Secret file.
	onVolume := func(what, path, kind string) {
		for mp, k := range p.mounts {
			if k == kind && (path == mp || strings.HasPrefix(path, mp+"/")) {
				return
			}
		}
		errorf("%s %q is not on a %s volume (mounts %v)", what, path, kind, p.mounts)
	}
	onVolume("storage.path", p.service["storage.path"], "persistentVolumeClaim")
	var tag string
	var inputs int
	for _, in := range p.inputs {
		for k := range in {
			if !slices.Contains(digicertin.Keys(), k) && !slices.Contains(genericKeys, k) {
				errorf("input key %q is not a key of the digicert input", k)
			}
		}
		if in["name"] != "digicert" {
			continue
		}
		inputs++
		tag = in["tag"]
		if in["api_key"] != "" {
			errorf("the API key must come from the Secret file (api_key_file), not api_key")
		}
		onVolume("api_key_file", in["api_key_file"], "secret")
		// The plugin does not create the state_file's directory: it must be
		// the mount itself or exist in the image.
		if dir := filepath.Dir(in["state_file"]); p.mounts[dir] != "persistentVolumeClaim" {
			errorf("state_file %q must sit directly on the volume claim's mount (its directory must exist)", in["state_file"])
		}
		if in["storage.type"] != "filesystem" {
			errorf("input storage.type %q, want filesystem", in["storage.type"])
		}
	}
	if inputs != 1 {
		errorf("%d digicert inputs, want 1", inputs)
	}
	var outputs int
	for _, o := range p.outputs {
		if o["workers"] == "" {
			errorf("output %s sets no workers", o["name"])
		}
		if o["name"] != "secops_s3" {
			continue
		}
		outputs++
		for k := range o {
			if !slices.Contains(secopsout.Keys(), k) && !slices.Contains(genericKeys, k) {
				errorf("output key %q is not a key of secops_s3", k)
			}
		}
		if m := strings.TrimSuffix(o["match"], "*"); !strings.HasPrefix(tag, m) {
			errorf("output match %q does not match the input's tag %q", o["match"], tag)
		}
		if o["retry_limit"] != "no_limits" {
			errorf("retry_limit %q, want no_limits (see README Durability)", o["retry_limit"])
		}
	}
	if outputs != 1 {
		errorf("%d secops_s3 outputs, want 1", outputs)
	}
	// Every ${VAR} is set in the pod, and none uses ${VAR:-default}, which
	// older Fluent Bit releases do not expand.
	all := fmt.Sprint(p.service, p.inputs, p.outputs)
	for _, m := range regexp.MustCompile(`\$\{([^}]*)\}`).FindAllStringSubmatch(all, -1) {
		if !p.env[m[1]] {
			errorf("${%s} is not set in the pod's env", m[1])
		}
	}

	// Non-root, as the image's user, with the volume writable through fsGroup.
	uid := imageUID(t)
	if digStr(p.pod, "runAsNonRoot") != "true" || digStr(p.pod, "runAsUser") != uid || digStr(p.pod, "fsGroup") == "" {
		errorf("pod securityContext must have runAsNonRoot true, runAsUser %s (the image's user) and an fsGroup; has %v", uid, p.pod)
	}
	if digStr(p.ctr, "securityContext", "allowPrivilegeEscalation") != "false" || digStr(p.ctr, "securityContext", "readOnlyRootFilesystem") != "true" {
		errorf("container securityContext must forbid privilege escalation and keep the root filesystem read-only")
	}
	if p.mounts["/tmp"] != "emptyDir" {
		errorf("with a read-only root filesystem, /tmp (where ZIP bodies are spilled) needs an emptyDir")
	}
	if digStr(p.ctr, "resources", "requests", "memory") == "" || digStr(p.ctr, "resources", "limits", "memory") == "" {
		errorf("resources need a memory request and limit")
	}
}

// mountsOf maps each volumeMount's path to its volume's kind.
func mountsOf(t *testing.T, where string, volumes, mounts []any) (map[string]string, string) {
	kinds := map[string]string{}
	claim := ""
	for _, v := range volumes {
		for _, k := range []string{"persistentVolumeClaim", "secret", "configMap", "emptyDir"} {
			if dig(v, k) != nil {
				kinds[digStr(v, "name")] = k
			}
		}
		if c := digStr(v, "persistentVolumeClaim", "claimName"); c != "" {
			claim = c
		}
	}
	out := map[string]string{}
	for _, m := range mounts {
		kind, ok := kinds[digStr(m, "name")]
		if !ok {
			t.Errorf("%s: volumeMount %q names no volume", where, digStr(m, "name"))
		}
		out[digStr(m, "mountPath")] = kind
	}
	return out, claim
}

func envOf(list []any) map[string]bool {
	env := map[string]bool{}
	for _, e := range list {
		if digStr(e, "value") != "" {
			env[digStr(e, "name")] = true
		}
	}
	return env
}

// claimNamed returns the name of the PersistentVolumeClaim in rel.
func claimNamed(t *testing.T, rel string) string {
	for _, d := range yamlDocs(t, rel) {
		if digStr(d, "kind") == "PersistentVolumeClaim" {
			if digStr(d, "spec", "resources", "requests", "storage") == "" || len(digList(d, "spec", "accessModes")) == 0 {
				t.Errorf("%s: the claim needs accessModes and a storage request", rel)
			}
			return digStr(d, "metadata", "name")
		}
	}
	t.Fatalf("%s has no PersistentVolumeClaim", rel)
	return ""
}

// chartKeys are the top-level keys of the fluent/fluent-bit chart's
// values.yaml (chart 0.58.1): a key outside this list is silently ignored
// by Helm, so a typo would deploy the chart's defaults.
var chartKeys = []string{"kind", "replicaCount", "image", "testFramework", "imagePullSecrets", "nameOverride", "fullnameOverride",
	"serviceAccount", "rbac", "podSecurityPolicy", "openShift", "podSecurityContext", "hostNetwork", "dnsPolicy", "dnsConfig",
	"hostAliases", "securityContext", "service", "serviceMonitor", "prometheusRule", "dashboards", "lifecycle", "livenessProbe",
	"readinessProbe", "resources", "ingress", "autoscaling", "podDisruptionBudget", "nodeSelector", "tolerations", "affinity",
	"labels", "annotations", "podAnnotations", "podLabels", "minReadySeconds", "terminationGracePeriodSeconds", "priorityClassName",
	"env", "envWithTpl", "envFrom", "extraContainers", "flush", "metricsPort", "extraPorts", "extraVolumes", "extraVolumeMounts",
	"updateStrategy", "existingConfigMap", "networkPolicy", "luaScripts", "config", "volumeMounts", "daemonSetVolumes",
	"daemonSetVolumeMounts", "command", "args", "initContainers", "logLevel", "hotReload"}

var chartConfigKeys = []string{"service", "inputs", "filters", "outputs", "upstream", "customParsers", "extraFiles"}

func TestHelmValues(t *testing.T) {
	const rel = "deploy/helm/values.yaml"
	docs := yamlDocs(t, rel)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", rel, len(docs))
	}
	v := docs[0]
	for k := range v {
		if !slices.Contains(chartKeys, k) {
			t.Errorf("%s: %q is not a value of the fluent/fluent-bit chart", rel, k)
		}
	}
	for k := range v["config"].(map[string]any) {
		if !slices.Contains(chartConfigKeys, k) {
			t.Errorf("%s: config.%s is not a config block of the chart", rel, k)
		}
	}
	if digStr(v, "kind") != "Deployment" || digStr(v, "replicaCount") != "1" || digStr(v, "updateStrategy", "type") != "Recreate" {
		t.Errorf("%s: want kind Deployment, replicaCount 1, updateStrategy Recreate (one poller, one checkpoint)", rel)
	}
	if r := digStr(v, "image", "repository"); r == "" || strings.Contains(r, "fluent/fluent-bit") || digStr(v, "image", "tag") == "" {
		t.Errorf("%s: image must be this project's image with a tag, not the chart's default (%q)", rel, r)
	}
	if digStr(v, "rbac", "create") != "false" {
		t.Errorf("%s: rbac.create must be false: the pipeline reads no Kubernetes API", rel)
	}

	// The chart concatenates the config blocks into fluent-bit.conf after
	// running them through tpl; resolve the values they use.
	var conf strings.Builder
	for _, block := range []string{"service", "inputs", "filters", "outputs"} {
		conf.WriteString(digStr(v, "config", block) + "\n")
	}
	text := regexp.MustCompile(`\{\{\s*\.Values\.(\w+)\s*\}\}`).ReplaceAllStringFunc(conf.String(), func(s string) string {
		name := regexp.MustCompile(`\.Values\.(\w+)`).FindStringSubmatch(s)[1]
		if digStr(v, name) == "" {
			t.Errorf("%s: config uses .Values.%s, which is not set", rel, name)
		}
		return digStr(v, name)
	})
	if strings.Contains(text, "{{") {
		t.Errorf("%s: config holds a template this test cannot resolve", rel)
	}
	path := filepath.Join(t.TempDir(), "fluent-bit.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	secs, err := ParseClassic(path)
	if err != nil {
		t.Fatalf("%s: config: %v", rel, err)
	}
	p := pipeline{where: rel, portName: "http", port: digStr(v, "metricsPort"), env: envOf(digList(v, "env")),
		pod: v["podSecurityContext"], ctr: v}
	for _, s := range secs {
		switch s.Name {
		case "SERVICE":
			p.service = s.Props
		case "INPUT":
			p.inputs = append(p.inputs, s.Props)
		case "OUTPUT":
			p.outputs = append(p.outputs, s.Props)
		default:
			t.Errorf("%s: unexpected [%s] section in the chart's fluent-bit.conf", rel, s.Name)
		}
	}
	// plugins_file must be a file of the image: the Dockerfile copies the
	// repository's plugins.conf to /fluent-bit/etc/.
	pf := p.service["plugins_file"]
	if pf != "/fluent-bit/etc/plugins.conf" {
		t.Fatalf("%s: plugins_file %q, want the image's /fluent-bit/etc/plugins.conf", rel, pf)
	}
	ps, err := ParseClassic(filepath.Join(root, "plugins.conf"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "plugins.conf"))
	for _, m := range regexp.MustCompile(`(?m)^\s*Path\s+(\S+)`).FindAllStringSubmatch(string(b), -1) {
		p.plugins = append(p.plugins, m[1])
	}
	if len(ps) != 1 || ps[0].Name != "PLUGINS" {
		t.Errorf("plugins.conf must hold one [PLUGINS] section")
	}
	// The chart mounts its own config volume at /fluent-bit/etc/conf.
	var mounts map[string]string
	mounts, p.claim = mountsOf(t, rel, digList(v, "extraVolumes"), digList(v, "extraVolumeMounts"))
	p.mounts = mounts
	p.ctr = map[string]any{"securityContext": v["securityContext"], "livenessProbe": v["livenessProbe"],
		"readinessProbe": v["readinessProbe"], "resources": v["resources"]}
	p.check(t)
	dryRun(t, rel, text, "fluent-bit.conf", p.env)
	if want := claimNamed(t, "deploy/helm/pvc.yaml"); p.claim != want {
		t.Errorf("%s: the data volume claims %q, deploy/helm/pvc.yaml makes %q", rel, p.claim, want)
	}
}

func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join(root, "deploy", "kubernetes")
	kdocs := yamlDocs(t, "deploy/kubernetes/kustomization.yaml")
	var listed []string
	for _, r := range digList(kdocs[0], "resources") {
		listed = append(listed, toString(r))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	objects := map[string]map[string]any{} // kind/name → object
	for _, f := range files {
		base := filepath.Base(f)
		if base == "kustomization.yaml" {
			continue
		}
		if !slices.Contains(listed, base) {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
		for _, d := range yamlDocs(t, filepath.Join("deploy", "kubernetes", base)) {
			kind, name := digStr(d, "kind"), digStr(d, "metadata", "name")
			if digStr(d, "apiVersion") == "" || kind == "" || name == "" {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", base)
			}
			objects[kind+"/"+name] = d
		}
	}
	var dep map[string]any
	for k, o := range objects {
		if strings.HasPrefix(k, "Deployment/") || strings.HasPrefix(k, "StatefulSet/") {
			if dep != nil {
				t.Fatal("more than one workload")
			}
			dep = o
		}
	}
	if dep == nil || digStr(dep, "kind") != "Deployment" {
		t.Fatal("deploy/kubernetes has no Deployment")
	}
	if digStr(dep, "spec", "replicas") != "1" || digStr(dep, "spec", "strategy", "type") != "Recreate" {
		t.Error("the Deployment needs replicas 1 and strategy Recreate (one poller, one checkpoint)")
	}
	podLabels := dig(dep, "spec", "template", "metadata", "labels")
	for k, v := range dig(dep, "spec", "selector", "matchLabels").(map[string]any) {
		if digStr(podLabels, k) != toString(v) {
			t.Errorf("the Deployment's selector %s=%v does not match its pod labels", k, v)
		}
	}
	pod := dig(dep, "spec", "template", "spec")
	ctrs := digList(pod, "containers")
	if len(ctrs) != 1 {
		t.Fatalf("%d containers, want 1", len(ctrs))
	}
	ctr := ctrs[0]
	if sa := digStr(pod, "serviceAccountName"); objects["ServiceAccount/"+sa] == nil {
		t.Errorf("serviceAccountName %q is not among the manifests", sa)
	}
	if img := digStr(ctr, "image"); img == "" || strings.HasPrefix(img, "fluent/fluent-bit") || !strings.Contains(img, ":") {
		t.Errorf("image %q must be this project's image, with a tag", img)
	}
	mounts, claim := mountsOf(t, "deployment.yaml", digList(pod, "volumes"), digList(ctr, "volumeMounts"))
	if objects["PersistentVolumeClaim/"+claim] == nil {
		t.Errorf("the data volume claims %q, which is not among the manifests", claim)
	}

	// The config: -c names a key of the mounted ConfigMap.
	args := digList(ctr, "args")
	if len(args) != 2 || toString(args[0]) != "-c" {
		t.Fatalf("container args %v, want -c <config>", args)
	}
	cfgPath := toString(args[1])
	var cmName string
	for _, vol := range digList(pod, "volumes") {
		for _, m := range digList(ctr, "volumeMounts") {
			if digStr(m, "name") == digStr(vol, "name") && digStr(vol, "configMap", "name") != "" && filepath.Dir(cfgPath) == digStr(m, "mountPath") {
				cmName = digStr(vol, "configMap", "name")
			}
		}
	}
	cm := objects["ConfigMap/"+cmName]
	if cm == nil {
		t.Fatalf("-c %s is not in a ConfigMap of the manifests", cfgPath)
	}
	var cfg fbYAML
	if err := yaml.Unmarshal([]byte(digStr(cm, "data", filepath.Base(cfgPath))), &cfg); err != nil {
		t.Fatalf("ConfigMap %s %s: %v", cmName, filepath.Base(cfgPath), err)
	}
	lower := func(m map[string]any) map[string]string {
		out := map[string]string{}
		for k := range m {
			out[strings.ToLower(k)] = str(m, k)
		}
		return out
	}
	p := pipeline{where: "deploy/kubernetes", service: lower(cfg.Service), plugins: cfg.Plugins, mounts: mounts, claim: claim,
		env: envOf(digList(ctr, "env")), pod: dig(pod, "securityContext"), ctr: ctr}
	for _, in := range cfg.Pipeline.Inputs {
		p.inputs = append(p.inputs, lower(in))
	}
	for _, o := range cfg.Pipeline.Outputs {
		p.outputs = append(p.outputs, lower(o))
	}
	for _, port := range digList(ctr, "ports") {
		p.portName, p.port = digStr(port, "name"), digStr(port, "containerPort")
	}
	p.check(t)
	dryRun(t, "deploy/kubernetes", digStr(cm, "data", filepath.Base(cfgPath)), "fluent-bit.yaml", p.env)

	// The Service reaches the HTTP server.
	var svc map[string]any
	for k, o := range objects {
		if strings.HasPrefix(k, "Service/") {
			svc = o
		}
	}
	if svc == nil {
		t.Fatal("no Service for the metrics")
	}
	for k, v := range dig(svc, "spec", "selector").(map[string]any) {
		if digStr(podLabels, k) != toString(v) {
			t.Errorf("the Service's selector %s=%v does not match the pod", k, v)
		}
	}
	if tp := digStr(svc, "spec", "ports", "0", "targetPort"); tp != p.portName && tp != p.port {
		t.Errorf("the Service's targetPort %q is not the HTTP server's port", tp)
	}
}

// dryRun asks a real Fluent Bit (FLUENT_BIT_BIN) to validate a deployed
// config, with the image's paths pointed at this machine's.
func dryRun(t *testing.T, where, config, name string, env map[string]bool) {
	t.Helper()
	fb, plugins := os.Getenv("FLUENT_BIT_BIN"), os.Getenv("PLUGIN_DIR")
	if fb == "" || plugins == "" {
		t.Logf("%s: FLUENT_BIT_BIN or PLUGIN_DIR not set: no --dry-run with a real Fluent Bit", where)
		return
	}
	tmp := t.TempDir()
	pc, err := os.ReadFile(filepath.Join(root, "plugins.conf"))
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.NewReplacer("/fluent-bit/plugins/", plugins+"/", "/fluent-bit/etc/plugins.conf", filepath.Join(tmp, "plugins.conf"),
		"/var/lib/fluent-bit/", tmp+"/var/", "/etc/digicert/", tmp+"/secret/")
	if err := os.WriteFile(filepath.Join(tmp, "plugins.conf"), []byte(paths.Replace(string(pc))), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(tmp, name)
	if err := os.WriteFile(cfg, []byte(paths.Replace(config)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fb, "--dry-run", "-c", cfg)
	cmd.Env = os.Environ()
	for k := range env {
		cmd.Env = append(cmd.Env, k+"=dry-run")
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration test is successful") {
		t.Errorf("%s: fluent-bit --dry-run: %v\n%s", where, err, out)
	}
}
