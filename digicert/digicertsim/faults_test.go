package digicertsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawGet sends one GET on a fresh connection (so net/http does not retry a
// reset on a reused connection) and returns the response or the error.
func (h *harness) rawGet(path string, timeout time.Duration) (*http.Response, []byte, error) {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	req.Header.Set("X-DC-DEVKEY", testKey)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestStatusFaults(t *testing.T) {
	const hist = "/reports/v1/report/history"
	tests := []struct {
		name       string
		fault      Fault
		statuses   []int // consecutive history requests
		retryAfter string
		body       string // of the first response, when set
	}{
		{"429 without Retry-After", Fault{Kind: FaultRateLimit}, []int{429, 200}, "",
			`{"errors":[{"code":"request_limit_exceeded","message":"Service unavailable, please limit request volume"}]}`},
		{"429 with Retry-After", Fault{Kind: FaultRateLimit, RetryAfter: "2"}, []int{429, 200}, "2", ""},
		{"502 burst", Fault{Kind: FaultStatus, Status: 502, Times: 3}, []int{502, 502, 502, 200}, "", ""},
		{"500 json", Fault{Kind: FaultStatus, Status: 500}, []int{500, 200}, "",
			`{"errors":[{"code":"internal_error","message":"An internal error occurred."}]}`},
		{"targeted elsewhere", Fault{Kind: FaultStatus, Path: "/json"}, []int{200, 200}, "", ""},
		{"targeted by glob", Fault{Kind: FaultStatus, Path: "/reports/v1/*/history", Method: "GET"}, []int{503, 200}, "", ""},
		{"other method", Fault{Kind: FaultStatus, Method: "POST"}, []int{200}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.sim.Inject(tc.fault)
			for i, want := range tc.statuses {
				st, hdr, b := h.get(hist)
				if st != want {
					t.Fatalf("request %d: %d, want %d", i, st, want)
				}
				if i == 0 && hdr.Get("Retry-After") != tc.retryAfter {
					t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
				}
				if i == 0 && tc.body != "" && string(b) != tc.body {
					t.Fatalf("body %s", b)
				}
			}
			faulted := 0
			for _, l := range h.sim.Requests() {
				if l.Fault != "" {
					faulted++
				}
			}
			if want := countNot200(tc.statuses); faulted != want {
				t.Fatalf("%d requests logged with a fault, want %d", faulted, want)
			}
		})
	}
}

func countNot200(s []int) int {
	n := 0
	for _, x := range s {
		if x != 200 {
			n++
		}
	}
	return n
}

func TestBodyFaults(t *testing.T) {
	cfg := Config{EventsPerHour: 300, Backlog: 4 * time.Hour}
	tests := []struct {
		name    string
		fault   Fault
		path    string // json or download query
		wantErr bool   // transport/read error expected
		check   func(t *testing.T, b []byte, full []byte)
	}{
		{"reset", Fault{Kind: FaultReset, Path: "/json"}, "json", true, nil},
		{"truncated json", Fault{Kind: FaultTruncate, Path: "/json"}, "json", false, func(t *testing.T, b, full []byte) {
			var rows []json.RawMessage
			if len(b) != len(full)/2 || json.Unmarshal(b, &rows) == nil {
				t.Fatalf("body %d of %d bytes, decodes: %v", len(b), len(full), json.Unmarshal(b, &rows) == nil)
			}
		}},
		{"truncated zip", Fault{Kind: FaultTruncate, Path: "/download", After: 1000}, "download?report_format=ZIP", false, func(t *testing.T, b, full []byte) {
			if len(b) != 1000 || !bytes.Equal(b, full[:1000]) {
				t.Fatalf("body %d bytes", len(b))
			}
			if _, err := zipReader(b); err == nil {
				t.Fatal("truncated zip opens")
			}
		}},
		{"aborted body", Fault{Kind: FaultTruncate, Abort: true}, "json", true, nil},
		{"slow body", Fault{Kind: FaultSlowBody, Delay: time.Millisecond}, "json", false, func(t *testing.T, b, full []byte) {
			if !bytes.Equal(b, full) {
				t.Fatal("slow body differs")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfg)
			id := h.post(DefaultReportID)
			path := fmt.Sprintf("/reports/v1/report/%s/%s/%s", DefaultReportID, id, tc.path)
			h.sim.Inject(tc.fault)
			resp, b, err := h.rawGet(path, 10*time.Second)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			_, _, full := h.get(path)
			if tc.check != nil {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				tc.check(t, b, full)
			}
			if h.sim.PendingFaults() != 0 {
				t.Fatal("fault not consumed")
			}
			// The faulty request is logged when its handler returns, which
			// may be after the second request's: look for it, not at a place.
			logged := func() bool {
				for _, l := range h.sim.Requests() {
					if l.Fault == tc.fault.Kind.String() {
						return true
					}
				}
				return false
			}
			for end := time.Now().Add(2 * time.Second); !logged() && time.Now().Before(end); {
				time.Sleep(5 * time.Millisecond)
			}
			if !logged() {
				t.Fatalf("no request logged with fault %q: %+v", tc.fault.Kind, h.sim.Requests())
			}
		})
	}
}

func TestDelayFault(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.Inject(Fault{Kind: FaultDelay, Delay: time.Minute})
	_, _, err := h.rawGet("/reports/v1/report/history", 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("err %v, want a client timeout", err)
	}
}
