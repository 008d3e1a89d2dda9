package flbplugin

/*
#include <stdlib.h>
#cgo CFLAGS: -I${SRCDIR}/../../plugin/flbabi
#include "glue.h"
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// Namespace is the first part of every metric name, as Fluent Bit's own.
const Namespace = "fluentbit"

// Subsystem is the second part: "input" or "output", as Fluent Bit's own
// per-plugin metrics (fluentbit_input_records_total, …).
func (k Kind) Subsystem() string {
	if k == Input {
		return "input"
	}
	return "output"
}

// cmtSink updates metrics created on the instance's own cmetrics context,
// through the host's exported cmetrics functions. Every series (label
// combination) is created at init: creating one later would allocate in
// the context while Fluent Bit's HTTP server may be exporting it.
type cmtSink struct {
	mu     sync.RWMutex
	closed bool
	series map[[2]string]*series
	cstrs  []unsafe.Pointer // freed at Close
}

type series struct {
	metric unsafe.Pointer
	gauge  bool
	labels **C.char // name, then the Desc's label value if any
	n      C.int
}

// Metrics creates descs on the instance's cmetrics context, labelled with
// name (the instance name). It returns metrics.Nop, and says why once at
// debug level, when the host gives no context or has no cmetrics functions.
func (i Instance) Metrics(descs []metrics.Desc, name string, log *Logger) (metrics.Sink, func()) {
	ctx := C.fp_cmt_instance(i.api, C.int(i.p.kind), i.ins)
	why := ""
	switch {
	case metrics.Check(descs) != nil:
		why = "bad metric descriptions: " + metrics.Check(descs).Error()
	case ctx == nil:
		why = "the host gives no metrics context (Fluent Bit built without FLB_METRICS?)"
	case C.fp_cmt_available() == 0:
		why = "the host does not export the cmetrics functions"
	}
	if why != "" {
		if !i.p.metaOnce.Swap(true) {
			log.Debug("running without plugin metrics: " + why)
		}
		return metrics.Nop{}, func() {}
	}
	s := &cmtSink{series: map[[2]string]*series{}}
	cstr := func(v string) *C.char {
		c := C.CString(v)
		s.cstrs = append(s.cstrs, unsafe.Pointer(c))
		return c
	}
	ns, sub := cstr(Namespace), cstr(i.p.kind.Subsystem())
	for _, d := range descs {
		keys := []string{"name"}
		if d.Label != "" {
			keys = append(keys, d.Label)
		}
		ckeys := s.array(cstr, keys)
		gauge := 0
		if d.Kind == metrics.Gauge {
			gauge = 1
		}
		m := C.fp_cmt_create(ctx, C.int(gauge), ns, sub, cstr(d.Name), cstr(d.Help), C.int(len(keys)), ckeys)
		if m == nil {
			log.Warn("could not create metric " + Namespace + "_" + i.p.kind.Subsystem() + "_" + d.Name + "; it is not reported")
			continue
		}
		values := d.Values
		if d.Label == "" {
			values = []string{""}
		}
		for _, v := range values {
			vals := []string{name}
			if d.Label != "" {
				vals = append(vals, v)
			}
			se := &series{metric: m, gauge: gauge == 1, labels: s.array(cstr, vals), n: C.int(len(vals))}
			// Adding 0 creates the series now, at 0.
			C.fp_cmt_update(m, C.int(gauge), 0, 0, se.n, se.labels)
			s.series[[2]string{d.Name, v}] = se
		}
	}
	return s, s.close
}

// array makes a C array of C strings (kept until close).
func (s *cmtSink) array(cstr func(string) *C.char, vals []string) **C.char {
	arr := (**C.char)(C.calloc(C.size_t(len(vals)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	s.cstrs = append(s.cstrs, unsafe.Pointer(arr))
	sl := unsafe.Slice(arr, len(vals))
	for i, v := range vals {
		sl[i] = cstr(v)
	}
	return arr
}

func (s *cmtSink) update(name, value string, v float64, set bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	se := s.series[[2]string{name, value}]
	if s.closed || se == nil || (set && !se.gauge) {
		return // undeclared: the Recording sink flags it in tests
	}
	flag := 0
	if set {
		flag = 1
	}
	g := 0
	if se.gauge {
		g = 1
	}
	C.fp_cmt_update(se.metric, C.int(g), C.int(flag), C.double(v), se.n, se.labels)
}

func (s *cmtSink) Add(name, value string, v float64) { s.update(name, value, v, false) }
func (s *cmtSink) Set(name, value string, v float64) { s.update(name, value, v, true) }

// close stops updates (Fluent Bit destroys the context with the instance)
// and frees the label strings.
func (s *cmtSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, p := range s.cstrs {
		C.free(p)
	}
	s.cstrs = nil
}
