package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

var s3outT0 = time.Date(2025, 2, 6, 10, 28, 4, 0, time.UTC)

// s3outRows are rows meant to break naive JSON handling: unicode, escaped
// newlines and quotes, HTML characters and slashes in keys, nested values.
var s3outRows = [][]byte{
	[]byte(`{"Date and time (UTC)":"06-Feb-2025 10:28:04","User ID":"12345","User name":"Zoë \"JD\" Ð'Øe","Action":"Certificate issued","Activity":"line one\nline two\ttab \\ backslash","Division/Container Name":"Sales & <Marketing>","IP address":"203.0.113.7"}`),
	[]byte(`{"Date and time (UTC)":"06-02-2025 10:28:05","Message":"日本語 🙂 ` + "\u2028" + ` sep","nested":{"list":[1,-2.5,"x",null,true,{"deep":[]}],"empty":{}},"n":123456789012}`),
	[]byte(`{"Revocation comments":"","Result":"Success","quote\"key":"v"}`),
}

func s3outChunk(t testing.TB, rows [][]byte, start time.Time) []byte {
	t.Helper()
	var chunk []byte
	for i, row := range rows {
		var err error
		if chunk, err = digicertin.AppendRecord(chunk, start.Add(time.Duration(i)*time.Second), nil, row); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	return chunk
}

// s3outOutput builds the plugin's output for bucket with extra settings.
func s3outOutput(t testing.TB, env s3outEnv, bucket string, extra flb.MapConfig) (*secopsout.Output, *flbtest.MemoryLogger, error) {
	t.Helper()
	set := flb.MapConfig{"bucket": bucket, "endpoint": env.endpoint, "region": "us-east-1", "upload_timeout": "20s"}
	for k, v := range extra {
		set[k] = v
	}
	cfg, err := secopsout.LoadConfig(set)
	if err != nil {
		t.Fatal(err)
	}
	log := &flbtest.MemoryLogger{}
	out, err := secopsout.New(context.Background(), cfg, log)
	if out != nil {
		t.Cleanup(out.Close)
	}
	return out, log, err
}

type s3outObject struct {
	body            []byte // decompressed
	contentType     string
	contentEncoding string
}

// s3outGet reads an object back and gunzips it, requiring a single gzip member.
func s3outGet(t testing.TB, c *s3.Client, bucket, key string) s3outObject {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	br := bytes.NewReader(raw)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", key, err)
	}
	zr.Multistream(false)
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip %s: %v", key, err)
	}
	if br.Len() != 0 {
		t.Errorf("%s: %d bytes after the first gzip member", key, br.Len())
	}
	return s3outObject{body: body, contentType: aws.ToString(out.ContentType), contentEncoding: aws.ToString(out.ContentEncoding)}
}

func s3outList(t testing.TB, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// s3outCheckLines compares the object's NDJSON with the rows: byte for byte,
// and as parsed JSON values.
func s3outCheckLines(t testing.TB, got []byte, rows [][]byte) {
	t.Helper()
	var want bytes.Buffer
	for _, r := range rows {
		want.Write(r)
		want.WriteByte('\n')
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("NDJSON differs from the rows:\ngot  %q\nwant %q", got, want.Bytes())
	}
	lines := bytes.Split(bytes.TrimSuffix(got, []byte("\n")), []byte("\n"))
	if len(lines) != len(rows) {
		t.Fatalf("%d lines, want %d", len(lines), len(rows))
	}
	for i := range rows {
		var a, b any
		if err := json.Unmarshal(lines[i], &a); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		_ = json.Unmarshal(rows[i], &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("line %d: %v, want %v", i, a, b)
		}
	}
}

func TestS3OutStoresGzipNDJSON(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	out, _, err := s3outOutput(t, env, bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	chunk := s3outChunk(t, s3outRows, s3outT0)
	r := out.Flush(context.Background(), chunk, "digicert.audit")
	if r.Status != secopsout.StatusOK {
		t.Fatalf("flush: %v %v", r.Status, r.Err)
	}
	want := "digicert/logs/2025/02/06/102804-digicert-audit-" + secopsout.ContentHash("digicert.audit", chunk) + ".json.gz"
	if !regexp.MustCompile(`^digicert/logs/2025/02/06/102804-digicert-audit-[0-9a-f]{16}\.json\.gz$`).MatchString(r.Key) || r.Key != want {
		t.Errorf("key %q, want %q", r.Key, want)
	}
	c := env.s3Client(t)
	if keys := s3outList(t, c, bucket); len(keys) != 1 || keys[0] != r.Key {
		t.Fatalf("bucket holds %v", keys)
	}
	obj := s3outGet(t, c, bucket, r.Key)
	if obj.contentType != "application/x-ndjson" || obj.contentEncoding != "gzip" {
		t.Errorf("Content-Type %q, Content-Encoding %q", obj.contentType, obj.contentEncoding)
	}
	s3outCheckLines(t, obj.body, s3outRows)
}

func TestS3OutWithoutContentEncodingAndWithDateKey(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	out, _, err := s3outOutput(t, env, bucket, flb.MapConfig{"content_encoding": "off", "json_date_key": "date", "prefix": "p/q/", "key_format": "${prefix}/${tag}/${hash}.json.gz"})
	if err != nil {
		t.Fatal(err)
	}
	chunk := s3outChunk(t, [][]byte{[]byte(`{"a":"b"}`)}, s3outT0)
	r := out.Flush(context.Background(), chunk, "tg")
	if r.Status != secopsout.StatusOK || r.Key != "p/q/tg/"+secopsout.ContentHash("tg", chunk)+".json.gz" {
		t.Fatalf("flush: %+v", r)
	}
	obj := s3outGet(t, env.s3Client(t), bucket, r.Key)
	if obj.contentEncoding != "" || obj.contentType != "application/x-ndjson" {
		t.Errorf("Content-Encoding %q, Content-Type %q", obj.contentEncoding, obj.contentType)
	}
	if string(obj.body) != `{"date":"2025-02-06T10:28:04.000000Z","a":"b"}`+"\n" {
		t.Errorf("body %q", obj.body)
	}
}

func TestS3OutSameChunkTwiceLeavesOneObject(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	out, log, err := s3outOutput(t, env, bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	chunk := s3outChunk(t, s3outRows, s3outT0)
	first := out.Flush(context.Background(), chunk, "t")
	c := env.s3Client(t)
	head1, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(first.Key)})
	if first.Status != secopsout.StatusOK || err != nil {
		t.Fatalf("first: %v %v %v", first.Status, first.Err, err)
	}
	second := out.Flush(context.Background(), chunk, "t")
	if second.Status != secopsout.StatusOK || !second.AlreadyStored || second.Key != first.Key {
		t.Fatalf("second: %+v", second)
	}
	if keys := s3outList(t, c, bucket); len(keys) != 1 {
		t.Errorf("bucket holds %v, want one object", keys)
	}
	head2, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(first.Key)})
	if err != nil || aws.ToString(head2.ETag) != aws.ToString(head1.ETag) || !aws.ToTime(head2.LastModified).Equal(aws.ToTime(head1.LastModified)) {
		t.Errorf("object was rewritten: %v → %v (%v)", head1.ETag, head2.ETag, err)
	}
	if !strings.Contains(log.String(), "object already stored") {
		t.Errorf("log: %s", log)
	}
}

// s3outNoise returns rows of incompressible text totalling about size bytes.
func s3outNoise(t testing.TB, size int) [][]byte {
	raw := make([]byte, 3000)
	var rows [][]byte
	for n := 0; n < size; {
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		row := fmt.Appendf(nil, `{"i":%d,"noise":%q}`, len(rows), base64.StdEncoding.EncodeToString(raw))
		rows = append(rows, row)
		n += len(row)
	}
	return rows
}

func TestS3OutMultipartForBigChunk(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	out, _, err := s3outOutput(t, env, bucket, flb.MapConfig{"multipart_threshold": "5MiB", "multipart_part_size": "5MiB"})
	if err != nil {
		t.Fatal(err)
	}
	rows := s3outNoise(t, 13<<20) // ~10 MiB compressed: two full parts and a last one
	chunk := s3outChunk(t, rows, s3outT0)
	r := out.Flush(context.Background(), chunk, "big")
	if r.Status != secopsout.StatusOK {
		t.Fatalf("flush: %v", r.Err)
	}
	if r.Parts < 2 || r.MaxBuffered > 10<<20 {
		t.Errorf("parts %d, peak buffer %d bytes (bound: one part uploading while the next fills = 10 MiB)", r.Parts, r.MaxBuffered)
	}
	c := env.s3Client(t)
	obj := s3outGet(t, c, bucket, r.Key)
	if obj.contentType != "application/x-ndjson" || obj.contentEncoding != "gzip" {
		t.Errorf("headers %q %q", obj.contentType, obj.contentEncoding)
	}
	s3outCheckLines(t, obj.body, rows)

	// Again: CompleteMultipartUpload meets If-None-Match and 412; the upload is aborted.
	again := out.Flush(context.Background(), chunk, "big")
	if again.Status != secopsout.StatusOK || !again.AlreadyStored {
		t.Errorf("second flush: %+v", again)
	}
	ups, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("open multipart uploads: %v (%v)", ups, err)
	}
	if keys := s3outList(t, c, bucket); len(keys) != 1 {
		t.Errorf("bucket holds %v", keys)
	}
}

func TestS3OutServerDownRetriesAndLosesNothing(t *testing.T) {
	// Always a private server: this test stops and restarts it.
	srv := s3outStartServer(t)
	env := s3outEnv{endpoint: "http://" + srv.addr, accessKey: s3outTestAccessKey, secretKey: s3outTestSecretKey, server: srv}
	bucket := env.newBucket(t)
	out, log, err := s3outOutput(t, env, bucket, flb.MapConfig{"upload_timeout": "15s"})
	if err != nil {
		t.Fatal(err)
	}
	chunkA := s3outChunk(t, s3outRows[:1], s3outT0)
	chunkB := s3outChunk(t, s3outRows[1:], s3outT0.Add(time.Hour))
	a := out.Flush(context.Background(), chunkA, "t")
	if a.Status != secopsout.StatusOK {
		t.Fatalf("A: %v", a.Err)
	}

	srv.stop()
	b := out.Flush(context.Background(), chunkB, "t")
	if b.Status != secopsout.StatusRetry {
		t.Fatalf("B with the server down: %v %v, want RETRY", b.Status, b.Err)
	}
	if !strings.Contains(log.String(), "Fluent Bit will retry") {
		t.Errorf("log: %s", log)
	}

	srv.start() // same directory, same port
	b2 := out.Flush(context.Background(), chunkB, "t")
	if b2.Status != secopsout.StatusOK || b2.AlreadyStored || b2.Key != b.Key {
		t.Fatalf("B after restart: %+v", b2)
	}
	c := env.s3Client(t)
	if keys := s3outList(t, c, bucket); len(keys) != 2 {
		t.Fatalf("bucket holds %v, want A and B", keys)
	}
	s3outCheckLines(t, s3outGet(t, c, bucket, a.Key).body, s3outRows[:1])
	s3outCheckLines(t, s3outGet(t, c, bucket, b2.Key).body, s3outRows[1:])
}

func TestS3OutStartupErrorsAreClear(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	cases := []struct {
		name   string
		bucket string
		env    map[string]string
		extra  flb.MapConfig
		want   string
	}{
		{"missing bucket", "no-such-bucket-s3out", nil, nil, `bucket "no-such-bucket-s3out" does not exist at endpoint ` + env.endpoint},
		{"wrong secret", bucket, map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret-value-xyz"}, nil, "the credentials were rejected (SignatureDoesNotMatch): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"},
		{"unknown access key", bucket, map[string]string{"AWS_ACCESS_KEY_ID": "NOSUCHKEY", "AWS_SECRET_ACCESS_KEY": "wrong-secret-value-xyz"}, nil, "the credentials were rejected (XAdminUserNotFound)"},
		{"wrong region", bucket, nil, flb.MapConfig{"region": "eu-west-1"}, `bucket "` + bucket + `" is not in region eu-west-1 (AuthorizationHeaderMalformed): set region to the bucket's region`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, _, err := s3outOutput(t, env, tc.bucket, tc.extra)
			if err == nil || out != nil {
				t.Fatalf("no error")
			}
			msg := err.Error()
			t.Logf("startup error: %s", msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want %q", msg, tc.want)
			}
			for _, secret := range []string{"wrong-secret-value-xyz", env.secretKey} {
				if secret != "" && strings.Contains(msg, secret) {
					t.Errorf("error reveals a secret: %q", msg)
				}
			}
		})
	}
}

// An operator mistake made while Fluent Bit runs (bucket deleted, keys
// rotated on the server) keeps the chunk: RETRY, an error line with the
// fix, and the same chunk lands once it is fixed.
func TestS3OutOperatorErrorsKeepTheChunkUntilFixed(t *testing.T) {
	srv := s3outStartServer(t)
	env := s3outEnv{endpoint: "http://" + srv.addr, accessKey: s3outTestAccessKey, secretKey: s3outTestSecretKey, server: srv}
	bucket := env.newBucket(t)
	out, log, err := s3outOutput(t, env, bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := env.s3Client(t)
	chunkA := s3outChunk(t, s3outRows[:2], s3outT0)
	chunkB := s3outChunk(t, s3outRows[2:], s3outT0.Add(time.Hour))

	if _, err := c.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	a := out.Flush(context.Background(), chunkA, "t")
	want := `[error] cannot store the chunk until this is fixed; Fluent Bit will retry it: bucket "` + bucket + `" does not exist at endpoint ` + env.endpoint
	if a.Status != secopsout.StatusRetry || !strings.Contains(log.String(), want) {
		t.Fatalf("bucket gone: %v %v, want RETRY and %q in\n%s", a.Status, a.Err, want, log)
	}
	env.newBucketNamed(t, bucket)
	if a2 := out.Flush(context.Background(), chunkA, "t"); a2.Status != secopsout.StatusOK || a2.Key != a.Key {
		t.Fatalf("bucket back: %+v", a2)
	}

	// The server's keys change under the running output.
	srv.stop()
	srv.secret = "rotated-secret-9876543210"
	srv.start()
	b := out.Flush(context.Background(), chunkB, "t")
	want = "[error] cannot store the chunk until this is fixed; Fluent Bit will retry it: the credentials were rejected (SignatureDoesNotMatch): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
	if b.Status != secopsout.StatusRetry || !strings.Contains(log.String(), want) {
		t.Fatalf("keys rotated: %v %v, want RETRY and %q in\n%s", b.Status, b.Err, want, log)
	}
	srv.stop()
	srv.secret = s3outTestSecretKey
	srv.start()
	if b2 := out.Flush(context.Background(), chunkB, "t"); b2.Status != secopsout.StatusOK || b2.Key != b.Key {
		t.Fatalf("keys fixed: %+v", b2)
	}
	if keys := s3outList(t, c, bucket); len(keys) != 2 {
		t.Fatalf("bucket holds %v, want A and B", keys)
	}
	s3outCheckLines(t, s3outGet(t, c, bucket, a.Key).body, s3outRows[:2])
	s3outCheckLines(t, s3outGet(t, c, bucket, b.Key).body, s3outRows[2:])
	if strings.Contains(log.String(), "chunk dropped") || strings.Contains(log.String(), s3outTestSecretKey) {
		t.Errorf("log: %s", log)
	}
}

// S3 down when Fluent Bit starts: the output starts with a warning, and the
// chunk is retried until S3 is back.
func TestS3OutStartsWhileS3IsDownThenDelivers(t *testing.T) {
	srv := s3outStartServer(t)
	env := s3outEnv{endpoint: "http://" + srv.addr, accessKey: s3outTestAccessKey, secretKey: s3outTestSecretKey, server: srv}
	bucket := env.newBucket(t)
	srv.stop()
	out, log, err := s3outOutput(t, env, bucket, nil)
	if err != nil {
		t.Fatalf("S3 briefly down must not stop Fluent Bit: %v", err)
	}
	want := "[warn] cannot reach endpoint " + env.endpoint + ` to check bucket "` + bucket + `"; starting anyway, and chunks are retried until it answers`
	if !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
	chunk := s3outChunk(t, s3outRows, s3outT0)
	r := out.Flush(context.Background(), chunk, "t")
	if r.Status != secopsout.StatusRetry {
		t.Fatalf("flush while down: %v %v", r.Status, r.Err)
	}
	srv.start()
	if r2 := out.Flush(context.Background(), chunk, "t"); r2.Status != secopsout.StatusOK || r2.Key != r.Key {
		t.Fatalf("flush after S3 is back: %+v", r2)
	}
	s3outCheckLines(t, s3outGet(t, env.s3Client(t), bucket, r.Key).body, s3outRows)
}
