package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// These tests run the output as an account other than versitygw's root,
// limited by a bucket policy, so the start-up check meets real permission
// answers. versitygw evaluates bucket policies with s3:prefix conditions.

const (
	s3outWriterKey    = "secopswriter"
	s3outWriterSecret = "secops-writer-secret-0123"
)

// createUser adds an account through versitygw's admin API (a signed PATCH
// /create-user by root).
func (e s3outEnv) createUser(t *testing.T, access, secret string) {
	t.Helper()
	body := fmt.Sprintf("<Account><Access>%s</Access><Secret>%s</Secret><Role>user</Role></Account>", access, secret)
	req, err := http.NewRequest(http.MethodPatch, e.endpoint+"/create-user", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: e.accessKey, SecretAccessKey: e.secretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user: HTTP %d", resp.StatusCode)
	}
}

// readmeWriterPolicy returns the README's writer IAM policy for bucket, as
// a bucket policy for principal: the same statements, each naming it.
func readmeWriterPolicy(t *testing.T, bucket, principal string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\\*\\*Writer\\*\\*[^`]*```json\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README has no writer policy JSON block")
	}
	var policy map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(m[1]), "BUCKET", bucket)), &policy); err != nil {
		t.Fatalf("README writer policy: %v", err)
	}
	for _, st := range policy["Statement"].([]any) {
		st.(map[string]any)["Principal"] = map[string]any{"AWS": []string{principal}}
	}
	return policy
}

func putPolicy(t *testing.T, c *s3.Client, bucket string, policy map[string]any) {
	t.Helper()
	b, _ := json.Marshal(policy)
	if _, err := c.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(b))}); err != nil {
		t.Fatalf("put bucket policy: %v\n%s", err, b)
	}
}

// keepStatements keeps the statements whose Sid is listed.
func keepStatements(policy map[string]any, sids ...string) map[string]any {
	var kept []any
	for _, st := range policy["Statement"].([]any) {
		for _, sid := range sids {
			if st.(map[string]any)["Sid"] == sid {
				kept = append(kept, st)
			}
		}
	}
	return map[string]any{"Version": policy["Version"], "Statement": kept}
}

func TestS3OutStartupCheckWithTheREADMEWriterPolicy(t *testing.T) {
	srv := s3outStartServer(t, func(s *s3outServer) { s.args = []string{"--iam-dir", t.TempDir()} })
	env := s3outEnv{endpoint: "http://" + srv.addr, accessKey: s3outTestAccessKey, secretKey: s3outTestSecretKey, server: srv}
	bucket := env.newBucket(t)
	root := env.s3Client(t)
	env.createUser(t, s3outWriterKey, s3outWriterSecret)
	policy := readmeWriterPolicy(t, bucket, s3outWriterKey)
	putPolicy(t, root, bucket, policy)
	// The plugin takes its credentials from the environment.
	t.Setenv("AWS_ACCESS_KEY_ID", s3outWriterKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3outWriterSecret)

	t.Run("README policy: starts cleanly and writes", func(t *testing.T) {
		out, log, err := s3outOutput(t, env, bucket, nil)
		if err != nil {
			t.Fatalf("start with the README's writer policy: %v", err)
		}
		if strings.Contains(log.String(), "[warn]") || strings.Contains(log.String(), "[error]") {
			t.Errorf("start-up logged a problem: %s", log)
		}
		r := out.Flush(context.Background(), s3outChunk(t, s3outRows, s3outT0), "t")
		if r.Status != secopsout.StatusOK {
			t.Fatalf("flush: %v %v", r.Status, r.Err)
		}
		if keys := s3outList(t, root, bucket); len(keys) != 1 || keys[0] != r.Key {
			t.Errorf("bucket holds %v; the start-up check must store nothing", keys)
		}
		// The output aborts its failed multipart uploads: the policy must allow it.
		writer := s3outEnv{endpoint: env.endpoint, accessKey: s3outWriterKey, secretKey: s3outWriterSecret}.s3Client(t)
		key := aws.String("digicert/logs/abort-check.json.gz")
		up, err := writer.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: key})
		if err != nil {
			t.Fatalf("create multipart upload as the writer: %v", err)
		}
		if _, err := writer.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: key, UploadId: up.UploadId}); err != nil {
			t.Errorf("the README's writer policy does not allow aborting a multipart upload: %v", err)
		}
	})
	t.Run("without the listing grant: starts, warns", func(t *testing.T) {
		putPolicy(t, root, bucket, keepStatements(policy, "WriteFeedObjects"))
		_, log, err := s3outOutput(t, env, bucket, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log.String(), "[warn] access denied listing s3://"+bucket+"/digicert/logs/ at start; writing is allowed") {
			t.Errorf("log: %s", log)
		}
	})
	t.Run("writes allowed elsewhere only: refuses to start", func(t *testing.T) {
		putPolicy(t, root, bucket, readmeWriterPolicy(t, bucket, s3outWriterKey))
		_, _, err := s3outOutput(t, env, bucket, map[string]string{"prefix": "other/place"})
		want := "secops_s3: access denied writing to s3://" + bucket + "/other/place/ (AccessDenied): grant s3:PutObject on arn:aws:s3:::" + bucket + "/other/place/*"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	})
}
