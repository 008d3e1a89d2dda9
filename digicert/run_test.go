package digicert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// runServer is a fake Reports API for run tests: history from h, POST …/run
// answered by onPost, onHistory called before each history GET (the n-th,
// from 1) so that runs can progress over polls.
type runServer struct {
	h         history
	mu        sync.Mutex
	posts     int
	gets      int
	onPost    func(s *runServer, n int, w http.ResponseWriter)
	onHistory func(s *runServer, n int)
}

func (s *runServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/run"):
		if got := readBody(r); got != "{}" {
			http.Error(w, "body "+got, 400)
			return
		}
		s.mu.Lock()
		s.posts++
		n := s.posts
		s.mu.Unlock()
		s.onPost(s, n, w)
	case r.URL.Path == "/reports/v1/report/history":
		s.mu.Lock()
		s.gets++
		n := s.gets
		s.mu.Unlock()
		if s.onHistory != nil {
			s.onHistory(s, n)
		}
		s.h.serve(w, r)
	default:
		http.NotFound(w, r)
	}
}

func readBody(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 64)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func (s *runServer) postCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// startRunWith answers a POST by adding a GENERATING run id; with body the
// id is also in the answer.
func startRunWith(id string, body bool) func(*runServer, int, http.ResponseWriter) {
	return func(s *runServer, n int, w http.ResponseWriter) {
		s.h.add(rec("rep", id, StatusGenerating, "2025-02-06 10:00:00"))
		if body {
			writeJSON(w, 201, map[string]string{"report_run_identifier": id})
			return
		}
		w.WriteHeader(200)
	}
}

var fastWait = WaitOptions{PollInterval: 10 * time.Second, Timeout: 2 * time.Minute}

func TestStartRun(t *testing.T) {
	old := rec("rep", "old", StatusReady, "2025-02-05 10:00:00")
	tests := []struct {
		name     string
		onPost   func(*runServer, int, http.ResponseWriter)
		want     []string
		wantErr  string
		is       error
		posts    int
		extraOld []map[string]any
	}{
		{"id in the answer", startRunWith("new", true), []string{"new"}, "", nil, 1, nil},
		{"empty answer: set difference", startRunWith("new", false), []string{"new"}, "", nil, 1, nil},
		{"answer not JSON", func(s *runServer, n int, w http.ResponseWriter) {
			s.h.add(rec("rep", "new", StatusGenerating, "2025-02-06 10:00:00"))
			w.Write([]byte("<html>ok</html>"))
		}, []string{"new"}, "", nil, 1, nil},
		{"scheduled run starts at the same time", func(s *runServer, n int, w http.ResponseWriter) {
			s.h.add(rec("rep", "sched", StatusGenerating, "2025-02-06 09:59:59"), rec("rep", "new", StatusGenerating, "2025-02-06 10:00:00"), rec("other", "x", StatusGenerating, "2025-02-06 10:00:00"))
			w.WriteHeader(204)
		}, []string{"sched", "new"}, "", nil, 1, nil},
		{"5xx but the run started", func(s *runServer, n int, w http.ResponseWriter) {
			s.h.add(rec("rep", "new", StatusGenerating, "2025-02-06 10:00:00"))
			w.WriteHeader(502)
		}, []string{"new"}, "", nil, 1, nil},
		{"5xx and no run: POST again", func(s *runServer, n int, w http.ResponseWriter) {
			if n == 1 {
				w.WriteHeader(503)
				return
			}
			startRunWith("new", true)(s, n, w)
		}, []string{"new"}, "", nil, 2, nil},
		{"connection reset after sending, no run: POST again", func(s *runServer, n int, w http.ResponseWriter) {
			if n == 1 {
				resetConn(w)
				return
			}
			startRunWith("new", true)(s, n, w)
		}, []string{"new"}, "", nil, 2, nil},
		{"5xx forever", func(s *runServer, n int, w http.ResponseWriter) { w.WriteHeader(500) }, nil, "gave up after 6 attempts", nil, 6, nil},
		{"429 then accepted", func(s *runServer, n int, w http.ResponseWriter) {
			if n == 1 {
				status(429)(w, nil)
				return
			}
			startRunWith("new", true)(s, n, w)
		}, []string{"new"}, "", nil, 2, nil},
		{"refused while a run is generating", func(s *runServer, n int, w http.ResponseWriter) {
			dcError(w, 409, "report_generating", "A run is already in progress")
		}, []string{"busy"}, "", nil, 1, []map[string]any{rec("rep", "busy", StatusGenerating, "2025-02-06 09:00:00")}},
		{"refused for another reason", func(s *runServer, n int, w http.ResponseWriter) {
			dcError(w, 400, "bad_request_format", "Invalid")
		}, nil, "Invalid (bad_request_format, HTTP 400)", nil, 1, nil},
		{"View Only key", func(s *runServer, n int, w http.ResponseWriter) {
			dcError(w, 403, "access_denied|missing_permission", "Missing permission")
		}, nil, "mode follow", ErrPermission, 1, nil},
		{"accepted but never in history", func(s *runServer, n int, w http.ResponseWriter) { w.WriteHeader(201) }, nil, "did not appear in history within 2m0s", ErrWaitTimeout, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &runServer{onPost: tt.onPost}
			s.h.add(old)
			s.h.add(tt.extraOld...)
			e := newEnv(t, s)
			before, _ := e.c.History(context.Background(), HistoryQuery{ReportID: "rep"})
			got, err := e.c.startRun(context.Background(), "rep", before, fastWait)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.RunIDs, tt.want) {
				t.Errorf("run ids %v, want %v", got.RunIDs, tt.want)
			}
			if s.postCount() != tt.posts {
				t.Errorf("%d POSTs, want %d", s.postCount(), tt.posts)
			}
		})
	}
}

func TestStartRunAppearsLate(t *testing.T) {
	s := &runServer{onPost: func(s *runServer, n int, w http.ResponseWriter) { w.WriteHeader(200) }}
	s.onHistory = func(s *runServer, n int) {
		if n == 4 { // the before read, then two polls without it
			s.h.add(rec("rep", "late", StatusGenerating, "2025-02-06 10:00:00"))
		}
	}
	e := newEnv(t, s)
	got, err := e.c.StartRun(context.Background(), "rep")
	if err != nil || !reflect.DeepEqual(got, StartedRun{ReportID: "rep", RunIDs: []string{"late"}}) {
		t.Fatalf("StartRun = %+v, %v", got, err)
	}
	if sl := e.clock.Sleeps(); len(sl) != 2 || sl[0] != DefaultPollInterval {
		t.Errorf("sleeps %v, want two poll intervals", sl)
	}
}

func TestStartRunRetriesUnsentPOST(t *testing.T) {
	// A POST that failed before it was written cannot have started a run:
	// it is resent at once, without reading history.
	s := &runServer{onPost: startRunWith("new", true)}
	var failed bool
	var mu sync.Mutex
	e := newEnv(t, s, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			first := r.Method == http.MethodPost && !failed
			failed = failed || first
			mu.Unlock()
			if first {
				return nil, errors.New("dial tcp: connect: connection refused")
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	got, err := e.c.StartRun(context.Background(), "rep")
	if err != nil || !reflect.DeepEqual(got.RunIDs, []string{"new"}) || s.postCount() != 1 {
		t.Fatalf("StartRun = %+v, %v after %d POSTs reached the server", got, err, s.postCount())
	}
	if s.gets != 1 {
		t.Errorf("%d history reads, want 1 (before the POST only)", s.gets)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWaitRun(t *testing.T) {
	tests := []struct {
		name     string
		progress map[int]string // history GET number → new status of run "r1"
		present  bool
		want     string // final status, or error text
		is       error
		polls    int
	}{
		{"ready after polls", map[int]string{3: StatusReady}, true, StatusReady, nil, 3},
		{"already ready", nil, false, "", nil, 1},
		{"failed", map[int]string{2: StatusFailed}, true, "run r1 of report rep FAILED", nil, 2},
		{"appears late, then ready", map[int]string{2: "add", 4: StatusReady}, false, StatusReady, nil, 4},
		{"never ready", nil, true, "still GENERATING after 2m0s", ErrWaitTimeout, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &runServer{}
			if tt.present {
				s.h.add(rec("rep", "r1", StatusGenerating, "2025-02-06 10:00:00"))
			} else if tt.progress == nil {
				s.h.add(rec("rep", "r1", StatusReady, "2025-02-06 10:00:00"))
				tt.want = StatusReady
			}
			s.onHistory = func(s *runServer, n int) {
				switch st := tt.progress[n]; st {
				case "":
				case "add":
					s.h.add(rec("rep", "r1", StatusGenerating, "2025-02-06 10:00:00"))
				default:
					s.h.setStatus("r1", st)
				}
			}
			e := newEnv(t, s)
			run, err := e.c.WaitRun(context.Background(), "rep", "r1", fastWait)
			var failed *RunFailedError
			switch {
			case tt.want == StatusReady:
				if err != nil || run.Status != StatusReady || run.RunID != "r1" {
					t.Fatalf("WaitRun = %+v, %v", run, err)
				}
			case strings.Contains(tt.want, "FAILED"):
				if !errors.As(err, &failed) || failed.RunID != "r1" || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want *RunFailedError", err)
				}
			default:
				if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
			}
			if s.gets != tt.polls {
				t.Errorf("%d history polls, want %d", s.gets, tt.polls)
			}
		})
	}
}

func TestRunReport(t *testing.T) {
	t.Run("waits for a generating run instead of starting one", func(t *testing.T) {
		s := &runServer{onPost: startRunWith("new", true)}
		s.h.add(rec("rep", "busy", StatusGenerating, "2025-02-06 09:00:00"))
		s.onHistory = func(s *runServer, n int) {
			if n == 3 {
				s.h.setStatus("busy", StatusReady)
			}
		}
		e := newEnv(t, s)
		runs, err := e.c.RunReport(context.Background(), "rep", fastWait)
		if err != nil || !reflect.DeepEqual(runIDs(runs), []string{"busy"}) || s.postCount() != 0 {
			t.Fatalf("RunReport = %v, %v with %d POSTs; want [busy] and no POST", runIDs(runs), err, s.postCount())
		}
	})
	t.Run("starts a run and waits for it", func(t *testing.T) {
		s := &runServer{onPost: startRunWith("new", false)}
		s.h.add(rec("rep", "old", StatusReady, "2025-02-05 09:00:00"))
		s.onHistory = func(s *runServer, n int) {
			if n == 4 {
				s.h.setStatus("new", StatusReady)
			}
		}
		e := newEnv(t, s)
		runs, err := e.c.RunReport(context.Background(), "rep", fastWait)
		if err != nil || !reflect.DeepEqual(runIDs(runs), []string{"new"}) || s.postCount() != 1 {
			t.Fatalf("RunReport = %v, %v with %d POSTs", runIDs(runs), err, s.postCount())
		}
	})
	t.Run("a stuck generating run is given up once", func(t *testing.T) {
		s := &runServer{}
		s.onPost = func(s *runServer, n int, w http.ResponseWriter) {
			id := fmt.Sprintf("new%d", n)
			s.h.add(rec("rep", id, StatusReady, fmt.Sprintf("2025-02-06 1%d:00:00", n)))
			writeJSON(w, 201, map[string]string{"report_run_identifier": id})
		}
		s.h.add(rec("rep", "stuck", StatusGenerating, "2025-02-06 09:00:00"))
		e := newEnv(t, s)
		runs, err := e.c.RunReport(context.Background(), "rep", fastWait)
		if err != nil || !reflect.DeepEqual(runIDs(runs), []string{"new1"}) {
			t.Fatalf("first RunReport = %v, %v", runIDs(runs), err)
		}
		if !strings.Contains(e.logs.String(), "did not become READY; starting a new run") {
			t.Errorf("giving up was not logged")
		}
		sleptBefore := len(e.clock.Sleeps())
		runs, err = e.c.RunReport(context.Background(), "rep", fastWait)
		if err != nil || !reflect.DeepEqual(runIDs(runs), []string{"new2"}) {
			t.Fatalf("second RunReport = %v, %v", runIDs(runs), err)
		}
		if len(e.clock.Sleeps()) != sleptBefore {
			t.Errorf("the second call waited for the stuck run again")
		}
	})
	t.Run("new run fails", func(t *testing.T) {
		s := &runServer{onPost: func(s *runServer, n int, w http.ResponseWriter) {
			s.h.add(rec("rep", "bad", StatusFailed, "2025-02-06 10:00:00"))
			w.WriteHeader(201)
		}}
		e := newEnv(t, s)
		runs, err := e.c.RunReport(context.Background(), "rep", fastWait)
		var failed *RunFailedError
		if len(runs) != 0 || !errors.As(err, &failed) || failed.RunID != "bad" {
			t.Fatalf("RunReport = %v, %v; want *RunFailedError", runs, err)
		}
	})
	t.Run("two new runs, one fails", func(t *testing.T) {
		s := &runServer{onPost: func(s *runServer, n int, w http.ResponseWriter) {
			s.h.add(rec("rep", "sched", StatusReady, "2025-02-06 10:00:01"), rec("rep", "bad", StatusFailed, "2025-02-06 10:00:00"))
			w.WriteHeader(201)
		}}
		e := newEnv(t, s)
		runs, err := e.c.RunReport(context.Background(), "rep", fastWait)
		var failed *RunFailedError
		if !reflect.DeepEqual(runIDs(runs), []string{"sched"}) || !errors.As(err, &failed) {
			t.Fatalf("RunReport = %v, %v; want [sched] and the failure", runIDs(runs), err)
		}
	})
}

func TestReadyRunsAfter(t *testing.T) {
	s := &runServer{}
	// Listed newest first, as DigiCert sorts when asked.
	s.h.add(
		rec("rep", "r4", StatusGenerating, "2025-02-04 00:00:00"),
		rec("rep", "r3", StatusReady, "2025-02-03 00:00:00"),
		rec("other", "o1", StatusReady, "2025-02-02 12:00:00"),
		rec("rep", "r2", StatusFailed, "2025-02-02 00:00:00"),
		rec("rep", "r1b", StatusReady, "2025-02-01 00:00:00"),
		rec("rep", "r1a", StatusReady, "2025-02-01 00:00:00"),
		rec("rep", "r0", StatusReady, "2025-01-31 00:00:00"),
	)
	e := newEnv(t, s)
	tests := []struct {
		after string
		want  []string
	}{
		{"", []string{"r0", "r1a", "r1b", "r3"}},
		{"r0", []string{"r1a", "r1b", "r3"}},
		{"r1a", []string{"r1b", "r3"}},
		{"r3", []string{}},
		{"aged-out", []string{"r0", "r1a", "r1b", "r3"}},
	}
	for _, tt := range tests {
		runs, err := e.c.ReadyRunsAfter(context.Background(), "rep", tt.after)
		if err != nil {
			t.Fatal(err)
		}
		if got := runIDs(runs); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ReadyRunsAfter(%q) = %v, want %v", tt.after, got, tt.want)
		}
	}
	if _, err := e.c.ReadyRunsAfter(context.Background(), "", ""); err == nil {
		t.Error("an empty report id is accepted")
	}
}
