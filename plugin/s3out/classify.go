package s3out

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
)

// Status is a flush outcome, numbered as Fluent Bit's FLB_ERROR, FLB_OK and
// FLB_RETRY so the cgo layer can return it unchanged.
type Status int

// Flush outcomes.
const (
	StatusError Status = 0 // permanent: Fluent Bit drops the chunk
	StatusOK    Status = 1 // stored (or already stored)
	StatusRetry Status = 2 // transient: Fluent Bit retries the chunk later
)

// String returns OK, RETRY or ERROR.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusRetry:
		return "RETRY"
	case StatusError:
		return "ERROR"
	}
	return "UNKNOWN"
}

// errAlreadyStored marks a create-only write answered with 412: the object
// exists, written by an earlier attempt of the same chunk.
var errAlreadyStored = errors.New("object already exists")

// retryCodes are S3/STS error codes that can succeed later even though some
// come with a 4xx status.
var retryCodes = map[string]bool{
	"RequestTimeout":             true, // 400: the connection was too slow
	"RequestTimeTooSkewed":       true, // 403: the clock may be corrected
	"ExpiredToken":               true, // credentials get refreshed
	"ExpiredTokenException":      true,
	"TokenRefreshRequired":       true,
	"ConditionalRequestConflict": true, // 409: concurrent conditional write
	"OperationAborted":           true, // 409
	"NoSuchUpload":               true, // complete retried after a lost response: redo the upload
	"SlowDown":                   true,
	"ServiceUnavailable":         true,
	"InternalError":              true,
	"IDPCommunicationError":      true,
	"RequestLimitExceeded":       true,
	"TooManyRequests":            true,
}

// Classify maps an upload error to a flush outcome. nil and "already
// stored" are OK. Malformed chunks and requests S3 refuses for good (access
// denied, no such bucket, bad request) are permanent errors. Throttling,
// 5xx answers, timeouts and failures with no HTTP answer at all (connection
// refused or reset, DNS, credentials temporarily unavailable) are retried.
func Classify(err error) Status {
	if err == nil || errors.Is(err, errAlreadyStored) {
		return StatusOK
	}
	var de *flb.DecodeError
	if errors.As(err, &de) {
		return StatusError
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return StatusRetry
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if retryCodes[code] || strings.Contains(code, "Throttl") {
			return StatusRetry
		}
		if code == "PreconditionFailed" {
			return StatusOK
		}
	}
	if st, ok := responseStatus(err); ok {
		switch {
		case st == http.StatusPreconditionFailed:
			return StatusOK
		case st >= 500, st == http.StatusTooManyRequests, st == http.StatusRequestTimeout, st == http.StatusConflict:
			return StatusRetry
		default:
			return StatusError
		}
	}
	return StatusRetry
}

// responseStatus returns the HTTP status of the answer S3 gave. ok is false
// when no answer came: the SDK then still wraps the failure (connection
// refused, reset, timeout) in a ResponseError, with status 0.
func responseStatus(err error) (status int, ok bool) {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil && re.HTTPStatusCode() != 0 {
		return re.HTTPStatusCode(), true
	}
	return 0, false
}

// isPreconditionFailed reports a 412 answer to an If-None-Match write.
func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
		return true
	}
	st, ok := responseStatus(err)
	return ok && st == http.StatusPreconditionFailed
}
