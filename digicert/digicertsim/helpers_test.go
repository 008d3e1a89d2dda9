package digicertsim

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
)

const testKey = "test-key-0123456789"

// harness is a simulator behind a real HTTP server.
type harness struct {
	t   *testing.T
	sim *Server
	srv *httptest.Server
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	sim := New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: sim, srv: srv}
}

// do sends a request with key (empty: no header) and returns status, headers
// and body.
func (h *harness) do(method, path, key string) (int, http.Header, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-DC-DEVKEY", key)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

func (h *harness) get(path string) (int, http.Header, []byte) {
	return h.do(http.MethodGet, path, testKey)
}

type histRun struct {
	ReportID          string  `json:"report_identifier"`
	RunID             *string `json:"report_run_identifier"`
	Status            string  `json:"status"`
	ReportType        string  `json:"report_type"`
	CreatedDate       string  `json:"created_date"`
	StartDate         *string `json:"report_start_date"`
	EndDate           *string `json:"report_end_date"`
	SplitReportCount  int     `json:"split_report_count"`
	ManuallyTriggered bool    `json:"manually_triggered"`
}

type histResp struct {
	Page          struct{ Total, Limit, Offset int } `json:"page"`
	ReportHistory []histRun                          `json:"report_history"`
}

func (h *harness) history(query string) histResp {
	h.t.Helper()
	st, _, b := h.get("/reports/v1/report/history?" + query)
	if st != 200 {
		h.t.Fatalf("history: %d %s", st, b)
	}
	var r histResp
	if err := json.Unmarshal(b, &r); err != nil {
		h.t.Fatalf("history: %v", err)
	}
	return r
}

// statusOf returns a run's status as history reports it (one history poll).
func (h *harness) statusOf(runID string) string {
	h.t.Helper()
	for _, e := range h.history("limit=200").ReportHistory {
		if e.RunID != nil && *e.RunID == runID {
			return e.Status
		}
	}
	return ""
}

// post starts a run and returns the new run id from Runs().
func (h *harness) post(reportID string) string {
	h.t.Helper()
	before := len(h.sim.Runs())
	st, _, b := h.do(http.MethodPost, "/reports/v1/report/"+reportID+"/run", testKey)
	if st/100 != 2 {
		h.t.Fatalf("post run: %d %s", st, b)
	}
	runs := h.sim.Runs()
	if len(runs) != before+1 {
		h.t.Fatalf("post run: %d runs before, %d after", before, len(runs))
	}
	return runs[len(runs)-1].RunID
}

// rowsOf decodes a body (JSON array, or a ZIP whose .json members are
// read in name order) into raw row objects.
func rowsOf(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	rows, err := decodeRows(body)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func decodeRows(body []byte) ([]json.RawMessage, error) {
	if !bytes.HasPrefix(body, []byte("PK\x03\x04")) {
		var rows []json.RawMessage
		if err := json.Unmarshal(body, &rows); err != nil {
			return nil, fmt.Errorf("decode array: %w (body starts %q)", err, head(body))
		}
		return rows, nil
	}
	zr, err := zipReader(body)
	if err != nil {
		return nil, fmt.Errorf("open zip: %w", err)
	}
	files := append([]*zip.File(nil), zr.File...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var rows []json.RawMessage
	for _, f := range files {
		if !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Name, err)
		}
		part, err := decodeRows(b)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", f.Name, err)
		}
		rows = append(rows, part...)
	}
	return rows, nil
}

func head(b []byte) []byte { return b[:min(len(b), 80)] }

func jsonStrings(rows []json.RawMessage) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = string(r)
	}
	return out
}

func eventStrings(es []Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.JSON)
	}
	return out
}

func zipReader(b []byte) (*zip.Reader, error) {
	return zip.NewReader(bytes.NewReader(b), int64(len(b)))
}
