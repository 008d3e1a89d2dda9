package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb/flbtest"
	"github.com/digicert-secops/fluent-bit-digicert/internal/secopsout"
)

// twinAPI is a minimal DigiCert Reports API: one JSON report whose READY
// runs are published by the test.
type twinAPI struct {
	mu   sync.Mutex
	runs map[string]string // run id → JSON body
	ids  []string
}

func (a *twinAPI) publish(id, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runs[id] = body
	a.ids = append(a.ids, id)
}

func (a *twinAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	const report = "twin-report"
	p := strings.TrimPrefix(r.URL.Path, "/reports/v1/report/")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case p == "history":
		var hist []map[string]any
		for i, id := range a.ids {
			hist = append(hist, map[string]any{"report_identifier": report, "report_run_identifier": id, "status": "READY",
				"format": []string{"JSON"}, "report_start_date": "2025-02-06 1" + string(rune('0'+i)) + ":00:00"})
		}
		json.NewEncoder(w).Encode(map[string]any{"page": map[string]int{"total": len(hist)}, "report_history": hist})
	case p == report:
		json.NewEncoder(w).Encode(map[string]any{"report": map[string]any{"report_identifier": report, "report_type": "audit-logs", "format": []string{"JSON"}}})
	case strings.HasPrefix(p, report+"/") && strings.HasSuffix(p, "/json"):
		body, ok := a.runs[strings.TrimSuffix(strings.TrimPrefix(p, report+"/"), "/json")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	default:
		http.NotFound(w, r)
	}
}

// An audit event that genuinely happened twice, its second copy arriving in
// a later run (so a later batch), is stored twice: through the real input
// engine, the secops_s3 output and an S3 server. Without a difference in the
// batch bytes the second batch would get the first one's object key and be
// taken for a retry (HTTP 412) and dropped.
func TestTwinEventAcrossBatchesStoredTwice(t *testing.T) {
	env := s3outSetup(t)
	bucket := env.newBucket(t)
	out, _, err := s3outOutput(t, env, bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := &twinAPI{runs: map[string]string{}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	twin := `{"Date and time (UTC)":"06-Feb-2025 10:00:00","Action":"User SSO login","User name":"Sam Lee"}`
	state := filepath.Join(t.TempDir(), "twin.state")
	cfg, err := digicertin.LoadConfig(flb.MapConfig{
		"api_key": "twin-test-key-0123456789", "report_id": "twin-report", "api_base": srv.URL,
		"mode": "follow", "state_file": state,
	})
	if err != nil {
		t.Fatal(err)
	}
	// ship starts the input (its first poll is immediate), hands every batch
	// to the output as Fluent Bit would, and stops once want rows are out.
	stored := 0
	ship := func(want int) {
		e, err := digicertin.New(cfg, &flbtest.MemoryLogger{})
		if err != nil {
			t.Fatal(err)
		}
		e.Start()
		defer e.Stop(5 * time.Second)
		got := 0
		deadline := time.Now().Add(20 * time.Second)
		for got < want {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d rows came out of the input", got, want)
			}
			recs, id := e.Collect()
			if id == 0 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			rep := out.Flush(context.Background(), recs, "digicert.audit")
			if rep.Status != secopsout.StatusOK || rep.AlreadyStored {
				t.Fatalf("flush: %+v", rep)
			}
			stored++
			got += rep.Records
			e.Release(id)
		}
	}
	api.publish("run-1", "["+twin+"]")
	ship(1)
	api.publish("run-2", "["+twin+","+twin+"]") // the event happened again
	ship(1)
	rows, objects := bucketRows(t, env.s3Client(t), bucket, "")
	if objects != 2 || stored != 2 {
		t.Fatalf("%d objects (%d flushes), want 2", objects, stored)
	}
	if len(rows) != 1 || total(rows) != 2 {
		t.Errorf("bucket rows %v: want the same row twice, body unchanged", rows)
	}
	for k := range rows {
		if strings.Contains(k, "__internal__") || !strings.Contains(k, `"Action"="User SSO login"`) {
			t.Errorf("stored line %s: want the row's own keys only", k)
		}
	}
}
