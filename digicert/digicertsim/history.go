package digicertsim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// histTime is the history timestamp layout (no zone, as DigiCert's history example shows).
const histTime = "2006-01-02 15:04:05"

// createdOffset reproduces the doc example, where created_date is 7 h
// before report_start_date (different zones per field, perhaps).
const createdOffset = 7 * time.Hour

type historyEntry struct {
	DisplayName       string   `json:"report_display_name"`
	ReportID          string   `json:"report_identifier"`
	RunID             *string  `json:"report_run_identifier,omitempty"`
	CreatedByID       int      `json:"created_by_user_id"`
	CreatedByName     string   `json:"created_by_user_name"`
	CreatedDate       string   `json:"created_date"`
	ReportType        string   `json:"report_type"`
	ReportTypeName    string   `json:"report_type_display_name"`
	StartDate         *string  `json:"report_start_date"`
	EndDate           *string  `json:"report_end_date"`
	Schedule          string   `json:"schedule"`
	Format            []string `json:"format"`
	Status            string   `json:"status"`
	ManuallyTriggered bool     `json:"manually_triggered"`
	SplitReportCount  int      `json:"split_report_count"`

	sortTime time.Time // creation (simulated)
	sortSeq  int
}

type historyPage struct {
	Page struct {
		Total  int `json:"total"`
		Limit  int `json:"limit"`
		Offset int `json:"offset"`
	} `json:"page"`
	ReportHistory []historyEntry `json:"report_history"`
}

func strp(s string) *string { return &s }

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, err1 := intParam(q.Get("offset"), 0)
	limit, err2 := intParam(q.Get("limit"), 100)
	if err1 != nil || err2 != nil || offset < 0 || limit <= 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "offset must be >= 0 and limit > 0.")
		return
	}
	limit = min(limit, s.cfg.HistoryMaxLimit)
	statuses := listParam(q.Get("status"))
	types := listParam(q.Get("report_type"))
	schedules := listParam(q.Get("schedule"))
	name := q.Get("report_display_name")
	search := strings.ToLower(q.Get("search"))

	s.mu.Lock()
	s.polls++
	all := s.historyEntries(s.clk.now(), s.polls)
	s.mu.Unlock()

	var sel []historyEntry
	for _, e := range all {
		if (len(statuses) > 0 && !statuses[e.Status]) ||
			(len(types) > 0 && !types[e.ReportType]) ||
			(len(schedules) > 0 && !schedules[e.Schedule]) ||
			(name != "" && e.DisplayName != name) ||
			(search != "" && !strings.Contains(strings.ToLower(e.DisplayName), search)) {
			continue
		}
		sel = append(sel, e)
	}
	var page historyPage
	page.Page.Total, page.Page.Limit, page.Page.Offset = len(sel), limit, offset
	page.ReportHistory = []historyEntry{}
	from := offset
	if f := bodyFault(r); f != nil && f.Kind == FaultRepeatPage {
		from, page.Page.Total = 0, 1000000 // offset ignored, total inflated
	}
	if from < len(sel) {
		page.ReportHistory = sel[from:min(len(sel), from+limit)]
	}
	writeJSON(w, http.StatusOK, page)
}

// historyEntries lists every visible run plus one SCHEDULED record per
// report, in the configured order. Callers hold s.mu.
func (s *Server) historyEntries(now time.Time, polls int) []historyEntry {
	var out []historyEntry
	for _, rn := range s.runs {
		if !rn.seeded && polls-rn.polls0 <= s.cfg.HistoryLag {
			continue
		}
		st := s.status(rn, now, polls)
		e := s.entry(rn.rep, rn.created)
		e.RunID = strp(rn.id)
		e.StartDate = strp(rn.created.Format(histTime))
		if st != StatusGenerating {
			e.EndDate = strp(s.endDate(rn).Format(histTime))
		}
		e.Status = st
		e.ManuallyTriggered = rn.manual
		e.SplitReportCount = rn.parts
		switch {
		case rn.manual:
			e.Schedule = "ON_DEMAND"
		case e.Schedule == "ON_DEMAND":
			e.Schedule = "WEEKLY" // a schedule started it
		}
		e.sortSeq = rn.seq
		out = append(out, e)
	}
	if !s.cfg.NoScheduledEntries {
		for i, id := range s.reportOrder {
			rep := s.reports[id]
			e := s.entry(rep, rep.created)
			e.Status = StatusScheduled
			if i%2 == 1 {
				e.RunID = strp("") // some records carry an empty id, others none
			}
			e.sortSeq = -i
			out = append(out, e)
		}
	}
	s.sortHistory(out)
	return out
}

func (s *Server) entry(rep *report, at time.Time) historyEntry {
	return historyEntry{
		DisplayName: rep.name, ReportID: rep.id, CreatedByID: 12345, CreatedByName: "John Doe",
		CreatedDate: at.Add(-createdOffset).Format(histTime), ReportType: rep.typ,
		ReportTypeName: rep.typeName, Schedule: rep.schedule, Format: rep.format, sortTime: at,
	}
}

func (s *Server) sortHistory(es []historyEntry) {
	older := func(a, b historyEntry) bool {
		if !a.sortTime.Equal(b.sortTime) {
			return a.sortTime.Before(b.sortTime)
		}
		return a.sortSeq < b.sortSeq
	}
	switch s.cfg.HistoryOrder {
	case OrderOldestFirst:
		sort.SliceStable(es, func(i, j int) bool { return older(es[i], es[j]) })
	case OrderShuffled:
		// Stable per entry, so paging stays consistent.
		key := func(e historyEntry) uint64 {
			return newPRNG(uint64(s.cfg.Seed), uint64(e.sortSeq)+1<<40).next()
		}
		sort.SliceStable(es, func(i, j int) bool { return key(es[i]) < key(es[j]) })
	default:
		sort.SliceStable(es, func(i, j int) bool { return older(es[j], es[i]) })
	}
}

func intParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

func listParam(v string) map[string]bool {
	if v == "" {
		return nil
	}
	m := map[string]bool{}
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			m[x] = true
		}
	}
	return m
}
