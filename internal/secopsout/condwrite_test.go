package secopsout

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
)

// noCondWriteS3 is a minimal S3 endpoint that lists an empty prefix and
// answers every PUT carrying If-None-Match with 501 NotImplemented, as S3
// servers without conditional writes do. versitygw supports them, so this
// one fault needs a stand-in; the rest of the start-up check is tested
// against versitygw in test/integration.
type noCondWriteS3 struct {
	mu   sync.Mutex
	puts int
}

func (f *noCondWriteS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Amz-Request-Id", "FAKE")
	w.Header().Set("Content-Type", "application/xml")
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>logs</Name><Prefix>`+
			r.URL.Query().Get("prefix")+`</Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	case r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "":
		f.mu.Lock()
		f.puts++
		f.mu.Unlock()
		w.WriteHeader(http.StatusNotImplemented)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>`+
			`<Message>A header you provided implies functionality that is not implemented</Message><Header>If-None-Match</Header></Error>`)
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `<Error><Code>InvalidRequest</Code><Message>unexpected `+r.Method+`</Message></Error>`)
	}
}

func TestStartupRefusesAServerWithoutConditionalWrites(t *testing.T) {
	fake := &noCondWriteS3{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	staticCredentials(t)
	cfg := testConfig(t, flb.MapConfig{"endpoint": srv.URL, "region": "us-east-1"})
	log := &flbtest.MemoryLogger{}
	o, err := New(context.Background(), cfg, log)
	if err == nil || o != nil {
		t.Fatalf("started against a server without conditional writes (log %s)", log)
	}
	want := "secops_s3: endpoint " + srv.URL + " does not support conditional writes (If-None-Match, NotImplemented): use AWS S3 or a server that does"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want %q", err, want)
	}
	if strings.Contains(err.Error()+log.String(), "secret-never-logged") {
		t.Error("the secret leaked")
	}
	if fake.puts != 1 {
		t.Errorf("%d conditional PUTs, want the one start-up check", fake.puts)
	}
}
