package secopsout

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// bucketAPI is what the start-up check calls (*s3.Client has it).
type bucketAPI interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// ProbeName is the last segment of the key the start-up write check aims
// at, under the prefix. Nothing is ever stored there (see probeWrite).
const ProbeName = "secops_s3-startup-check-never-stored"

// where names the S3 service being talked to, for messages.
func where(c Config, region string) string {
	if c.Endpoint != "" {
		return fmt.Sprintf("endpoint %s", c.Endpoint)
	}
	return fmt.Sprintf("AWS S3 in %s", region)
}

// startFatal are the causes that stop Fluent Bit at start: they never fix
// themselves, and finding out at the first flush would be too late.
var startFatal = map[string]bool{
	CauseCredentials: true, CauseNoSuchBucket: true, CauseWrongRegion: true, CauseKMS: true,
	CauseNoCondWrites: true, CauseClockSkew: true, CauseNotS3: true,
}

// checkBucket makes sure, before the first chunk, that the credentials
// work, the bucket exists in this region, the writer may write under the
// prefix and the server supports create-only writes. It asks only what the
// README's least-privilege writer policy allows: a listing scoped to the
// prefix (s3:ListBucket with an s3:prefix condition) and a PutObject under
// the prefix. Errors say what to fix. A failure to reach S3 at all only
// warns: S3 or the network may be briefly down, and chunks are retried
// until it answers.
func checkBucket(ctx context.Context, api bucketAPI, c Config, region string, log flb.Logger) error {
	t := c.target(region)
	_, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(c.Bucket), Prefix: aws.String(listPrefix(c.Prefix)), MaxKeys: aws.Int32(1),
	})
	listDenied := false
	if err != nil {
		d := Diagnose(err)
		switch {
		case d.Cause == CauseNetwork || d.Cause == CauseTimeout:
			log.Warn(fmt.Sprintf("cannot reach %s to check bucket %q; starting anyway, and chunks are retried until it answers "+
				"(if this lasts, check endpoint, region, DNS, TLS and proxy settings)", t.where, c.Bucket), "error", err)
			return nil
		case !d.Operator: // 5xx, throttling: S3 answers, but not now
			log.Warn(fmt.Sprintf("could not check bucket %q at %s (%s); starting anyway, and chunks are retried until it works", c.Bucket, t.where, d.Code), "error", err)
			return nil
		case d.Cause == CauseAccessDenied:
			listDenied = true // the write check below tells whether that matters
		case startFatal[d.Cause]:
			return fmt.Errorf("%s: %s", PluginName, d.Fix(t))
		default:
			return fmt.Errorf("%s: checking bucket %q at %s failed (%s): %w", PluginName, c.Bucket, t.where, d.Code, err)
		}
	}
	if err := probeWrite(ctx, api, c, t, log); err != nil {
		return err
	}
	if listDenied {
		log.Warn(fmt.Sprintf("access denied listing s3://%s/%s at start; writing is allowed, so the output works, but a missing bucket or wrong region is found only at a flush: "+
			"grant s3:ListBucket with the s3:prefix condition of the README's writer policy", c.Bucket, listPrefix(c.Prefix)))
	}
	return nil
}

// listPrefix is the prefix the check lists: the feed's folder.
func listPrefix(prefix string) string {
	if prefix == "" {
		return ""
	}
	return prefix + "/"
}

// probeWrite sends a create-only PutObject, with the output's own headers,
// whose Content-MD5 does not match its (empty) body. S3 checks the
// credentials, the bucket, the write permission and the headers first, and
// then refuses the body with 400 BadDigest, so nothing is stored, nothing
// appears where the feed reads, and no delete permission is needed. A
// server without conditional writes answers 501 NotImplemented to the
// If-None-Match header instead.
func probeWrite(ctx context.Context, api bucketAPI, c Config, t target, log flb.Logger) error {
	wrongMD5 := md5.Sum([]byte("not the body"))
	key := listPrefix(c.Prefix) + ProbeName
	ce := (*string)(nil)
	if c.ContentEncoding {
		ce = aws.String("gzip")
	}
	_, err := api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(c.Bucket),
		Key:                  aws.String(key),
		Body:                 bytes.NewReader(nil),
		ContentLength:        aws.Int64(0),
		ContentMD5:           aws.String(base64.StdEncoding.EncodeToString(wrongMD5[:])),
		ContentType:          aws.String(NDJSONContentType),
		ContentEncoding:      ce,
		IfNoneMatch:          aws.String("*"),
		ServerSideEncryption: types.ServerSideEncryption(c.SSE),
		SSEKMSKeyId:          optional(c.SSEKMSKeyID),
		StorageClass:         types.StorageClass(c.StorageClass),
	})
	if err == nil {
		log.Warn(fmt.Sprintf("the start-up write check stored an empty object at %q although its Content-MD5 was wrong: this server does not verify Content-MD5, "+
			"so it cannot be told whether it honours create-only writes (If-None-Match); delete that object", key))
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "BadDigest" || ae.ErrorCode() == "InvalidDigest") {
		return nil // authorised, bucket found, headers accepted; body refused as intended
	}
	d := Diagnose(err)
	switch {
	case d.Status == StatusOK: // 412: the key exists (stored by a server that ignored the digest before)
		return nil
	case d.Cause == CauseAccessDenied:
		return fmt.Errorf("%s: %s", PluginName, d.Fix(t))
	case startFatal[d.Cause]:
		return fmt.Errorf("%s: %s", PluginName, d.Fix(t))
	}
	log.Warn(fmt.Sprintf("the start-up write check under s3://%s/%s got an unexpected answer (%s); starting anyway, and each flush reports its own errors", c.Bucket, listPrefix(c.Prefix), d.Code), "error", err)
	return nil
}
