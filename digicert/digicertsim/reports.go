package digicertsim

import (
	"fmt"
	"strings"
	"time"
)

// Report types, as DigiCert spells them in report details.
const (
	typeAuditLogs = "audit-logs"
	typeOrders    = "orders"
	typeDomains   = "domains"
)

// Run statuses, as the report history lists them.
const (
	StatusScheduled  = "SCHEDULED"
	StatusGenerating = "GENERATING"
	StatusReady      = "READY"
	StatusFailed     = "FAILED"
)

type report struct {
	id, name, typ, typeName string
	format                  []string
	schedule                string // ON_DEMAND, WEEKLY, MONTHLY
	created                 time.Time
	configured              bool // from Config.Reports
}

func (r *report) audit() bool { return r.typ == typeAuditLogs }

// run is one report run. Its rows are the events of [from, to], fixed at
// creation; nothing else about them is stored.
type run struct {
	seq      int // creation order
	rep      *report
	id       string
	created  time.Time
	from, to int64
	rows     int
	parts    int // split_report_count: 0 unsplit, else number of files
	manual   bool
	fail     bool
	stuck    bool
	polls0   int  // history requests served before creation
	seeded   bool // created by New: never hidden by HistoryLag
}

// status evaluates the lifecycle at simulated time now after polls
// history requests in total.
func (s *Server) status(rn *run, now time.Time, polls int) string {
	if rn.stuck {
		return StatusGenerating
	}
	if !rn.seeded && (now.Before(rn.created.Add(s.cfg.GenerateDelay)) || polls-rn.polls0 < s.cfg.ReadyAfterPolls) {
		return StatusGenerating
	}
	if rn.fail {
		return StatusFailed
	}
	return StatusReady
}

// endDate is when the run finished (for report_end_date).
func (s *Server) endDate(rn *run) time.Time {
	return rn.created.Add(s.cfg.GenerateDelay + 11*time.Second)
}

// seedReports registers the configured reports and the "other" reports
// every real account has: other types and another audit-logs report, each
// with a few past runs.
func (s *Server) seedReports(now time.Time) {
	for i, id := range s.cfg.Reports {
		name := "Audit log report"
		if i > 0 {
			name = fmt.Sprintf("Audit log report %d", i+1)
		}
		s.addReport(&report{id: id, name: name, typ: typeAuditLogs, typeName: "Audit logs",
			format: []string{"JSON"}, schedule: "ON_DEMAND", created: now.Add(-72 * time.Hour), configured: true})
	}
	others := []*report{
		{id: s.opaqueID(1000, false), name: "Weekly orders", typ: typeOrders, typeName: "Orders",
			format: []string{"CSV"}, schedule: "WEEKLY"},
		{id: s.opaqueID(1001, false), name: "Domains (Excel)", typ: typeDomains, typeName: "Domains",
			format: []string{"EXCEL"}, schedule: "MONTHLY"},
		{id: s.opaqueID(1002, false), name: "Audit log – security team", typ: typeAuditLogs, typeName: "Audit logs",
			format: []string{"JSON"}, schedule: "WEEKLY"},
	}
	for i, r := range others {
		r.created = now.Add(-time.Duration(400+i) * time.Hour)
		s.addReport(r)
		for k := 0; k < 2; k++ {
			rn := s.newRun(r, now.Add(-time.Duration(30*(2-k)+i)*time.Hour), false)
			rn.fail = r.typ == typeOrders && k == 1
			rn.seeded = true
		}
	}
}

func (s *Server) addReport(r *report) {
	s.reports[r.id] = r
	s.reportOrder = append(s.reportOrder, r.id)
}

// newRun creates a run of r at simulated time at. Callers hold s.mu.
func (s *Server) newRun(r *report, at time.Time, manual bool) *run {
	s.nRuns++
	rn := &run{
		seq:     s.nRuns,
		rep:     r,
		id:      s.opaqueID(uint64(s.nRuns), true),
		created: at,
		to:      at.Unix(),
		from:    at.Add(-s.cfg.Window).Unix(),
		manual:  manual,
		polls0:  s.polls,
	}
	if r.audit() {
		rn.rows = s.gen.count(rn.from, rn.to)
		if rn.rows > s.cfg.SplitRows {
			rn.parts = (rn.rows + s.cfg.SplitRows - 1) / s.cfg.SplitRows
		}
	}
	s.runs = append(s.runs, rn)
	s.runByID[rn.id] = rn
	return rn
}

// opaqueID returns a deterministic identifier. Run ids are sometimes not
// well-formed UUIDs (like DigiCert's own example) so clients treat them as
// opaque strings.
func (s *Server) opaqueID(n uint64, mayBeOdd bool) string {
	r := newPRNG(uint64(s.cfg.Seed), n, 0x1d)
	a, b := r.next(), r.next()
	id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0x0fff|0x4000, uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
	if mayBeOdd {
		switch n % 5 {
		case 2:
			id = id[:len(id)-4] // 8-digit last group, as in the doc example
		case 4:
			id = strings.ToUpper(id)
		}
	}
	return id
}

// createRun starts a run now, applying queued run faults. Callers hold s.mu.
func (s *Server) createRun(r *report, manual bool) *run {
	rn := s.newRun(r, s.clk.now(), manual)
	if f, ok := s.takeFault(runFaultKinds, "POST", "/reports/v1/report/"+r.id+"/run"); ok {
		switch f.Kind {
		case FaultFailRun:
			rn.fail = true
		case FaultStuckRun:
			rn.stuck = true
		}
	}
	return rn
}

// Schedule creates a run of reportID as a CertCentral schedule would
// (manually_triggered false), for testing follow mode with view-only keys.
// It returns the run id, or "" if the report is unknown.
func (s *Server) Schedule(reportID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reports[reportID]
	if !ok {
		return ""
	}
	return s.createRun(r, false).id
}

// ReportIDs returns the ids of the served reports of type reportType (e.g.
// "audit-logs", "orders"), in creation order: tests use a non-audit report
// to check that a client refuses it.
func (s *Server) ReportIDs(reportType string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, id := range s.reportOrder {
		if s.reports[id].typ == reportType {
			ids = append(ids, id)
		}
	}
	return ids
}
