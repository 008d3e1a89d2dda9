package s3out

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// bucketAPI is what the start-up check calls (*s3.Client has it).
type bucketAPI interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// credentialCodes are answers meaning the credentials themselves are wrong.
// versitygw answers an unknown access key with XAdminUserNotFound.
var credentialCodes = map[string]bool{
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"InvalidToken":          true,
	"InvalidClientTokenId":  true,
	"XAdminUserNotFound":    true,
	"ExpiredToken":          true,
}

// where names the S3 service being talked to, for messages.
func where(c Config, region string) string {
	if c.Endpoint != "" {
		return fmt.Sprintf("endpoint %s", c.Endpoint)
	}
	return fmt.Sprintf("AWS S3 in %s", region)
}

// checkBucket makes sure the bucket exists and the credentials work, and
// turns failures into messages that say what to fix. A writer that is only
// allowed s3:PutObject (the least-privilege policy) cannot look at the
// bucket at all: that is reported as a warning and the output still starts.
func checkBucket(ctx context.Context, api bucketAPI, c Config, region string) (warning string, err error) {
	_, err = api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.Bucket)})
	if err == nil {
		return "", nil
	}
	status, ok := responseStatus(err)
	if !ok {
		return "", fmt.Errorf("%s: cannot reach %s to check bucket %q (network, DNS, TLS or proxy problem; endpoint and region must be right): %w", PluginName, where(c, region), c.Bucket, err)
	}
	if other := bucketRegion(err); other != "" && other != region {
		return "", fmt.Errorf("%s: bucket %q is in region %s, not %s: set region %s", PluginName, c.Bucket, other, region, other)
	}
	if status == http.StatusMovedPermanently {
		return "", fmt.Errorf("%s: bucket %q is not in region %s (HTTP 301): set region to the bucket's region", PluginName, c.Bucket, region)
	}
	// A HEAD answer has no body, so the error code is unknown: ask again
	// with a request whose error answer names it.
	code := probeCode(ctx, api, c)
	switch {
	case code == "NoSuchBucket" || (code == "" && status == http.StatusNotFound):
		return "", fmt.Errorf("%s: bucket %q does not exist at %s: create it, or fix bucket/region/endpoint", PluginName, c.Bucket, where(c, region))
	case credentialCodes[code]:
		return "", fmt.Errorf("%s: %s rejected the credentials (%s): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile or role_arn", PluginName, where(c, region), code)
	case code == "AccessDenied" || (code == "" && status == http.StatusForbidden):
		return fmt.Sprintf("access denied when checking bucket %q (HTTP %d): the credentials work but may not list the bucket; "+
			"that is fine for a writer allowed only s3:PutObject, but the bucket could not be verified. Writes are checked at the first flush", c.Bucket, status), nil
	}
	return "", fmt.Errorf("%s: checking bucket %q at %s failed (HTTP %d %s): %w", PluginName, c.Bucket, where(c, region), status, code, err)
}

// probeCode lists at most one key under the prefix, only to learn the error
// code that HeadBucket could not carry. It returns "" when the probe succeeds
// or gives no code.
func probeCode(ctx context.Context, api bucketAPI, c Config) string {
	_, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(c.Bucket), Prefix: aws.String(c.Prefix + "/"), MaxKeys: aws.Int32(1),
	})
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// bucketRegion returns the region S3 says the bucket lives in, if it said.
func bucketRegion(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}
