package secopsout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// apiErr builds an error shaped like the SDK's: an operation error wrapping
// an HTTP response error wrapping the service's coded error.
func apiErr(status int, code string) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: "test"}
	if code == "" {
		inner = errors.New("http error")
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}}, Err: inner},
	}}
}

// apiErrMsg is apiErr with a message.
func apiErrMsg(status int, code, msg string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
			Err: &smithy.GenericAPIError{Code: code, Message: msg}},
	}}
}

// noAnswer is what the SDK returns when the request could not be sent: a
// ResponseError with status 0 around the dial error.
func noAnswer() error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{}},
			Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}},
	}}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Status
	}{
		{"nil", nil, StatusOK},
		{"already stored", fmt.Errorf("PutObject k: %w", errAlreadyStored), StatusOK},
		{"412", apiErr(412, "PreconditionFailed"), StatusOK},
		{"corrupt chunk", fmt.Errorf("record 3: %w", &DecodeError{Reason: "truncated"}), StatusError},
		{"timeout", fmt.Errorf("put: %w", context.DeadlineExceeded), StatusRetry},
		{"cancelled at exit", context.Canceled, StatusRetry},
		{"connection refused", &smithy.OperationError{Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, StatusRetry},
		{"no answer, as the SDK wraps it", noAnswer(), StatusRetry},
		{"credentials unavailable", errors.New("get identity: failed to refresh cached credentials"), StatusRetry},
		{"503 SlowDown", apiErr(503, "SlowDown"), StatusRetry},
		{"500", apiErr(500, "InternalError"), StatusRetry},
		{"502 no code", apiErr(502, ""), StatusRetry},
		{"429", apiErr(429, "TooManyRequests"), StatusRetry},
		{"400 RequestTimeout", apiErr(400, "RequestTimeout"), StatusRetry},
		{"400 ExpiredToken", apiErr(400, "ExpiredToken"), StatusRetry},
		{"403 clock skew", apiErr(403, "RequestTimeTooSkewed"), StatusRetry},
		{"409 conditional conflict", apiErr(409, "ConditionalRequestConflict"), StatusRetry},
		{"404 NoSuchUpload", apiErr(404, "NoSuchUpload"), StatusRetry},
		{"KMS throttling", apiErr(400, "KMS.ThrottlingException"), StatusRetry},
		// An operator can fix each of these: the chunk is kept and retried.
		{"403 AccessDenied", apiErr(403, "AccessDenied"), StatusRetry},
		{"403 bad key", apiErr(403, "InvalidAccessKeyId"), StatusRetry},
		{"403 bad secret", apiErr(403, "SignatureDoesNotMatch"), StatusRetry},
		{"400 invalid token", apiErr(400, "InvalidToken"), StatusRetry},
		{"404 NoSuchBucket", apiErr(404, "NoSuchBucket"), StatusRetry},
		{"404 versitygw unknown key", apiErr(404, "XAdminUserNotFound"), StatusRetry},
		{"KMS key disabled", apiErr(400, "KMS.DisabledException"), StatusRetry},
		{"KMS key pending deletion", apiErr(400, "KMS.KMSInvalidStateException"), StatusRetry},
		{"KMS key missing", apiErr(400, "KMS.NotFoundException"), StatusRetry},
		{"400 InvalidArgument", apiErr(400, "InvalidArgument"), StatusRetry},
		{"301 wrong region", apiErr(301, ""), StatusRetry},
		{"301 PermanentRedirect", apiErr(301, "PermanentRedirect"), StatusRetry},
		{"400 region in the signature", apiErr(400, "AuthorizationHeaderMalformed"), StatusRetry},
		{"proxy 403 page", htmlPage(403), StatusRetry},
		{"proxy 401 page", htmlPage(401), StatusRetry},
		{"501 no conditional writes", apiErr(501, "NotImplemented"), StatusRetry},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestStatusMatchesFluentBit(t *testing.T) {
	// flb_output.h: FLB_ERROR 0, FLB_OK 1, FLB_RETRY 2.
	if StatusError != 0 || StatusOK != 1 || StatusRetry != 2 {
		t.Fatal("Status values must equal Fluent Bit's return codes")
	}
	if StatusRetry.String() != "RETRY" || Status(7).String() != "UNKNOWN" {
		t.Error("String()")
	}
}

// proxyRefused is how the SDK reports an HTTP proxy answering CONNECT with
// status: no answer from S3, around the error of Go's own transport, which
// is taken from a real request through a proxy that answers so.
func proxyRefused(t *testing.T, status int) error {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer proxy.Close()
	u, _ := url.Parse(proxy.URL)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
	_, err := c.Get("https://s3.example.invalid/b/k")
	if err == nil {
		t.Fatal("the proxy let the request through")
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{}}, Err: err},
	}}
}

func TestDiagnoseProxy(t *testing.T) {
	d := Diagnose(proxyRefused(t, http.StatusProxyAuthRequired))
	fix := d.Fix(target{})
	if d.Cause != CauseNotS3 || !d.Operator || fix != "the HTTP proxy refused the connection to S3 (Proxy Authentication Required): check HTTPS_PROXY/NO_PROXY and the proxy's rules and credentials" {
		t.Errorf("%+v: %s", d, fix)
	}
	// A proxy that cannot be reached is a network failure like any other.
	down := &url.Error{Op: "Put", URL: "https://s3/b", Err: &net.OpError{Op: "proxyconnect", Net: "tcp", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}}
	if d := Diagnose(down); d.Cause != CauseNetwork || d.Operator {
		t.Errorf("proxy down: %+v", d)
	}
}
