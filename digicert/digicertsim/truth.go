package digicertsim

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one generated audit event.
type Event struct {
	Time time.Time // "Date and time (UTC)", whole seconds
	JSON []byte    // the row object exactly as served (compact, keys in Columns order)
}

// Fields decodes the row into column → value.
func (e Event) Fields() (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal(e.JSON, &m); err != nil {
		return nil, fmt.Errorf("digicertsim: decode event: %w", err)
	}
	return m, nil
}

// GroundTruth returns every event produced up to the current simulated
// time, in time order, duplicates included.
func (s *Server) GroundTruth() []Event {
	return s.events(s.gen.origin, s.clk.now().Unix(), 0, -1)
}

// RunEvents returns the rows of a run (all parts, in order), or nil if the
// run is unknown or not an audit-logs run. The rows are fixed at creation,
// whatever the run's status.
func (s *Server) RunEvents(runID string) []Event {
	s.mu.Lock()
	rn, ok := s.runByID[runID]
	s.mu.Unlock()
	if !ok || !rn.rep.audit() {
		return nil
	}
	return s.events(rn.from, rn.to, 0, rn.rows)
}

func (s *Server) events(from, to int64, skip, max int) []Event {
	var out []Event
	s.gen.each(from, to, skip, max, func(h int64, e event) bool {
		out = append(out, Event{Time: s.gen.eventTime(h, e), JSON: s.gen.appendRow(nil, h, e)})
		return true
	})
	return out
}

// RunInfo describes a run as the simulator sees it.
type RunInfo struct {
	ReportID          string
	RunID             string
	Status            string // status now (history polls counted so far)
	Created           time.Time
	From, To          time.Time // event window, inclusive
	Rows              int
	SplitReportCount  int
	ManuallyTriggered bool
}

// Runs returns every run (also other reports' runs), oldest first.
func (s *Server) Runs() []RunInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.now()
	out := make([]RunInfo, 0, len(s.runs))
	for _, rn := range s.runs {
		out = append(out, RunInfo{
			ReportID: rn.rep.id, RunID: rn.id, Status: s.status(rn, now, s.polls),
			Created: rn.created, From: time.Unix(rn.from, 0).UTC(), To: time.Unix(rn.to, 0).UTC(),
			Rows: rn.rows, SplitReportCount: rn.parts, ManuallyTriggered: rn.manual,
		})
	}
	return out
}
