package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// The secops_s3 integration tests run against a real S3 server: the one in
// S3_ENDPOINT (with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or else a
// versitygw they start themselves from $VERSITYGW_BIN or
// ~/.cache/s3bin/versitygw. Without either they skip.

const (
	s3outTestAccessKey = "s3outtestaccess"
	s3outTestSecretKey = "s3outtestsecret-0123456789"
)

// s3outEnv is an S3 server the tests can reach.
type s3outEnv struct {
	endpoint  string
	accessKey string
	secretKey string
	server    *s3outServer // nil when S3_ENDPOINT was given
}

// s3outServer is a versitygw process owned by the test.
type s3outServer struct {
	t    testing.TB
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan error
	// secret is the root secret key it runs with; args go before the
	// backend (e.g. --iam-dir for accounts other than root).
	secret string
	args   []string
}

func versitygwBin() string {
	if b := os.Getenv("VERSITYGW_BIN"); b != "" {
		return b
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "s3bin", "versitygw")
}

// s3outSetup returns a server to test against and puts its credentials in
// the environment, where the SDK's default chain (used by the plugin) finds them.
func s3outSetup(t *testing.T) s3outEnv {
	t.Helper()
	if ep := os.Getenv("S3_ENDPOINT"); ep != "" {
		return s3outEnv{endpoint: ep, accessKey: os.Getenv("AWS_ACCESS_KEY_ID"), secretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
	}
	srv := s3outStartServer(t)
	return s3outEnv{endpoint: "http://" + srv.addr, accessKey: s3outTestAccessKey, secretKey: s3outTestSecretKey, server: srv}
}

// s3outStartServer starts a private versitygw (skipping the test when the
// binary is missing) and sets the credential variables for it.
func s3outStartServer(t *testing.T, opts ...func(*s3outServer)) *s3outServer {
	t.Helper()
	bin := versitygwBin()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no S3 server: S3_ENDPOINT is unset and versitygw is not at %s (set VERSITYGW_BIN, or run `make versitygw`)", bin)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s3outTestAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3outTestSecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	srv := &s3outServer{t: t, bin: bin, dir: t.TempDir(), addr: freeAddr(t), secret: s3outTestSecretKey}
	for _, o := range opts {
		o(srv)
	}
	srv.start()
	t.Cleanup(srv.stop)
	return srv
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs versitygw on srv.dir and srv.addr and waits for its health check.
func (s *s3outServer) start() {
	s.t.Helper()
	args := append([]string{"--port", s.addr, "--health", "/health", "--quiet"}, s.args...)
	s.cmd = exec.Command(s.bin, append(args, "posix", s.dir)...)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s3outTestAccessKey, "ROOT_SECRET_KEY="+s.secret)
	var stderr strings.Builder
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.cmd = nil
			s.t.Fatalf("versitygw exited at start: %v: %s", err, stderr.String())
		default:
		}
		resp, err := http.Get("http://" + s.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	s.t.Fatalf("versitygw not healthy on %s within 15s: %s", s.addr, stderr.String())
}

// stop ends the process by its PID and waits for it.
func (s *s3outServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// s3Client is a plain SDK client for checking what the plugin stored.
func (e s3outEnv) s3Client(t testing.TB) *s3.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(e.accessKey, e.secretKey, "")),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(e.endpoint)
		o.UsePathStyle = true
	})
}

// newBucket creates a bucket unique to the test.
func (e s3outEnv) newBucket(t testing.TB) string {
	t.Helper()
	return e.newBucketNamed(t, strings.ToLower(fmt.Sprintf("s3out-%d-%d", time.Now().UnixNano()%1e9, os.Getpid())))
}

// newBucketNamed creates the bucket name (already owning it is fine).
func (e s3outEnv) newBucketNamed(t testing.TB, name string) string {
	t.Helper()
	_, err := e.s3Client(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "BucketAlreadyOwnedByYou") {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}
