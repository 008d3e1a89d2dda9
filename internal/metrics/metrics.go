// Package metrics is what the engines report their counters and gauges
// through. The cgo layers back it with Fluent Bit's own cmetrics (so the
// values appear in /api/v2/metrics/prometheus next to Fluent Bit's), tests
// with Recording, and everything else with Nop.
package metrics

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Kind is a metric's type.
type Kind int

// Metric kinds.
const (
	Counter Kind = iota
	Gauge
)

// Desc declares one metric. Every series is labelled with the Fluent Bit
// instance name (label "name", like Fluent Bit's own per-plugin metrics);
// Label, when set, is a second label that takes only the listed Values.
// All combinations exist from the start (at 0), so a dashboard sees a
// series before its first event and nothing is allocated while exporting.
type Desc struct {
	Name   string // without namespace and subsystem, e.g. "digicert_runs_total"
	Help   string
	Kind   Kind
	Label  string
	Values []string
}

// Sink takes metric updates. value is the value of the Desc's Label ("" when
// it has none). Implementations are safe for concurrent use.
type Sink interface {
	// Add adds v to a counter (v ≥ 0) or a gauge.
	Add(name, value string, v float64)
	// Set sets a gauge.
	Set(name, value string, v float64)
}

// Nop discards every update.
type Nop struct{}

// Add does nothing.
func (Nop) Add(string, string, float64) {}

// Set does nothing.
func (Nop) Set(string, string, float64) {}

// Or returns s, or Nop when s is nil.
func Or(s Sink) Sink {
	if s == nil {
		return Nop{}
	}
	return s
}

// Check reports a malformed set of descriptions (empty or duplicate names,
// a label without values or values without a label).
func Check(descs []Desc) error {
	seen := map[string]bool{}
	for _, d := range descs {
		switch {
		case d.Name == "" || d.Help == "":
			return fmt.Errorf("metric %q: name and help are required", d.Name)
		case seen[d.Name]:
			return fmt.Errorf("metric %q declared twice", d.Name)
		case (d.Label == "") != (len(d.Values) == 0):
			return fmt.Errorf("metric %q: a label needs its values, and values a label", d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

// Recording keeps every series' value in memory, for tests. An update to a
// metric or label value not declared in its descriptions is recorded as an
// error (Errors), like the host would reject it.
type Recording struct {
	mu     sync.Mutex
	descs  map[string]Desc
	values map[string]float64
	errs   []string
}

// NewRecording returns a Recording for descs with every series at 0.
func NewRecording(descs []Desc) *Recording {
	r := &Recording{descs: map[string]Desc{}, values: map[string]float64{}}
	for _, d := range descs {
		r.descs[d.Name] = d
		if d.Label == "" {
			r.values[d.Name] = 0
		}
		for _, v := range d.Values {
			r.values[key(d.Name, v)] = 0
		}
	}
	return r
}

func key(name, value string) string {
	if value == "" {
		return name
	}
	return name + "{" + value + "}"
}

func (r *Recording) update(name, value string, v float64, set bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.descs[name]
	switch {
	case !ok:
		r.errs = append(r.errs, "undeclared metric "+name)
		return
	case (value == "") != (d.Label == "") || (value != "" && !slices.Contains(d.Values, value)):
		r.errs = append(r.errs, fmt.Sprintf("metric %s: undeclared label value %q", name, value))
		return
	case set && d.Kind != Gauge:
		r.errs = append(r.errs, "Set on counter "+name)
		return
	case d.Kind == Counter && v < 0:
		r.errs = append(r.errs, fmt.Sprintf("counter %s decreased by %v", name, -v))
		return
	}
	if set {
		r.values[key(name, value)] = v
	} else {
		r.values[key(name, value)] += v
	}
}

// Add implements Sink.
func (r *Recording) Add(name, value string, v float64) { r.update(name, value, v, false) }

// Set implements Sink.
func (r *Recording) Set(name, value string, v float64) { r.update(name, value, v, true) }

// Value returns a series' current value.
func (r *Recording) Value(name, value string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.values[key(name, value)]
}

// Errors returns every invalid update seen.
func (r *Recording) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// String lists every series, sorted: `name{value} = v`.
func (r *Recording) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := make([]string, 0, len(r.values))
	for k, v := range r.values {
		lines = append(lines, fmt.Sprintf("%s = %v", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
