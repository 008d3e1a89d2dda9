package secopsout

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// fakeBucket answers ListObjectsV2 with list and PutObject with put. With
// policy set it instead enforces the README's least-privilege writer
// policy: a listing only with a prefix under digicert/logs/, writes only
// under digicert/logs/, HeadBucket denied; the probe's body is then
// refused for its wrong Content-MD5, as S3 does.
type fakeBucket struct {
	list, put error
	policy    bool
	listed    []string
	headCalls int
}

func (f *fakeBucket) HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	f.headCalls++
	return nil, headErr(403, nil)
}

func (f *fakeBucket) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.listed = append(f.listed, aws.ToString(in.Prefix))
	if f.policy && !strings.HasPrefix(aws.ToString(in.Prefix), "digicert/logs/") {
		return nil, apiErr(403, "AccessDenied")
	}
	return &s3.ListObjectsV2Output{}, f.list
}

func (f *fakeBucket) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f.policy {
		if !strings.HasPrefix(aws.ToString(in.Key), "digicert/logs/") {
			return nil, apiErr(403, "AccessDenied")
		}
		if aws.ToString(in.ContentMD5) != "" {
			return nil, apiErr(400, "BadDigest")
		}
		return &s3.PutObjectOutput{}, nil
	}
	if f.put == nil {
		return nil, apiErr(400, "BadDigest")
	}
	return nil, f.put
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

// htmlPage is a proxy's 403 page: no S3 request id, status text as code.
func htmlPage(status int) error {
	return headErr(status, nil)
}

func TestCheckBucketPassesWithTheREADMEWriterPolicy(t *testing.T) {
	api := &fakeBucket{policy: true}
	log := &flbtest.MemoryLogger{}
	if err := checkBucket(context.Background(), api, Config{Bucket: "logs", Prefix: DefaultPrefix, ContentEncoding: true}, "eu-west-1", log); err != nil {
		t.Fatal(err)
	}
	if log.String() != "" || api.headCalls != 0 {
		t.Errorf("log %q, HeadBucket calls %d: the least-privilege writer must pass cleanly", log, api.headCalls)
	}
	if len(api.listed) != 1 || api.listed[0] != "digicert/logs/" {
		t.Errorf("listed %q, want the prefix digicert/logs/", api.listed)
	}
}

func TestCheckBucket(t *testing.T) {
	cfg := Config{Bucket: "logs", Prefix: DefaultPrefix, SSEKMSKeyID: "alias/feed"}
	s3Header := http.Header{"X-Amz-Request-Id": {"R1"}}
	cases := []struct {
		name    string
		api     fakeBucket
		wantErr string
		wantWrn string
	}{
		{"exists", fakeBucket{}, "", ""},
		{"no such bucket", fakeBucket{list: apiErr(404, "NoSuchBucket")}, `bucket "logs" does not exist at AWS S3 in eu-west-1 (NoSuchBucket)`, ""},
		{"bad key id", fakeBucket{list: apiErr(403, "InvalidAccessKeyId")}, "the credentials were rejected (InvalidAccessKeyId)", ""},
		{"bad secret", fakeBucket{list: apiErr(403, "SignatureDoesNotMatch")}, "the credentials were rejected (SignatureDoesNotMatch)", ""},
		{"expired token", fakeBucket{list: apiErr(400, "ExpiredToken")}, "the credentials were rejected (ExpiredToken)", ""},
		{"list denied, write allowed", fakeBucket{list: apiErr(403, "AccessDenied")}, "", `access denied listing s3://logs/digicert/logs/ at start; writing is allowed`},
		{"list and write denied", fakeBucket{list: apiErr(403, "AccessDenied"), put: apiErr(403, "AccessDenied")}, "access denied writing to s3://logs/digicert/logs/ (AccessDenied): grant s3:PutObject on arn:aws:s3:::logs/digicert/logs/*", ""},
		{"write denied", fakeBucket{put: apiErr(403, "AccessDenied")}, "access denied writing to s3://logs/digicert/logs/", ""},
		{"other region", fakeBucket{list: headErr(301, http.Header{"X-Amz-Bucket-Region": {"us-west-2"}})}, `bucket "logs" is in region us-west-2, not eu-west-1: set region us-west-2`, ""},
		{"301 without region", fakeBucket{list: headErr(301, s3Header)}, `bucket "logs" is not in region eu-west-1 (HTTP 301)`, ""},
		{"region in the message", fakeBucket{list: apiErrMsg(400, "AuthorizationHeaderMalformed", "the region 'eu-west-1' is wrong; expecting 'ap-south-1'")}, "is in region ap-south-1, not eu-west-1: set region ap-south-1", ""},
		{"proxy page", fakeBucket{list: htmlPage(403)}, "HTTP 403 came from something that is not S3", ""},
		{"proxy auth", fakeBucket{list: htmlPage(407)}, "HTTP 407 came from something that is not S3", ""},
		{"no conditional writes", fakeBucket{put: apiErr(501, "NotImplemented")}, "endpoint does not support conditional writes", ""},
		{"KMS key disabled", fakeBucket{put: apiErr(400, "KMS.DisabledException")}, `the KMS key of sse_kms_key_id "alias/feed" could not be used (KMS.DisabledException)`, ""},
		{"unreachable", fakeBucket{list: noAnswer()}, "", `cannot reach AWS S3 in eu-west-1 to check bucket "logs"; starting anyway`},
		{"S3 busy", fakeBucket{list: apiErr(503, "SlowDown")}, "", `could not check bucket "logs" at AWS S3 in eu-west-1 (SlowDown); starting anyway`},
		{"write check unreachable", fakeBucket{put: noAnswer()}, "", "the start-up write check under s3://logs/digicert/logs/ got an unexpected answer"},
		{"other answer", fakeBucket{list: apiErr(400, "InvalidArgument")}, `checking bucket "logs" at AWS S3 in eu-west-1 failed (InvalidArgument)`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &flbtest.MemoryLogger{}
			c := cfg
			if tc.name == "no conditional writes" {
				c.Endpoint = "endpoint"
			}
			err := checkBucket(context.Background(), &tc.api, c, "eu-west-1", log)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if warning := log.String(); !strings.Contains(warning, tc.wantWrn) || (tc.wantWrn == "") != (warning == "") {
				t.Errorf("log %q, want %q", warning, tc.wantWrn)
			}
		})
	}
}
