package digicertin

import (
	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// KeyDocs documents every key of Keys(), in the same order, with the
// default README gives ("" for required keys and defaults that are not a
// plain value). Fluent Bit ≥ 5.1.1 validates the keys against it.
func KeyDocs() []flb.KeyDoc {
	return []flb.KeyDoc{
		kd("api_key", "", "CertCentral API key (never logged); set this or api_key_file"),
		kd("api_key_file", "", "file holding only the API key"),
		kd("report_id", "", "UUID of a JSON audit-log report (required)"),
		kd("api_base", digicert.DefaultBaseURL, "base URL of the Reports API"),
		kd("mode", string(ModeRun), "run: start a run every interval; follow: ship the report's READY runs"),
		kd("interval", "1h", "how often to poll (at least 1m)"),
		kd("wait_timeout", "10m", "how long a run may stay GENERATING"),
		kd("poll_interval", "10s", "how often the run history is read while waiting"),
		kd("state_file", "", "checkpoint file on persistent storage (required)"),
		kd("start_time", "", "lower bound for the first run (RFC 3339 or a date)"),
		kd("dedup_window", "48h", "how far below the newest shipped event rows are remembered"),
		kd("http_proxy", "", "proxy URL for DigiCert (default: the environment)"),
		kd("tls_ca_file", "", "extra PEM CA bundle"),
		kd("request_timeout", "30s", "timeout of one HTTP request"),
		kd("max_bytes_per_collect", "96M", "bytes handed to Fluent Bit per 1-second callback"),
		kd("buffer_size", "", "bound of the queue between poller and Fluent Bit (default 2 x max_bytes_per_collect)"),
		kd("add_metadata", "off", "on: report and run ids in the record's metadata"),
		kd("download_timeout", "30m", "longest time one download may take"),
		kd("max_inflated_size", "4GiB", "most bytes the ZIP members of one part may inflate to"),
		kd("max_zip_members", "1000", "most entries one downloaded ZIP may have"),
		kd("allow_insecure_http", "off", "on: accept a plain http:// api_base off loopback"),
	}
}

func kd(name, def, desc string) flb.KeyDoc { return flb.KeyDoc{Name: name, Default: def, Desc: desc} }
