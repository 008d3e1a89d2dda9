package digicertsim

import (
	"net/http"
	"strings"
)

type column struct {
	Identifier string `json:"identifier"`
}

// auditColumnIDs are invented identifiers: the real ones are only
// available from the undocumented "List columns" endpoint.
var auditColumnIDs = []string{"account_id", "action", "action_taken_via", "activity", "ledger_id",
	"audit_date", "division_id", "division_name", "domain_id", "domain_name", "ip_address",
	"ip_country", "message", "order_id", "order_request_id", "organization_id",
	"organization_name", "primary_organization_name", "result", "revocation_comments",
	"user_id", "user_name", "voucher_code_id", "voucher_order_id"}

// handleDetails serves GET /report/{id}, the report's details.
func (s *Server) handleDetails(w http.ResponseWriter, id string) {
	s.mu.Lock()
	rep, ok := s.reports[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, codeReportMissing, "Report not found.")
		return
	}
	cols := []column{}
	if rep.audit() {
		for _, c := range auditColumnIDs {
			cols = append(cols, column{c})
		}
	}
	type schedule struct {
		Frequency    string  `json:"frequency"`
		WeekdayToRun *string `json:"weekday_to_run"`
		WeekdayFreq  *string `json:"weekday_frequency"`
		RunUntil     *string `json:"run_until"`
		RepeatEvery  *int    `json:"repeat_every"`
		RepeatOn     *string `json:"repeat_on"`
		RepeatOnDate *string `json:"repeat_on_date"`
	}
	sch := schedule{Frequency: rep.schedule}
	var next *string
	if rep.schedule == "WEEKLY" {
		sch.WeekdayToRun = strp("MONDAY")
		one := 1
		sch.RepeatEvery = &one
		next = strp(s.clk.now().AddDate(0, 0, 7).Format("2006-01-02"))
	}
	body := map[string]any{"report": map[string]any{
		"report_display_name":  rep.name,
		"report_identifier":    rep.id,
		"created_by_user_id":   12345,
		"created_by_user_name": "John Doe",
		"created_date":         rep.created.Format(histTime),
		"report_metadata": map[string]any{
			"report_type": rep.typ,
			"columns":     cols,
			"filters":     []any{},
			"sources": map[string]any{
				"division_filter_type":    "INCLUDE_ALL_DIVISIONS",
				"sub_account_filter_type": "EXCLUDE_ALL_SUB_ACCOUNTS",
				"divisions":               []any{},
				"sub_accounts":            []any{},
			},
		},
		"schedule":            sch,
		"next_run_date":       next,
		"format":              rep.format,
		"status":              "ACTIVE",
		"notification_emails": nil,
	}}
	writeJSON(w, http.StatusOK, body)
}

// handleRun serves POST /report/{id}/run (DigiCert does not document
// whether the response names the new run, so both forms are configurable).
func (s *Server) handleRun(w http.ResponseWriter, id string) {
	s.mu.Lock()
	rep, ok := s.reports[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, codeReportMissing, "Report not found.")
		return
	}
	if s.cfg.RejectPostWhileGenerating && s.generatingLocked(rep) {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeInProgress, "A run of this report is already in progress.")
		return
	}
	rn := s.createRun(rep, true)
	s.mu.Unlock()
	if s.cfg.ReturnRunIDOnPost {
		writeJSON(w, http.StatusCreated, map[string]string{"report_run_identifier": rn.id})
		return
	}
	writeJSON(w, s.cfg.PostStatus, struct{}{})
}

// generatingLocked reports whether rep has a GENERATING run. Callers hold s.mu.
func (s *Server) generatingLocked(rep *report) bool {
	now := s.clk.now()
	for _, rn := range s.runs {
		if rn.rep == rep && s.status(rn, now, s.polls) == StatusGenerating {
			return true
		}
	}
	return false
}

// lookupRun finds a run and its status, writing the error response if the
// run cannot be downloaded.
func (s *Server) lookupRun(w http.ResponseWriter, reportID, runID string) (*run, bool) {
	s.mu.Lock()
	rep, repOK := s.reports[reportID]
	rn, runOK := s.runByID[runID]
	var st string
	if runOK {
		st = s.status(rn, s.clk.now(), s.polls)
	}
	s.mu.Unlock()
	switch {
	case !repOK:
		writeError(w, http.StatusNotFound, codeReportMissing, "Report not found.")
	case !runOK || rn.rep != rep:
		writeError(w, http.StatusNotFound, codeRunMissing, "Report run not found.")
	case st != StatusReady:
		writeError(w, http.StatusBadRequest, codeNotReady, "Report run is "+strings.ToLower(st)+".")
	default:
		return rn, true
	}
	return nil, false
}
