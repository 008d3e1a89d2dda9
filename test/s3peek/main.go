// Command s3peek creates the bucket for a local run and shows what the
// pipeline wrote: the object keys, their headers, and (with -cat) the rows.
//
//	go run ./test/s3peek -endpoint http://127.0.0.1:7070 -bucket digicert-logs -create
//	go run ./test/s3peek -endpoint http://127.0.0.1:7070 -bucket digicert-logs -cat
//
// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/klauspost/compress/gzip"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("S3_ENDPOINT"), "S3-compatible endpoint (empty: AWS)")
	bucket := flag.String("bucket", "digicert-logs", "bucket")
	prefix := flag.String("prefix", "digicert/logs/", "key prefix to list")
	region := flag.String("region", "us-east-1", "region")
	create := flag.Bool("create", false, "create the bucket (an existing one is fine) and exit")
	cat := flag.Bool("cat", false, "print every row (gunzipped NDJSON) instead of the keys")
	waitFor := flag.Int("wait", 0, "wait up to -timeout until at least this many objects exist")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long -wait waits")
	flag.Parse()

	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(*region),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		fail(err)
	}
	cli := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if *endpoint != "" {
			o.BaseEndpoint = aws.String(*endpoint)
			o.UsePathStyle = true
		}
	})

	if *create {
		_, err := cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			fail(fmt.Errorf("create bucket %s: %w", *bucket, err))
		}
		fmt.Printf("bucket %s ready\n", *bucket)
		return
	}

	deadline := time.Now().Add(*timeout)
	for {
		objs, err := list(ctx, cli, *bucket, *prefix)
		if err != nil {
			fail(err)
		}
		if len(objs) >= *waitFor || time.Now().After(deadline) {
			if len(objs) < *waitFor {
				fail(fmt.Errorf("only %d of %d objects after %s", len(objs), *waitFor, *timeout))
			}
			for _, o := range objs {
				if *cat {
					if err := printRows(ctx, cli, *bucket, *o.Key); err != nil {
						fail(err)
					}
					continue
				}
				fmt.Printf("s3://%s/%s\t%d bytes\t%s\n", *bucket, *o.Key, aws.ToInt64(o.Size), o.LastModified.UTC().Format(time.RFC3339))
			}
			return
		}
		time.Sleep(2 * time.Second)
	}
}

func list(ctx context.Context, cli *s3.Client, bucket, prefix string) ([]types.Object, error) {
	var out []types.Object
	p := s3.NewListObjectsV2Paginator(cli, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		out = append(out, page.Contents...)
	}
	return out, nil
}

func printRows(ctx context.Context, cli *s3.Client, bucket, key string) error {
	obj, err := cli.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	zr, err := gzip.NewReader(obj.Body)
	if err != nil {
		return fmt.Errorf("s3://%s/%s is not gzip: %w", bucket, key, err)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	_, err = io.Copy(w, zr)
	return err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "s3peek:", err)
	os.Exit(1)
}
