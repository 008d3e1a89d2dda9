package integration

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
)

// The fault suite: the whole pipeline (DigiCert simulator → in_digicert →
// secops_s3 → versitygw) under hostile answers, operator mistakes and
// crashes. Every case reads the bucket back, compares its rows with what
// DigiCert produced as multisets and adds one row to a table: scenario,
// rows expected, rows found, duplicates, lost. The table is logged at the
// end and, when $FAULT_TABLE names a file, written there (make test prints
// it, since go test hides the output of passing packages).
//
// Fast cases run in every `go test`; long ones only with FAULT_SOAK=1
// (`make soak`).

// pendingFix lists cases whose fix is not on this branch yet: they run and
// their row is printed, but a miss does not fail the suite. Each entry says
// which item of the issue fixes it. Remove an entry when its fix is merged;
// a case that passes while still listed is reported as such.
var pendingFix = map[string]string{}

// faultResult is one row of the table.
type faultResult struct {
	Scenario string
	Expected int // rows DigiCert produced that must arrive
	Found    int // rows in the bucket
	Dups     int // rows beyond their expected count, and rows never produced
	Lost     int // expected rows missing
	Bound    int // duplicates the documentation allows for this case (crashes)
	Status   string
	Note     string
}

var faultTable struct {
	mu   sync.Mutex
	rows []faultResult
}

// faultCompare counts the bucket's rows against the expected multiset.
func faultCompare(got, want map[string]int) (found, dups, lost int) {
	for k, n := range got {
		found += n
		if d := n - want[k]; d > 0 {
			dups += d
		}
	}
	for k, n := range want {
		if d := n - got[k]; d > 0 {
			lost += d
		}
	}
	return found, dups, lost
}

// faultRecord adds r to the table and fails t when r misses its target,
// unless the scenario is pending a fix.
func faultRecord(t *testing.T, r faultResult) {
	t.Helper()
	ok := r.Lost == 0 && r.Dups <= r.Bound
	why, pending := pendingFix[r.Scenario]
	switch {
	case t.Failed():
		// A check of the case failed (a refusal without its message, a
		// secret in the log): the row says so whatever the counts.
		r.Status = "FAIL (see the test's errors)"
	case ok && pending:
		r.Status = "ok (still in pendingFix: remove it)"
	case ok:
		r.Status = "ok"
	case pending:
		r.Status = "PENDING: " + why
	default:
		r.Status = "FAIL"
	}
	faultTable.mu.Lock()
	faultTable.rows = append(faultTable.rows, r)
	faultTable.mu.Unlock()
	t.Logf("%s: expected %d, found %d, duplicates %d (bound %d), lost %d: %s %s",
		r.Scenario, r.Expected, r.Found, r.Dups, r.Bound, r.Lost, r.Status, r.Note)
	if !ok && !pending {
		t.Errorf("%s: %d lost, %d duplicates (bound %d)", r.Scenario, r.Lost, r.Dups, r.Bound)
	}
}

// faultTableText renders the table.
func faultTableText() string {
	faultTable.mu.Lock()
	rows := append([]faultResult(nil), faultTable.rows...)
	faultTable.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scenario < rows[j].Scenario })
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\texpected\tfound\tduplicates\tlost\tstatus\tnote")
	for _, r := range rows {
		d := fmt.Sprint(r.Dups)
		if r.Bound > 0 {
			d = fmt.Sprintf("%d (≤%d)", r.Dups, r.Bound)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\t%s\n", r.Scenario, r.Expected, r.Found, d, r.Lost, r.Status, r.Note)
	}
	tw.Flush()
	return b.String()
}

// TestFaultSuite runs every case but the C-host kills as subtests, one
// after the other (the machine is small and several cases time things).
func TestFaultSuite(t *testing.T) { runFaultCases(t, faultCases()) }

// TestHostFaultKill is the SIGKILL cases in the C host (a separate test so
// that make test-arm64, which selects host tests by name, runs them).
func TestHostFaultKill(t *testing.T) { runFaultCases(t, sigkillCases()) }

// TestHostFaultSecrets is the planted-key cases, which run the input in the
// C host (a separate test for the same reason).
func TestHostFaultSecrets(t *testing.T) { runFaultCases(t, secretFaultCases()) }

// runFaultCases runs cases and then logs the table of every case run so
// far in this process, and writes it to $FAULT_TABLE.
func runFaultCases(t *testing.T, cases []faultCase) {
	t.Cleanup(func() {
		text := faultTableText()
		t.Logf("fault suite:\n%s", text)
		if p := os.Getenv("FAULT_TABLE"); p != "" {
			if err := os.WriteFile(p, []byte("fault suite (simulator → in_digicert → secops_s3 → versitygw):\n"+text), 0o644); err != nil {
				t.Errorf("FAULT_TABLE: %v", err)
			}
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.soak && os.Getenv("FAULT_SOAK") == "" {
				t.Skip("soak case: run with FAULT_SOAK=1 (make soak)")
			}
			c.run(t)
		})
	}
}

type faultCase struct {
	name string
	soak bool
	run  func(t *testing.T)
}

// faultName is the case's scenario: the subtest name without the test's.
func faultName(t *testing.T) string {
	_, name, _ := strings.Cut(t.Name(), "/")
	return name
}
