package secopsout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Status is a flush outcome, numbered as Fluent Bit's FLB_ERROR, FLB_OK and
// FLB_RETRY so the cgo layer can return it unchanged.
type Status int

// Flush outcomes.
const (
	StatusError Status = 0 // permanent: Fluent Bit drops the chunk
	StatusOK    Status = 1 // stored (or already stored)
	StatusRetry Status = 2 // not stored yet: Fluent Bit retries the chunk later
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

// Causes of a failed flush, as counted in Stats and named in log lines.
// Every cause but CauseCorruptChunk is retried: the input's checkpoint has
// already advanced when a chunk reaches the output, so a dropped chunk is
// lost rows, and each of these can succeed once the network recovers or the
// operator fixes what the log line names.
const (
	CauseNetwork      = "network"        // no answer: connection refused or reset, DNS, TLS
	CauseTimeout      = "timeout"        // upload_timeout or a request timeout
	CauseShutdown     = "shutdown"       // cancelled because Fluent Bit is stopping
	CauseThrottled    = "throttled"      // SlowDown, 429, throttling
	CauseServer       = "server_error"   // 5xx and other answers that are worth repeating as is
	CauseConflict     = "conflict"       // a concurrent write or a lost multipart upload
	CauseCredentials  = "credentials"    // missing, rejected or expired credentials
	CauseAccessDenied = "access_denied"  // the credentials may not write there
	CauseNoSuchBucket = "no_such_bucket" // bucket missing (or wrong endpoint)
	CauseKMS          = "kms"            // SSE-KMS key disabled, missing or not usable
	CauseWrongRegion  = "wrong_region"   // the bucket lives in another region
	CauseClockSkew    = "clock_skew"     // this host's clock is off
	CauseNoCondWrites = "no_conditional_writes"
	CauseNotS3        = "not_s3" // an answer without S3's request id: a proxy or gateway page
	CauseRejected     = "rejected"
	// CauseCorruptChunk is the only permanent cause: Fluent Bit handed over
	// bytes that are not msgpack records, and the same bytes come back on
	// every retry, so retrying can never succeed.
	CauseCorruptChunk = "corrupt_chunk"
)

// RetryCauses lists every cause a flush is retried for, for metric labels.
func RetryCauses() []string {
	return []string{CauseNetwork, CauseTimeout, CauseShutdown, CauseThrottled, CauseServer, CauseConflict,
		CauseCredentials, CauseAccessDenied, CauseNoSuchBucket, CauseKMS, CauseWrongRegion, CauseClockSkew,
		CauseNoCondWrites, CauseNotS3, CauseRejected}
}

// ErrorCauses lists every cause a chunk is dropped for, for metric labels.
func ErrorCauses() []string { return []string{CauseCorruptChunk} }

// errAlreadyStored marks a create-only write answered with 412: the object
// exists, written by an earlier attempt of the same chunk.
var errAlreadyStored = errors.New("object already exists")

// Diagnosis says what a flush error means and what to do about it.
type Diagnosis struct {
	Status Status
	Cause  string
	// Operator is set when only a person can fix the cause (credentials,
	// permissions, bucket, region, KMS key, clock, server): logged at
	// error level with the fix, instead of as a transient warning.
	Operator bool
	Code     string // S3 error code, or "HTTP <status>" when there was none
	Region   string // the bucket's region, when S3 named it
}

// target is what the fixes in messages refer to.
type target struct {
	bucket, prefix, region, where, kmsKey string
}

func (c Config) target(region string) target {
	return target{bucket: c.Bucket, prefix: c.Prefix, region: region, where: where(c, region), kmsKey: c.SSEKMSKeyID}
}

// Fix is the advice logged with an operator-fixable failure. It never
// contains a secret: only codes, names and regions.
func (d Diagnosis) Fix(t target) string {
	switch d.Cause {
	case CauseCredentials:
		return fmt.Sprintf("the credentials were rejected (%s): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), profile or role_arn", d.Code)
	case CauseAccessDenied:
		return fmt.Sprintf("access denied writing to s3://%s/%s/ (%s): grant s3:PutObject on arn:aws:s3:::%s/%s/* (see the README's writer policy) and check the bucket policy", t.bucket, t.prefix, d.Code, t.bucket, t.prefix)
	case CauseNoSuchBucket:
		return fmt.Sprintf("bucket %q does not exist at %s (%s): create it, or fix bucket/region/endpoint", t.bucket, t.where, d.Code)
	case CauseKMS:
		return fmt.Sprintf("the KMS key of sse_kms_key_id %q could not be used (%s): enable it, cancel its deletion, or allow this role kms:GenerateDataKey and kms:Decrypt in its key policy", t.kmsKey, d.Code)
	case CauseWrongRegion:
		if d.Region != "" && d.Region != t.region {
			return fmt.Sprintf("bucket %q is in region %s, not %s: set region %s", t.bucket, d.Region, t.region, d.Region)
		}
		return fmt.Sprintf("bucket %q is not in region %s (%s): set region to the bucket's region", t.bucket, t.region, d.Code)
	case CauseClockSkew:
		return fmt.Sprintf("S3 says this host's clock is off (%s): synchronise it (NTP)", d.Code)
	case CauseNoCondWrites:
		return fmt.Sprintf("%s does not support conditional writes (If-None-Match, %s): use AWS S3 or a server that does; without them a retry could store a chunk twice", t.where, d.Code)
	case CauseNotS3:
		if strings.HasPrefix(d.Code, "proxy: ") {
			return fmt.Sprintf("the HTTP proxy refused the connection to S3 (%s): check HTTPS_PROXY/NO_PROXY and the proxy's rules and credentials", strings.TrimPrefix(d.Code, "proxy: "))
		}
		return fmt.Sprintf("%s came from something that is not S3 (no S3 request id; a proxy or gateway page?): check endpoint, HTTPS_PROXY/NO_PROXY and the proxy's rules and credentials", d.Code)
	case CauseRejected:
		return fmt.Sprintf("S3 refused the upload (%s): check sse, sse_kms_key_id, storage_class and key_format against the bucket's settings", d.Code)
	}
	return ""
}

// Classify maps an upload error to a flush outcome.
func Classify(err error) Status { return Diagnose(err).Status }

// credentialCodes are answers meaning the credentials themselves are wrong
// or expired. versitygw answers an unknown access key with XAdminUserNotFound.
var credentialCodes = map[string]bool{
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"InvalidToken":          true,
	"InvalidClientTokenId":  true,
	"XAdminUserNotFound":    true,
	"ExpiredToken":          true,
	"ExpiredTokenException": true,
	"TokenRefreshRequired":  true,
	"InvalidSecurity":       true,
}

// transientCodes are answers that can succeed as they are, a bit later.
var transientCodes = map[string]string{
	"RequestTimeout":                 CauseTimeout, // 400: the connection was too slow
	"ConditionalRequestConflict":     CauseConflict,
	"OperationAborted":               CauseConflict,
	"NoSuchUpload":                   CauseConflict, // complete retried after a lost answer: redo the upload
	"SlowDown":                       CauseThrottled,
	"TooManyRequests":                CauseThrottled,
	"RequestLimitExceeded":           CauseThrottled,
	"ServiceUnavailable":             CauseServer,
	"InternalError":                  CauseServer,
	"IDPCommunicationError":          CauseCredentials,
	"KMS.KMSInternalException":       CauseServer,
	"KMS.DependencyTimeoutException": CauseServer,
	"KMS.KeyUnavailableException":    CauseServer,
}

// operatorCodes are answers only a configuration or permission change fixes.
var operatorCodes = map[string]string{
	"AccessDenied":                       CauseAccessDenied,
	"AllAccessDisabled":                  CauseAccessDenied,
	"AccountProblem":                     CauseAccessDenied,
	"NoSuchBucket":                       CauseNoSuchBucket,
	"PermanentRedirect":                  CauseWrongRegion,
	"TemporaryRedirect":                  CauseWrongRegion,
	"AuthorizationHeaderMalformed":       CauseWrongRegion,
	"IllegalLocationConstraintException": CauseWrongRegion,
	"RequestTimeTooSkewed":               CauseClockSkew,
	"NotImplemented":                     CauseNoCondWrites,
}

// expectingRegion finds the region in S3's AuthorizationHeaderMalformed
// message ("the region 'us-east-1' is wrong; expecting 'eu-west-1'").
var expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// Diagnose says what an upload error means. nil and "already stored" are
// OK; a chunk that is not msgpack is the only permanent error; everything
// else is retried, and Operator marks what needs a person.
func Diagnose(err error) Diagnosis {
	if err == nil || errors.Is(err, errAlreadyStored) {
		return Diagnosis{Status: StatusOK}
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return Diagnosis{Status: StatusError, Cause: CauseCorruptChunk, Operator: true}
	}
	if errors.Is(err, context.Canceled) {
		return Diagnosis{Status: StatusRetry, Cause: CauseShutdown}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Diagnosis{Status: StatusRetry, Cause: CauseTimeout}
	}
	d := Diagnosis{Status: StatusRetry}
	status, answered := responseStatus(err)
	var ae smithy.APIError
	if errors.As(err, &ae) && (!answered || ae.ErrorCode() != http.StatusText(status)) {
		// A body-less or non-XML answer gets its status text as code.
		d.Code = ae.ErrorCode()
	}
	if answered {
		d.Region = responseHeader(err, "X-Amz-Bucket-Region")
	}
	if m := expectingRegion.FindStringSubmatch(errorMessage(err)); m != nil && d.Region == "" {
		d.Region = m[1]
	}
	switch {
	case d.Code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return Diagnosis{Status: StatusOK}
	case credentialCodes[d.Code]:
		d.Cause, d.Operator = CauseCredentials, true
	case strings.Contains(d.Code, "Throttl"):
		d.Cause = CauseThrottled
	case transientCodes[d.Code] != "":
		d.Cause = transientCodes[d.Code]
	case strings.HasPrefix(d.Code, "KMS.") || (d.Code == "AccessDenied" && strings.Contains(errorMessage(err), "kms:")):
		d.Cause, d.Operator = CauseKMS, true
	case operatorCodes[d.Code] != "":
		d.Cause, d.Operator = operatorCodes[d.Code], true
	case !answered:
		d.Cause = CauseNetwork
		if strings.Contains(err.Error(), "credentials") {
			// The SDK could not get credentials (no answer from S3 at all).
			d.Cause, d.Operator = CauseCredentials, true
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			d.Cause = CauseTimeout
		}
		if refused := proxyRefusal(err); refused != "" {
			d.Cause, d.Operator, d.Code = CauseNotS3, true, "proxy: "+refused
		}
	default:
		d.Cause, d.Operator = byStatus(err, status, d.Code != "")
	}
	if d.Code == "" && answered {
		d.Code = fmt.Sprintf("HTTP %d", status)
	}
	return d
}

// byStatus classifies an answer that carried no known S3 error code (an
// unknown one when coded).
func byStatus(err error, status int, coded bool) (cause string, operator bool) {
	fromS3 := responseHeader(err, "X-Amz-Request-Id") != "" || responseHeader(err, "X-Amz-Id-2") != ""
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return CauseThrottled, false
	case status == http.StatusNotImplemented:
		return CauseNoCondWrites, true
	case status >= 500:
		return CauseServer, false
	case status == http.StatusRequestTimeout:
		return CauseTimeout, false
	case status == http.StatusConflict:
		return CauseConflict, false
	case status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect:
		return CauseWrongRegion, true
	case status == http.StatusProxyAuthRequired || status == http.StatusUnauthorized || (!fromS3 && !coded):
		return CauseNotS3, true
	case status == http.StatusForbidden:
		return CauseAccessDenied, true
	case status == http.StatusNotFound:
		return CauseNoSuchBucket, true
	}
	return CauseRejected, true
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

// proxyRefusal returns the status text with which an HTTP proxy refused
// to open the tunnel to S3: Go's transport then fails the request with just
// that text (e.g. "Proxy Authentication Required"). A proxy that cannot be
// reached is a dial error instead, and stays a network failure.
func proxyRefusal(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) || ue.Err == nil {
		return ""
	}
	inner := ue.Err
	if op, ok := inner.(*net.OpError); ok && op.Op == "proxyconnect" && op.Err != nil {
		inner = op.Err // older Go versions wrap it so
	}
	var ne net.Error
	if errors.As(inner, &ne) {
		return ""
	}
	text := inner.Error()
	for code := 400; code < 600; code++ {
		if http.StatusText(code) == text {
			return text
		}
	}
	return ""
}

// responseHeader returns a header of the error's HTTP answer, if any.
func responseHeader(err error, name string) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil {
		return re.Response.Header.Get(name)
	}
	return ""
}

func errorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
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
