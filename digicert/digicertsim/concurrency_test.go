package digicertsim

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, Config{EventsPerHour: 50, Backlog: 2 * time.Hour, ReturnRunIDOnPost: true, ZipThreshold: 8192})
	h.sim.Inject(Fault{Kind: FaultRateLimit, Times: 5})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				switch i % 4 {
				case 0:
					h.sim.Advance(time.Minute)
					h.sim.Schedule(DefaultReportID)
				case 1:
					if st, _, b := h.do("POST", "/reports/v1/report/"+DefaultReportID+"/run", testKey); st != 201 && st != 429 {
						errs <- fmt.Errorf("post: %d %s", st, b)
					}
				case 2:
					if st, _, _ := h.get("/reports/v1/report/history?limit=10"); st != 200 && st != 429 {
						errs <- fmt.Errorf("history: %d", st)
					}
				case 3:
					runs := h.sim.Runs()
					rn := runs[len(runs)-1]
					st, _, b := h.get(fmt.Sprintf("/reports/v1/report/%s/%s/json", rn.ReportID, rn.RunID))
					if st != 200 {
						continue // not READY yet or rate limited
					}
					if rows, err := decodeRows(b); err != nil || len(rows) != rn.Rows {
						errs <- fmt.Errorf("run %s: %d rows served (%v), %d expected", rn.RunID, len(rows), err, rn.Rows)
					}
					_ = h.sim.GroundTruth()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Per goroutine: 3 POST, 2 history, 2 json requests.
	if n := len(h.sim.Requests()); n != 6*7 {
		t.Fatalf("%d requests logged", n)
	}
	if h.sim.PendingFaults() != 0 {
		t.Fatal("429 faults not consumed")
	}
}
