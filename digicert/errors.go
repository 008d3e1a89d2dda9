package digicert

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Targets for errors.Is. Errors returned by the client wrap at most one of
// them; the error text says what to change.
var (
	// ErrInvalidKey: DigiCert rejected the API key (HTTP 401, or 403 with
	// access_denied_invalid_key). A configuration error: not retried.
	ErrInvalidKey = errors.New("digicert: API key rejected")
	// ErrPermission: the key is valid but lacks a permission (HTTP 403),
	// e.g. a View Only key calling POST …/run. Not retried.
	ErrPermission = errors.New("digicert: permission denied")
	// ErrReportNotFound: the report id is unknown to DigiCert (HTTP 404).
	ErrReportNotFound = errors.New("digicert: report not found")
	// ErrRunNotFound: the run is unknown (HTTP 404 on a run's download),
	// typically because report files are kept for 90 days only.
	ErrRunNotFound = errors.New("digicert: report run not found")
	// ErrEmptyBody: a run's download answered with no body at all (a
	// READY run's file holds at least an empty JSON array); retry later.
	ErrEmptyBody = errors.New("digicert: empty report body")
	// ErrRateLimited: still rate limited (HTTP 429) when retries ran out.
	ErrRateLimited = errors.New("digicert: rate limited")
	// ErrDownloadTimeout: one download (one part of a run) did not finish
	// within Options.DownloadTimeout; the attempt failed and may be retried.
	ErrDownloadTimeout = errors.New("digicert: download timed out")
	// ErrWaitTimeout: a run did not become READY (or appear in history)
	// before WaitOptions.Timeout.
	ErrWaitTimeout = errors.New("digicert: timed out waiting for report run")
)

// APIError is an HTTP error answer from DigiCert. Code and Message come from
// DigiCert's {"errors":[{"code","message"}]} body when there is one; Message
// is replaced by an actionable text for the errors this client knows.
type APIError struct {
	Status  int    // HTTP status code
	Code    string // DigiCert error code(s), e.g. "access_denied|access_denied_invalid_key"
	Message string // what went wrong and what to change; never contains the API key
	Op      string // the operation, e.g. "list report history"

	kind error // one of the Err* targets, or nil
}

// Error reads "digicert: <op>: <message> (<code>, HTTP <status>)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("digicert: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Message != "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString("unexpected response")
	}
	b.WriteString(" (")
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(", ")
	}
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the matching Err* target, so errors.Is(err, ErrInvalidKey) works.
func (e *APIError) Unwrap() error { return e.kind }

// RunFailedError reports a run that DigiCert marked FAILED.
type RunFailedError struct {
	ReportID, RunID string
}

func (e *RunFailedError) Error() string {
	return fmt.Sprintf("digicert: run %s of report %s FAILED in DigiCert: it produced no file; see Reports > Report Library (the next poll starts or follows another run)", e.RunID, e.ReportID)
}

// DecodeError reports malformed report content: where (part, ZIP member,
// byte offset within that part or member) and what. Rows yielded before the
// error stay valid.
type DecodeError struct {
	Part   int    // part of a split run, 0-based
	Member string // ZIP member name; "" for a plain JSON body
	Offset int64  // byte offset in the (decompressed) part or member
	Err    error
}

func (e *DecodeError) Error() string {
	if e.Member != "" {
		return fmt.Sprintf("digicert: report part %d, ZIP member %q, byte offset %d: %v", e.Part, e.Member, e.Offset, e.Err)
	}
	return fmt.Sprintf("digicert: report part %d, byte offset %d: %v", e.Part, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// errorBody is DigiCert's documented error shape.
type errorBody struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// parseErrorBody extracts code and message from an error answer. Bodies that
// are not DigiCert JSON (HTML from a proxy, empty) yield empty strings.
func parseErrorBody(body []byte) (code, message string) {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil || len(eb.Errors) == 0 {
		return "", ""
	}
	codes := make([]string, 0, len(eb.Errors))
	msgs := make([]string, 0, len(eb.Errors))
	for _, e := range eb.Errors {
		if e.Code != "" {
			codes = append(codes, e.Code)
		}
		if e.Message != "" {
			msgs = append(msgs, e.Message)
		}
	}
	return strings.Join(codes, ", "), strings.Join(msgs, "; ")
}

// sanitize makes server-provided text safe to log: the API key is removed
// (a server or proxy may echo request headers), control characters are
// dropped and the length is bounded.
func sanitize(s string, key Secret) string {
	if key != "" {
		s = strings.ReplaceAll(s, string(key), redacted)
	}
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// target says what an API error was about, for choosing a message.
type target struct {
	op       string
	reportID string
	runID    string
	startRun bool // POST …/run: permission errors mean "run mode needs an Administrator key"
}

// newAPIError classifies an HTTP error answer into an APIError with an
// actionable message.
func newAPIError(t target, status int, body []byte, key Secret) *APIError {
	code, msg := parseErrorBody(body)
	code, msg = sanitize(code, key), sanitize(msg, key)
	e := &APIError{Status: status, Code: code, Message: msg, Op: t.op}
	lcode := strings.ToLower(code)
	switch {
	case status == 401 || strings.Contains(lcode, "invalid_key"):
		e.kind = ErrInvalidKey
		e.Message = "DigiCert rejected the API key (access_denied_invalid_key): check api_key/api_key_file and that the key is not revoked"
	case status == 403 && t.startRun:
		e.kind = ErrPermission
		e.Message = "the API key may not start report runs (missing_permission): run mode needs a key of a user with the Administrator role and without the View Only restriction; or use mode follow, which only reads runs started by the report's schedule"
	case status == 403:
		e.kind = ErrPermission
		e.Message = "the API key lacks permission for the Report Library (" + orDefault(code, "access_denied") + "): use a key of a user with the Administrator role and check that Report Library is enabled for the account"
	case status == 404 && strings.Contains(lcode, "route"):
		e.Message = "API endpoint not found: check api_base (default " + DefaultBaseURL + ")"
	case status == 404 && t.runID != "" && strings.HasSuffix(lcode, "|report"):
		e.kind = ErrReportNotFound
		e.Message = fmt.Sprintf("report %s not found: check report_id (Reports > Report Library)", t.reportID)
	case status == 404 && t.runID != "":
		e.kind = ErrRunNotFound
		e.Message = fmt.Sprintf("run %s of report %s not found: report files are kept for 90 days, or report_id is wrong", t.runID, t.reportID)
	case status == 404 && t.reportID != "":
		e.kind = ErrReportNotFound
		e.Message = fmt.Sprintf("report %s not found: check report_id (Reports > Report Library)", t.reportID)
	case status == 404:
		e.Message = "API endpoint not found: check api_base (default " + DefaultBaseURL + ")"
	case status == 429:
		e.kind = ErrRateLimited
		e.Message = "DigiCert rate limit exceeded (request_limit_exceeded): if it lasts, poll less often, or use a separate API key per collector"
	case msg == "":
		e.Message = "unexpected HTTP answer without a DigiCert error body (a proxy or CDN error page?)"
	}
	return e
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
