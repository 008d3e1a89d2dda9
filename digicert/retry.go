package digicert

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Backoff bounds. Transport errors and 5xx start small; 429 starts at 5 s
// because DigiCert says access returns "after seconds to minutes".
const (
	backoffBase     = time.Second
	backoffMax      = 30 * time.Second
	rateBackoffBase = 5 * time.Second
	rateBackoffMax  = 3 * time.Minute
	minRetryAfter   = time.Second
)

// serverBackoff is the wait before retry n (0-based) after a 5xx or a
// transport error: exponential, full range jitter in [d/2, d).
func (c *Client) serverBackoff(n int) time.Duration {
	d := expDelay(backoffBase, backoffMax, n)
	return d/2 + c.jitter(d/2)
}

// rateBackoff is the wait before retry n after a 429 without a usable
// Retry-After: 5 s doubling to 3 min, plus up to 20% jitter so that clients
// sharing a key do not retry in lockstep.
func (c *Client) rateBackoff(n int) time.Duration {
	d := expDelay(rateBackoffBase, rateBackoffMax, n)
	return d + c.jitter(d/5)
}

func expDelay(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// parseRetryAfter accepts only the numeric (seconds) form, as DigiCert does
// not document the header; ok is false when it is absent or not a number.
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return max(time.Duration(n)*time.Second, minRetryAfter), true
}

// ambiguousError marks a failed non-idempotent request (POST …/run) that
// may have reached DigiCert: resending it could start a second run.
type ambiguousError struct{ err error }

func (e *ambiguousError) Error() string { return e.err.Error() }
func (e *ambiguousError) Unwrap() error { return e.err }

// retryableError marks an error found while handling a 2xx answer that a
// new attempt may cure (a corrupt or truncated ZIP body).
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// bodyReadError marks a failure reading a response body (connection reset,
// truncated body, idle timeout): the answer is incomplete, so retryable.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "reading response body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// tlsConfigError turns certificate verification failures into a permanent,
// actionable error; other errors return nil.
func tlsConfigError(op string, err error) error {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verification) {
		return fmt.Errorf("digicert: %s: TLS certificate verification failed (if a proxy inspects TLS, add its CA with tls_ca_file): %w", op, err)
	}
	// An https:// base URL on a plain-HTTP server: a wrong scheme, which no
	// retry fixes (net/http has no sentinel error for it, only the message).
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("digicert: %s: the server answered in plain HTTP to an https:// request: %w", op, err)
	}
	return nil
}
