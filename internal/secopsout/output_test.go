package secopsout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

var t0 = time.Date(2025, 2, 6, 10, 28, 4, 0, time.UTC)

func testConfig(t testing.TB, set flb.MapConfig) Config {
	t.Helper()
	if set == nil {
		set = flb.MapConfig{}
	}
	set["bucket"] = "logs"
	c, err := LoadConfig(set)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFlushPutObject(t *testing.T) {
	fake := newFakeS3()
	log := &flbtest.MemoryLogger{}
	o := newOutput(testConfig(t, nil), fake, log)
	rows := auditRows(3, t0, 1)
	rows = append(rows, []byte(`{"User name":"Zoë \"Q\" O'Brien","Activity":"a\\b\tc\u0001","emoji":"🙂","nested":{"list":[1,"two",null,true,{"x":-5}]}}`))
	chunk := buildChunk(t, rows, t0)

	r := o.Flush(context.Background(), chunk, "digicert.audit")
	if r.Status != StatusOK || r.Err != nil {
		t.Fatalf("status %v: %v", r.Status, r.Err)
	}
	wantKey := "digicert/logs/2025/02/06/102804-digicert-audit-" + ContentHash("digicert.audit", chunk) + ".json.gz"
	if r.Key != wantKey || r.Records != 4 || r.Parts != 0 {
		t.Errorf("report %+v, want key %s, 4 records, no parts", r, wantKey)
	}
	obj, ok := fake.objects[wantKey]
	if !ok || len(fake.objects) != 1 {
		t.Fatalf("objects: %v", fake.calls)
	}
	if obj.contentType != "application/x-ndjson" || obj.contentEncoding != "gzip" {
		t.Errorf("headers: %q %q", obj.contentType, obj.contentEncoding)
	}
	if got := string(gunzipSingle(t, obj.body)); got != wantNDJSON(rows) {
		t.Errorf("object content:\n%s\nwant:\n%s", got, wantNDJSON(rows))
	}
	if r.NDJSONBytes != int64(len(wantNDJSON(rows))) || r.StoredBytes != int64(len(obj.body)) {
		t.Errorf("sizes %d/%d, want %d/%d", r.NDJSONBytes, r.StoredBytes, len(wantNDJSON(rows)), len(obj.body))
	}
	if !strings.Contains(log.String(), "[debug] stored key="+wantKey) {
		t.Errorf("log: %s", log)
	}
}

func TestFlushSameChunkTwiceStoresOnce(t *testing.T) {
	fake := newFakeS3()
	log := &flbtest.MemoryLogger{}
	o := newOutput(testConfig(t, nil), fake, log)
	chunk := buildChunk(t, auditRows(5, t0, 2), t0)
	first := o.Flush(context.Background(), chunk, "t")
	second := o.Flush(context.Background(), chunk, "t")
	if first.Status != StatusOK || first.AlreadyStored {
		t.Fatalf("first: %+v", first)
	}
	if second.Status != StatusOK || !second.AlreadyStored || second.Key != first.Key {
		t.Fatalf("second: %+v", second)
	}
	if len(fake.objects) != 1 {
		t.Errorf("%d objects, want 1", len(fake.objects))
	}
	if !strings.Contains(log.String(), "[info] object already stored") {
		t.Errorf("log: %s", log)
	}
	// Same records under another tag are another chunk: another key.
	if other := o.Flush(context.Background(), chunk, "t2"); other.Key == first.Key || other.AlreadyStored {
		t.Errorf("other tag: %+v", other)
	}
}

func TestFlushOptions(t *testing.T) {
	fake := newFakeS3()
	cfg := testConfig(t, flb.MapConfig{"content_encoding": "off", "json_date_key": "date", "sse": "AES256", "storage_class": "STANDARD_IA",
		"key_format": "${prefix}/${tag}/${hash}.json.gz", "prefix": "p"})
	o := newOutput(cfg, fake, &flbtest.MemoryLogger{})
	chunk := buildChunk(t, [][]byte{[]byte(`{"a":1}`)}, t0.Add(123456*time.Microsecond))
	r := o.Flush(context.Background(), chunk, "tg")
	if r.Status != StatusOK {
		t.Fatal(r.Err)
	}
	obj := fake.objects["p/tg/"+ContentHash("tg", chunk)+".json.gz"]
	if obj.contentEncoding != "" || obj.sse != "AES256" || obj.storageClass != "STANDARD_IA" {
		t.Errorf("object %+v", obj)
	}
	if got := string(gunzipSingle(t, obj.body)); got != `{"date":"2025-02-06T10:28:04.123456Z","a":1}`+"\n" {
		t.Errorf("line %q", got)
	}

	cfg = testConfig(t, flb.MapConfig{"json_date_key": "ts", "json_date_format": "epoch_ms"})
	o = newOutput(cfg, fake, &flbtest.MemoryLogger{})
	r = o.Flush(context.Background(), chunk, "tg")
	if got := string(gunzipSingle(t, fake.objects[r.Key].body)); got != `{"ts":1738837684123,"a":1}`+"\n" {
		t.Errorf("epoch_ms line %q", got)
	}
}

func TestFlushMultipart(t *testing.T) {
	fake := newFakeS3()
	cfg := testConfig(t, nil)
	cfg.MultipartThreshold, cfg.PartSize = 96<<10, 40<<10 // below S3's minimum: the fake does not care
	o := newOutput(cfg, fake, &flbtest.MemoryLogger{})
	rows := noiseRows(100, 4000, 3) // ~400 KB of incompressible NDJSON
	chunk := buildChunk(t, rows, t0)

	r := o.Flush(context.Background(), chunk, "t")
	if r.Status != StatusOK {
		t.Fatal(r.Err)
	}
	if r.Parts < 3 || len(fake.lastPart) != r.Parts {
		t.Fatalf("parts %d (fake saw %v)", r.Parts, fake.lastPart)
	}
	for i, n := range fake.lastPart[:len(fake.lastPart)-1] {
		if n != int(cfg.PartSize) {
			t.Errorf("part %d is %d bytes, want %d", i+1, n, cfg.PartSize)
		}
	}
	if r.MaxBuffered >= int(cfg.MultipartThreshold+cfg.PartSize) {
		t.Errorf("buffered up to %d bytes; bound is threshold+part = %d", r.MaxBuffered, cfg.MultipartThreshold+cfg.PartSize)
	}
	obj := fake.objects[r.Key]
	if obj.contentType != NDJSONContentType || obj.contentEncoding != "gzip" {
		t.Errorf("headers %+v", obj)
	}
	if got := string(gunzipSingle(t, obj.body)); got != wantNDJSON(rows) {
		t.Error("multipart object content differs from the rows")
	}
	if fake.aborted != 0 || len(fake.uploads) != 0 {
		t.Errorf("aborted %d, open uploads %d", fake.aborted, len(fake.uploads))
	}

	// The same chunk again: Complete answers 412, the upload is aborted, OK.
	again := o.Flush(context.Background(), chunk, "t")
	if again.Status != StatusOK || !again.AlreadyStored || fake.aborted != 1 || len(fake.uploads) != 0 {
		t.Errorf("second flush %+v, aborted %d, open %d", again, fake.aborted, len(fake.uploads))
	}
}

func TestFlushMultipartFailureAbortsThenRetrySucceeds(t *testing.T) {
	fake := newFakeS3()
	cfg := testConfig(t, nil)
	cfg.MultipartThreshold, cfg.PartSize = 64<<10, 32<<10
	o := newOutput(cfg, fake, &flbtest.MemoryLogger{})
	chunk := buildChunk(t, noiseRows(60, 4000, 4), t0)

	fake.failOn["UploadPart"] = apiErr(503, "SlowDown")
	r := o.Flush(context.Background(), chunk, "t")
	if r.Status != StatusRetry || !strings.Contains(r.Err.Error(), "UploadPart 1 of "+r.Key) {
		t.Fatalf("status %v err %v", r.Status, r.Err)
	}
	if fake.aborted != 1 || len(fake.uploads) != 0 || len(fake.objects) != 0 {
		t.Fatalf("aborted %d, open %d, objects %d", fake.aborted, len(fake.uploads), len(fake.objects))
	}
	if r2 := o.Flush(context.Background(), chunk, "t"); r2.Status != StatusOK || r2.Key != r.Key || r2.AlreadyStored {
		t.Fatalf("retry: %+v", r2)
	}
}

func TestFlushErrors(t *testing.T) {
	chunk := buildChunk(t, auditRows(2, t0, 5), t0)
	s3Redirect := http.Header{"X-Amz-Request-Id": {"R"}, "X-Amz-Bucket-Region": {"ap-south-1"}}
	cases := []struct {
		name  string
		fail  error
		cause string
		logAt string
	}{
		// Nothing an operator can fix drops the chunk: each is retried and
		// logged at error level with the fix.
		{"access denied", apiErr(403, "AccessDenied"), CauseAccessDenied, "[error] cannot store the chunk until this is fixed; Fluent Bit will retry it: access denied writing to s3://logs/digicert/logs/ (AccessDenied): grant s3:PutObject on arn:aws:s3:::logs/digicert/logs/*"},
		{"unknown key id", apiErr(403, "InvalidAccessKeyId"), CauseCredentials, "[error] cannot store the chunk until this is fixed; Fluent Bit will retry it: the credentials were rejected (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID"},
		{"wrong secret", apiErr(403, "SignatureDoesNotMatch"), CauseCredentials, "the credentials were rejected (SignatureDoesNotMatch)"},
		{"expired token", apiErr(400, "ExpiredToken"), CauseCredentials, "the credentials were rejected (ExpiredToken)"},
		{"no such bucket", apiErr(404, "NoSuchBucket"), CauseNoSuchBucket, `[error] cannot store the chunk until this is fixed; Fluent Bit will retry it: bucket "logs" does not exist at AWS S3 in us-east-1 (NoSuchBucket): create it`},
		{"KMS key disabled", apiErr(400, "KMS.DisabledException"), CauseKMS, `the KMS key of sse_kms_key_id "" could not be used (KMS.DisabledException): enable it`},
		{"KMS key in a bad state", apiErr(400, "KMS.KMSInvalidStateException"), CauseKMS, "(KMS.KMSInvalidStateException)"},
		{"KMS permission", apiErrMsg(403, "AccessDenied", "User: arn:x is not authorized to perform: kms:GenerateDataKey"), CauseKMS, "(AccessDenied): enable it, cancel its deletion, or allow this role kms:GenerateDataKey"},
		{"wrong region 301", headErr(301, s3Redirect), CauseWrongRegion, `bucket "logs" is in region ap-south-1, not us-east-1: set region ap-south-1`},
		{"proxy page", htmlPage(403), CauseNotS3, "HTTP 403 came from something that is not S3"},
		{"no conditional writes", apiErr(501, "NotImplemented"), CauseNoCondWrites, "does not support conditional writes (If-None-Match, NotImplemented)"},
		{"clock", apiErr(403, "RequestTimeTooSkewed"), CauseClockSkew, "synchronise it (NTP)"},
		{"bad argument", apiErr(400, "InvalidStorageClass"), CauseRejected, "S3 refused the upload (InvalidStorageClass)"},
		// Transient: a warning.
		{"throttling", apiErr(503, "SlowDown"), CauseThrottled, "[warn] upload failed; Fluent Bit will retry"},
		{"network error", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), CauseNetwork, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeS3()
			fake.failOn["PutObject"] = tc.fail
			log := &flbtest.MemoryLogger{}
			o := newOutput(testConfig(t, nil), fake, log)
			r := o.Flush(context.Background(), chunk, "t")
			if r.Status != StatusRetry || len(fake.objects) != 0 || r.Cause != tc.cause {
				t.Errorf("status %v cause %q, %d objects; want RETRY %q", r.Status, r.Cause, len(fake.objects), tc.cause)
			}
			if !strings.Contains(log.String(), tc.logAt) || !strings.Contains(log.String(), "PutObject "+r.Key) {
				t.Errorf("log %q lacks %q", log, tc.logAt)
			}
			// Fixed (the fake fails once): the same chunk is stored.
			if r2 := o.Flush(context.Background(), chunk, "t"); r2.Status != StatusOK || r2.Key != r.Key || len(fake.objects) != 1 {
				t.Errorf("after the fix: %+v", r2)
			}
			st := o.Stats()
			if st.Retries[tc.cause] != 1 || st.ObjectsStored != 1 || len(st.Errors) != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestRepeatedFailureLogsAreLimited(t *testing.T) {
	chunk := buildChunk(t, auditRows(1, t0, 8), t0)
	fake := newFakeS3()
	log := &flbtest.MemoryLogger{}
	o := newOutput(testConfig(t, nil), fake, log)
	now := t0
	o.limit = newLogLimiter(time.Minute, func() time.Time { return now })
	for i := range 30 {
		fake.failOn["PutObject"] = apiErr(403, "AccessDenied")
		now = t0.Add(time.Duration(i) * 5 * time.Second) // 30 retries over 2.5 minutes
		if r := o.Flush(context.Background(), chunk, "t"); r.Status != StatusRetry {
			t.Fatalf("flush %d: %v", i, r.Status)
		}
	}
	lines := strings.Count(log.String(), "cannot store the chunk until this is fixed")
	if lines != 3 || !strings.Contains(log.String(), "similar_lines_not_logged=11") {
		t.Errorf("%d lines logged for 30 failures, want 3 (one a minute) with the count held back:\n%s", lines, log)
	}
	if got := o.Stats().Retries[CauseAccessDenied]; got != 30 {
		t.Errorf("counted %d retries, want 30", got)
	}
}

func TestFlushCorruptAndEmptyChunks(t *testing.T) {
	fake := newFakeS3()
	log := &flbtest.MemoryLogger{}
	o := newOutput(testConfig(t, nil), fake, log)
	good := buildChunk(t, auditRows(1, t0, 6), t0)
	r := o.Flush(context.Background(), good[:len(good)-3], "t")
	if r.Status != StatusError || !strings.Contains(r.Err.Error(), "truncated") || r.Cause != CauseCorruptChunk {
		t.Errorf("corrupt chunk: %v %v", r.Status, r.Err)
	}
	if st := o.Stats(); st.Errors[CauseCorruptChunk] != 1 {
		t.Errorf("stats %+v", st)
	}
	if r.Stored != 0 || r.Key != "" {
		t.Errorf("a one-record chunk damaged in its only record stored %d records", r.Stored)
	}
	if r := o.Flush(context.Background(), nil, "t"); r.Status != StatusOK || r.Records != 0 || r.Key != "" {
		t.Errorf("empty chunk: %+v", r)
	}
	if len(fake.calls) != 0 {
		t.Errorf("S3 was called: %v", fake.calls)
	}
	if !strings.Contains(log.String(), "[error] chunk dropped") {
		t.Errorf("log: %s", log)
	}
}

func TestFlushAfterCloseRetries(t *testing.T) {
	o := newOutput(testConfig(t, nil), newFakeS3(), &flbtest.MemoryLogger{})
	o.Close()
	// The fake ignores contexts, so check the context handed to it instead.
	api := &ctxCheckS3{fakeS3: newFakeS3()}
	o.api = api
	r := o.Flush(context.Background(), buildChunk(t, auditRows(1, t0, 7), t0), "t")
	if r.Status != StatusRetry || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("after Close: %v %v", r.Status, r.Err)
	}
}

// ctxCheckS3 fails PutObject when its context is done, as the SDK does.
type ctxCheckS3 struct{ *fakeS3 }

func (c *ctxCheckS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	return c.fakeS3.PutObject(ctx, in, opts...)
}

func TestFlushConcurrent(t *testing.T) {
	fake := newFakeS3()
	o := newOutput(testConfig(t, nil), fake, &flbtest.MemoryLogger{})
	var wg sync.WaitGroup
	want := map[string]string{}
	var mu sync.Mutex
	for i := range 8 {
		rows := auditRows(20, t0.Add(time.Duration(i)*time.Hour), uint64(100+i))
		chunk := buildChunk(t, rows, t0.Add(time.Duration(i)*time.Hour))
		wg.Go(func() {
			r := o.Flush(context.Background(), chunk, "t")
			if r.Status != StatusOK {
				t.Errorf("flush %d: %v", i, r.Err)
			}
			mu.Lock()
			want[r.Key] = wantNDJSON(rows)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(fake.objects) != 8 {
		t.Fatalf("%d objects", len(fake.objects))
	}
	for k, w := range want {
		if string(gunzipSingle(t, fake.objects[k].body)) != w {
			t.Errorf("%s: content differs", k)
		}
	}
}

// nonMapRecord is a v1 entry [ts, "abc"]: valid msgpack whose body is a
// string, as a broken or foreign producer could hand over.
func nonMapRecord(ts time.Time) []byte {
	sec := uint32(ts.Unix())
	return []byte{0x92, 0xce, byte(sec >> 24), byte(sec >> 16), byte(sec >> 8), byte(sec), 0xa3, 'a', 'b', 'c'}
}

func TestFlushSkipsANonMapRecordAndStoresTheOthers(t *testing.T) {
	rows := auditRows(3, t0, 9)
	var chunk []byte
	chunk = append(chunk, nonMapRecord(t0.Add(-time.Hour))...) // first: must not set the key's time
	chunk = append(chunk, buildChunk(t, rows[:2], t0)...)
	chunk = append(chunk, nonMapRecord(t0)...)
	chunk = append(chunk, buildChunk(t, rows[2:], t0)...)

	fake := newFakeS3()
	log := &flbtest.MemoryLogger{}
	o := newOutput(testConfig(t, nil), fake, log)
	r := o.Flush(context.Background(), chunk, "t")
	if r.Status != StatusOK || r.Records != 5 || r.Skipped != 2 {
		t.Fatalf("flush: %+v", r)
	}
	if !strings.Contains(r.Key, "/2025/02/06/102804-") {
		t.Errorf("key %q: its time must be the first stored record's", r.Key)
	}
	if got := string(gunzipSingle(t, fake.objects[r.Key].body)); got != wantNDJSON(rows) {
		t.Errorf("stored %q, want the three map records", got)
	}
	want := ("[error] records skipped: not a map of fields, so not an audit row the feed could parse; the chunk's other records are stored tag=t skipped=2 records=5 first=\"record 0 at byte 6: body is not a map (msgpack type 0xa3)\"")
	if !strings.Contains(log.String(), want) {
		t.Errorf("log %q lacks %q", log, want)
	}
	if st := o.Stats(); st.RecordsSkipped != 2 || st.Records != 3 || st.ObjectsStored != 1 {
		t.Errorf("stats %+v", st)
	}

	// A chunk of nothing but non-map records stores nothing and says so.
	only := nonMapRecord(t0)
	if r := o.Flush(context.Background(), only, "t"); r.Status != StatusOK || r.Key != "" || r.Skipped != 1 || len(fake.objects) != 1 {
		t.Errorf("only non-map: %+v", r)
	}
}

func TestStatsCountBytesAndAlreadyStored(t *testing.T) {
	fake := newFakeS3()
	o := newOutput(testConfig(t, nil), fake, &flbtest.MemoryLogger{})
	chunk := buildChunk(t, auditRows(4, t0, 10), t0)
	r := o.Flush(context.Background(), chunk, "t")
	o.Flush(context.Background(), chunk, "t")
	st := o.Stats()
	if st.ObjectsStored != 1 || st.AlreadyStored != 1 || st.Records != 4 || st.NDJSONBytes != uint64(r.NDJSONBytes) ||
		st.GzipBytes != uint64(len(fake.objects[r.Key].body)) || st.Uploads != 2 || st.UploadSeconds <= 0 {
		t.Errorf("stats %+v after one store and one 412 (report %+v)", st, r)
	}
	st.Retries = map[string]uint64{"x": 1}
	if len(o.Stats().Retries) != 0 {
		t.Error("Stats shares its maps with the output")
	}
	if len(RetryCauses()) == 0 || len(ErrorCauses()) != 1 {
		t.Error("cause lists")
	}
}

func TestFlushDamagedChunkStoresTheRecordsBeforeTheDamage(t *testing.T) {
	rows := auditRows(4, t0, 11)
	good := buildChunk(t, rows[:3], t0)
	chunk := append(append([]byte{}, good...), buildChunk(t, rows[3:], t0)...)
	chunk = chunk[:len(chunk)-4] // the last record is cut short
	fake := newFakeS3()
	log := &flbtest.MemoryLogger{}
	o := newOutput(testConfig(t, nil), fake, log)
	r := o.Flush(context.Background(), chunk, "t")
	if r.Status != StatusError || r.Cause != CauseCorruptChunk || r.Stored != 3 {
		t.Fatalf("flush: %+v", r)
	}
	if got := string(gunzipSingle(t, fake.objects[r.Key].body)); got != wantNDJSON(rows[:3]) {
		t.Errorf("stored %q, want the three readable records", got)
	}
	if !strings.Contains(log.String(), "[error] chunk dropped (permanent error) key="+r.Key+" records_stored=3 cause=corrupt_chunk") ||
		!strings.Contains(log.String(), "(the 3 records before it were stored)") {
		t.Errorf("log: %s", log)
	}
	if st := o.Stats(); st.ObjectsStored != 1 || st.Records != 3 || st.Errors[CauseCorruptChunk] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFlushWritesOnlyTheBodyNotRecordMetadata(t *testing.T) {
	row := []byte(`{"User name":"a","Action":"x"}`)
	chunk, err := digicertin.AppendRecord(nil, t0, map[string]string{"twin": "2", "run": "abc"}, row)
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeS3()
	r := newOutput(testConfig(t, nil), fake, &flbtest.MemoryLogger{}).Flush(context.Background(), chunk, "t")
	if r.Status != StatusOK {
		t.Fatal(r.Err)
	}
	if got := string(gunzipSingle(t, fake.objects[r.Key].body)); got != string(row)+"\n" {
		t.Errorf("stored %q, want the body only", got)
	}
}
