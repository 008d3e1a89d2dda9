package s3out

import (
	"context"
	"net/http"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fakeBucket answers HeadBucket with head and ListObjectsV2 with list.
type fakeBucket struct{ head, list error }

func (f fakeBucket) HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return &s3.HeadBucketOutput{}, f.head
}

func (f fakeBucket) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, f.list
}

// headErr is a HEAD failure: a status, no error code (HEAD has no body).
func headErr(status int, header http.Header) error {
	if header == nil {
		header = http.Header{}
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "HeadBucket", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: header}},
			Err: &smithy.GenericAPIError{Code: http.StatusText(status)}},
	}}
}

func TestCheckBucket(t *testing.T) {
	cfg := Config{Bucket: "logs", Prefix: DefaultPrefix}
	cases := []struct {
		name    string
		api     fakeBucket
		wantErr string
		wantWrn string
	}{
		{"exists", fakeBucket{}, "", ""},
		{"no such bucket", fakeBucket{head: headErr(404, nil), list: apiErr(404, "NoSuchBucket")}, `bucket "logs" does not exist at AWS S3 in eu-west-1`, ""},
		{"404 and no code", fakeBucket{head: headErr(404, nil), list: noAnswer()}, "does not exist", ""},
		{"bad key id", fakeBucket{head: headErr(403, nil), list: apiErr(403, "InvalidAccessKeyId")}, "rejected the credentials (InvalidAccessKeyId)", ""},
		{"bad secret", fakeBucket{head: headErr(403, nil), list: apiErr(403, "SignatureDoesNotMatch")}, "rejected the credentials (SignatureDoesNotMatch)", ""},
		{"put-only writer", fakeBucket{head: headErr(403, nil), list: apiErr(403, "AccessDenied")}, "", "access denied when checking bucket \"logs\" (HTTP 403)"},
		{"other region", fakeBucket{head: headErr(301, http.Header{"X-Amz-Bucket-Region": {"us-west-2"}})}, `bucket "logs" is in region us-west-2, not eu-west-1: set region us-west-2`, ""},
		{"301 without region", fakeBucket{head: headErr(301, nil)}, "is not in region eu-west-1 (HTTP 301)", ""},
		{"unreachable", fakeBucket{head: noAnswer()}, `cannot reach AWS S3 in eu-west-1 to check bucket "logs"`, ""},
		{"other answer", fakeBucket{head: headErr(500, nil), list: apiErr(500, "InternalError")}, "failed (HTTP 500 InternalError)", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			warning, err := checkBucket(context.Background(), tc.api, cfg, "eu-west-1")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if !strings.Contains(warning, tc.wantWrn) || (tc.wantWrn == "") != (warning == "") {
				t.Errorf("warning %q, want %q", warning, tc.wantWrn)
			}
		})
	}
}
