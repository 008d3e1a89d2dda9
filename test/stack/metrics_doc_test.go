package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// README's Metrics section documents exactly the metrics the plugins
// create, with every label value; the example alert rules parse and use
// only those metrics.
func TestMetricsDocumentedAndAlertsValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Metrics")
	if start < 0 {
		t.Fatal("README has no Metrics section")
	}
	section := readme[start:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(fluentbit_[a-z0-9_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	known := map[string]bool{}
	for prefix, descs := range map[string][]metrics.Desc{
		"fluentbit_input_":  digicertin.MetricDescs(),
		"fluentbit_output_": secopsout.MetricDescs(),
	} {
		for _, d := range descs {
			name := prefix + d.Name
			known[name] = true
			if !documented[name] {
				t.Errorf("README Metrics does not document %s", name)
			}
			for _, v := range d.Values {
				if !strings.Contains(section, "`"+v+"`") {
					t.Errorf("README Metrics does not name %s's %s value %q", name, d.Label, v)
				}
			}
		}
	}
	for name := range documented {
		if !known[name] {
			t.Errorf("README Metrics documents %s, which no plugin creates", name)
		}
	}

	raw, err := os.ReadFile(filepath.Join(root, "examples", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr string
				Labels      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" {
				t.Errorf("incomplete rule %+v", r)
			}
			for _, m := range regexp.MustCompile(`fluentbit_[a-z0-9_]+`).FindAllString(r.Expr, -1) {
				if !known[m] {
					t.Errorf("alert %s uses unknown metric %s", r.Alert, m)
				}
			}
		}
	}
	if n < 2 {
		t.Errorf("%d alert rules", n)
	}
	causes := map[string]bool{}
	for _, c := range append(secopsout.RetryCauses(), secopsout.ErrorCauses()...) {
		causes[c] = true
	}
	for _, m := range regexp.MustCompile(`cause=~"([^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
		for _, c := range strings.Split(m[1], "|") {
			if !causes[c] {
				t.Errorf("alerts.yaml matches cause %q, which the output never reports", c)
			}
		}
	}
	for _, want := range []string{"fluentbit_input_digicert_last_success_timestamp_seconds", "fluentbit_output_secops_s3_errors_total"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("alerts.yaml has no rule on %s", want)
		}
	}
}
