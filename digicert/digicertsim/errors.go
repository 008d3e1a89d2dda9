package digicertsim

import (
	"encoding/json"
	"net/http"
)

// Error codes and messages. The first three are documented or observed
// (DigiCert's error reference and observed answers); codes marked "invented" have no public source and only
// need to be well-formed errors.
const (
	codeInvalidKey    = "access_denied|access_denied_invalid_key"
	msgInvalidKey     = "Access denied due to access_denied_invalid_key."
	codePermission    = "access_denied|missing_permission"
	msgPermission     = "Access denied due to missing_permission."
	codeRateLimit     = "request_limit_exceeded"
	msgRateLimit      = "Service unavailable, please limit request volume"
	codeRoute         = "not_found|route"
	msgRoute          = "The requested route was not found."
	codeReportMissing = "not_found|report"     // invented
	codeRunMissing    = "not_found|report_run" // invented
	codeBadRequest    = "bad_request_format"
	codeNotReady      = "invalid_request|report_not_ready"    // invented
	codeInProgress    = "invalid_request|report_run_progress" // invented
	codeInternal      = "internal_error"                      // invented
)

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError writes DigiCert's error envelope {"errors":[{code,message}]}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, struct {
		Errors []apiError `json:"errors"`
	}{[]apiError{{code, msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only simulator-built values are marshalled; this cannot fail.
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
