package secopsout

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// setStartup shortens the start-up deadline and replaces the config loader
// for one test.
func setStartup(t *testing.T, timeout time.Duration, load func(context.Context, Config, flb.Logger) (aws.Config, error)) {
	t.Helper()
	oldTimeout, oldLoad := startupTimeout, loadConfig
	startupTimeout, loadConfig = timeout, load
	t.Cleanup(func() { startupTimeout, loadConfig = oldTimeout, oldLoad })
}

// staticCredentials gives the SDK's default chain fixed credentials from the
// environment and no shared files, so nothing on the machine is read.
func staticCredentials(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-never-logged")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
}

// closedEndpoint returns an address nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// A host busy enough that loading the configuration (files, a CA bundle)
// takes longer than the whole start-up deadline must still start: the
// deadline is for the network. Before, the credentials then failed with
// "request canceled, context deadline exceeded" and init refused to start
// (seen under valgrind in CI).
func TestStartupDeadlineCountsOnlyTheNetwork(t *testing.T) {
	const timeout = 100 * time.Millisecond
	setStartup(t, timeout, func(ctx context.Context, c Config, log flb.Logger) (aws.Config, error) {
		cfg, err := loadAWSConfig(ctx, c, log)
		time.Sleep(3 * timeout) // a slow host
		return cfg, err
	})
	staticCredentials(t)
	ep := closedEndpoint(t)
	log := &flbtest.MemoryLogger{}
	o, err := New(context.Background(), testConfig(t, flb.MapConfig{"endpoint": ep, "region": "us-east-1"}), log)
	if err != nil || o == nil {
		t.Fatalf("a slow configuration load refused the start: %v", err)
	}
	o.Close()
	// The endpoint is down, so the start warned and went on.
	if !strings.Contains(log.String(), "cannot reach endpoint "+ep) {
		t.Errorf("log:\n%s", log)
	}
}

// blockingProvider stands for a role whose credential service never answers.
type blockingProvider struct{}

func (blockingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	<-ctx.Done()
	return aws.Credentials{}, ctx.Err()
}

// Credentials that do not come in time give an error that says so and where
// to look, not only "context deadline exceeded".
func TestStartupCredentialsTimeout(t *testing.T) {
	setStartup(t, 50*time.Millisecond, func(context.Context, Config, flb.Logger) (aws.Config, error) {
		return aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(blockingProvider{})}, nil
	})
	o, err := New(context.Background(), testConfig(t, flb.MapConfig{"endpoint": closedEndpoint(t)}), &flbtest.MemoryLogger{})
	if err == nil || o != nil {
		t.Fatal("started without credentials")
	}
	want := "secops_s3: no AWS credentials within 50ms: the instance, pod or STS role that provides them did not answer"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
}

// An S3 that does not answer within the deadline is like one that cannot be
// reached: the output warns and starts, and chunks are retried.
func TestStartupSilentS3Warns(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer srv.Close()
	defer close(hang)
	setStartup(t, 200*time.Millisecond, loadAWSConfig)
	staticCredentials(t)
	log := &flbtest.MemoryLogger{}
	o, err := New(context.Background(), testConfig(t, flb.MapConfig{"endpoint": srv.URL, "region": "us-east-1"}), log)
	if err != nil || o == nil {
		t.Fatalf("a silent S3 refused the start: %v", err)
	}
	o.Close()
	if !strings.Contains(log.String(), "cannot reach endpoint "+srv.URL) {
		t.Errorf("log:\n%s", log)
	}
}
