package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// fakeSTS answers AssumeRole with fixed credentials and records the
// requests. It returns no session token: versitygw rejects any token
// (InvalidToken), as it has no STS of its own.
type fakeSTS struct {
	mu       sync.Mutex
	requests []url.Values
	ak, sk   string
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "AssumeRole" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.PostForm)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
		`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken></SessionToken>`+
		`<Expiration>%s</Expiration></Credentials>`+
		`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/writer/fluent-bit-secops-s3</Arn><AssumedRoleId>AROAEXAMPLE:fluent-bit-secops-s3</AssumedRoleId></AssumedRoleUser>`+
		`</AssumeRoleResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		f.ak, f.sk, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

// TestS3OutAssumesRole checks role_arn and external_id: the base
// credentials are wrong for the S3 server, and only the ones STS hands out
// work, so a stored object proves the assumed role was used.
func TestS3OutAssumesRole(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	sts := &fakeSTS{ak: env.accessKey, sk: env.secretKey}
	srv := httptest.NewServer(sts)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "BASEKEYNOTFORS3")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret-not-for-s3")

	out, log, err := s3outOutput(t, env, bucket, flb.MapConfig{
		"role_arn": "arn:aws:iam::123456789012:role/writer", "external_id": "ext-42",
	})
	if err != nil {
		t.Fatalf("New with role_arn: %v", err)
	}
	r := out.Flush(context.Background(), s3outChunk(t, s3outRows, s3outT0), "t")
	if r.Status != secopsout.StatusOK {
		t.Fatalf("flush: %v", r.Err)
	}
	s3outCheckLines(t, s3outGet(t, env.s3Client(t), bucket, r.Key).body, s3outRows)

	sts.mu.Lock()
	defer sts.mu.Unlock()
	if len(sts.requests) == 0 {
		t.Fatal("STS was not called")
	}
	req := sts.requests[0]
	for k, want := range map[string]string{"RoleArn": "arn:aws:iam::123456789012:role/writer", "ExternalId": "ext-42", "RoleSessionName": "fluent-bit-secops-s3"} {
		if got := req.Get(k); got != want {
			t.Errorf("AssumeRole %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(log.String(), "credentials=AssumeRoleProvider") {
		t.Errorf("ready line should name the credential source:\n%s", log)
	}
	if strings.Contains(log.String(), env.secretKey) || strings.Contains(log.String(), "base-secret-not-for-s3") {
		t.Error("a secret reached the log")
	}
}
