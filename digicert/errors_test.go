package digicert

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestAPIErrors(t *testing.T) {
	const report = "11111111-2222-3333-4444-555555555555"
	tests := []struct {
		name     string
		status   int
		body     string
		ctype    string
		is       error  // errors.Is target, nil for none
		contains string // in Error()
		code     string
		attempts int // requests the client should make
	}{
		{"invalid key", 403, `{"errors":[{"code":"access_denied|access_denied_invalid_key","message":"Access denied due to access_denied_invalid_key."}]}`, "application/json",
			ErrInvalidKey, "digicert: get report: DigiCert rejected the API key (access_denied_invalid_key): check api_key/api_key_file and that the key is not revoked (access_denied|access_denied_invalid_key, HTTP 403)", "access_denied|access_denied_invalid_key", 1},
		{"401 without body", 401, ``, "", ErrInvalidKey, "DigiCert rejected the API key", "", 1},
		{"missing permission", 403, `{"errors":[{"code":"access_denied|missing_permission","message":"Missing permission"}]}`, "application/json",
			ErrPermission, "use a key of a user with the Administrator role", "access_denied|missing_permission", 1},
		{"403 html from a proxy", 403, `<html><body>Forbidden</body></html>`, "text/html", ErrPermission, "(access_denied): use a key", "", 1},
		{"unknown report", 404, `{"errors":[{"code":"not_found","message":"Not found"}]}`, "application/json",
			ErrReportNotFound, "report " + report + " not found: check report_id (Reports > Report Library)", "not_found", 1},
		{"unknown route", 404, `{"errors":[{"code":"not_found|route","message":"Route not found"}]}`, "application/json",
			nil, "API endpoint not found: check api_base", "not_found|route", 1},
		{"bad request", 400, `{"errors":[{"code":"bad_request_format","message":"Invalid request format"},{"code":"invalid_field","message":"x"}]}`, "application/json",
			nil, "Invalid request format; x (bad_request_format, invalid_field, HTTP 400)", "bad_request_format, invalid_field", 1},
		{"html 400", 400, `<html>Bad</html>`, "text/html", nil, "without a DigiCert error body (a proxy or CDN error page?) (HTTP 400)", "", 1},
		{"empty 5xx burst exhausts retries", 503, ``, "", nil, "(HTTP 503) (gave up after 6 attempts", "", 6},
		{"429 exhausts retries", 429, `{"errors":[{"code":"request_limit_exceeded","message":"Service unavailable, please limit request volume"}]}`, "application/json",
			ErrRateLimited, "rate limit exceeded", "request_limit_exceeded", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n counter
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.add(r)
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			_, err := e.c.Report(context.Background(), report)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if apiErr.Status != tt.status || apiErr.Code != tt.code || apiErr.Op != "get report" {
				t.Errorf("APIError = %+v, want status %d code %q op get report", *apiErr, tt.status, tt.code)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q\nlacks %q", err, tt.contains)
			}
			if got := n.get("GET /reports/v1/report/" + report); got != tt.attempts {
				t.Errorf("%d requests, want %d", got, tt.attempts)
			}
		})
	}
}

func TestStartRunPermissionMessage(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			dcError(w, 403, "access_denied|missing_permission", "Missing permission")
			return
		}
		servePage(w, r, nil, 0)
	}))
	_, err := e.c.StartRun(context.Background(), "rep")
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "run mode needs a key of a user with the Administrator role") || !strings.Contains(err.Error(), "mode follow") {
		t.Fatalf("err = %v, want ErrPermission telling to use an Administrator key or mode follow", err)
	}
}

func TestRunNotFoundOnDownload(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dcError(w, 404, "not_found", "Not found")
	}))
	_, err := e.c.Open(context.Background(), Run{ReportID: "rep", RunID: "old-run", Status: StatusReady})
	if !errors.Is(err, ErrRunNotFound) || !strings.Contains(err.Error(), "run old-run of report rep not found: report files are kept for 90 days") {
		t.Fatalf("err = %v, want ErrRunNotFound", err)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"key " + testKey + " echoed", "key [REDACTED] echoed"},
		{"line\nbreaks\tand\x00nul", "line breaks and nul"},
		{"bad \xff utf8", "bad utf8"},
		{strings.Repeat("é", 400), strings.Repeat("é", 150) + "…"},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in, testKey); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeErrorText(t *testing.T) {
	err := &DecodeError{Part: 1, Member: "a.json", Offset: 42, Err: errors.New("bad")}
	if got := err.Error(); got != `digicert: report part 1, ZIP member "a.json", byte offset 42: bad` {
		t.Errorf("Error() = %q", got)
	}
	err.Member = ""
	if got := err.Error(); got != `digicert: report part 1, byte offset 42: bad` {
		t.Errorf("Error() = %q", got)
	}
	if (&RunFailedError{ReportID: "r", RunID: "x"}).Error() == "" {
		t.Error("empty RunFailedError text")
	}
}
