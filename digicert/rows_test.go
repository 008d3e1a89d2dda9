package digicert

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// zipOf builds a ZIP from name/content pairs.
func zipOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rowsJSON builds a report of n rows tagged with tag.
func rowsJSON(tag string, n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"Date and time (UTC)":"06-Feb-2025 10:28:%02d","Action":"%s-%d"}`, i%60, tag, i)
	}
	b.WriteString("]")
	return b.String()
}

// readRows opens run and returns the Action of every row, the error and the
// part indexes seen.
func readRows(t *testing.T, c *Client, run Run) ([]string, error) {
	t.Helper()
	return readRowsStats(t, c, run, nil)
}

func TestOpen(t *testing.T) {
	ready := Run{ReportID: "rep", RunID: "run", Status: StatusReady, Format: []string{"JSON"}}
	split := ready
	split.SplitReportCount = 3
	tests := []struct {
		name    string
		run     Run
		serve   func(w http.ResponseWriter, r *http.Request, n int)
		want    []string
		wantErr string
		paths   []string
	}{
		{"plain JSON", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(rowsJSON("a", 2)))
		}, []string{"0:a-0", "0:a-1"}, "", []string{"/reports/v1/report/rep/run/json"}},
		{"zip sniffed by magic, every json member in name order", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(zipOf(t, "b.json", rowsJSON("b", 1), "readme.txt", "x", "A.JSON", rowsJSON("A", 2), "dir/", "", "c.json", rowsJSON("c", 1)))
		}, []string{"0:A-0", "0:A-1", "0:b-0", "0:c-0"}, "", nil},
		{"zip by content type", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Type", "application/zip")
			w.Write(zipOf(t, "r.json", rowsJSON("z", 1)))
		}, []string{"0:z-0"}, "", nil},
		{"split run reads every part", split, func(w http.ResponseWriter, r *http.Request, n int) {
			seq := r.URL.Query().Get("split_report_sequence")
			if r.URL.Query().Get("report_format") != "JSON" {
				w.WriteHeader(400)
				return
			}
			if seq == "1" {
				w.Write([]byte(rowsJSON("p1", 1))) // a small part may come unzipped
				return
			}
			w.Write(zipOf(t, "part"+seq+".json", rowsJSON("p"+seq, 2)))
		}, []string{"0:p0-0", "0:p0-1", "1:p1-0", "2:p2-0", "2:p2-1"}, "", []string{
			"/reports/v1/report/rep/run/download?report_format=JSON&split_report_sequence=0",
			"/reports/v1/report/rep/run/download?report_format=JSON&split_report_sequence=1",
			"/reports/v1/report/rep/run/download?report_format=JSON&split_report_sequence=2"}},
		{"empty body is an error, not zero rows", ready, func(w http.ResponseWriter, r *http.Request, n int) {}, nil, "part 0 came with an empty body", nil},
		{"204 is an error, not zero rows", ready, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(204) }, nil, "part 0 came with an empty body", nil},
		{"empty array", ready, func(w http.ResponseWriter, r *http.Request, n int) { w.Write([]byte("[]")) }, nil, "", nil},
		{"zip without a json member", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Write(zipOf(t, "report.csv", "a,b\n1,2\n"))
		}, nil, "ZIP holds no .json member (members: report.csv): check that the report's format is JSON", nil},
		{"truncated zip is downloaded again", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			z := zipOf(t, "r.json", rowsJSON("t", 3))
			if n == 1 {
				z = z[:len(z)-30]
			}
			w.Write(z)
		}, []string{"0:t-0", "0:t-1", "0:t-2"}, "", []string{"/reports/v1/report/rep/run/json", "/reports/v1/report/rep/run/json"}},
		{"truncated zip every time", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			z := zipOf(t, "r.json", rowsJSON("t", 3))
			w.Write(z[:len(z)/2])
		}, nil, "ZIP body is truncated or corrupt", nil},
		{"connection reset mid-body is downloaded again", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				cutBody(w, []byte(rowsJSON("c", 50)), 100)
				return
			}
			w.Write([]byte(rowsJSON("c", 1)))
		}, []string{"0:c-0"}, "", nil},
		{"top-level object", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Write([]byte(`{"errors":[]}`))
		}, nil, "report part 0, byte offset 0: the report is a JSON object, not an array of rows", nil},
		{"malformed rows are repaired or skipped, the rest read", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Write(zipOf(t, "1.json", rowsJSON("g", 2), "2.json", "[{\"Action\":\"ok\"},{\"Action\":\"bad\x01\"},{\"Action\":x},{\"Action\":\"caf\xe9\"},{\"Action\":\"last\"}]"))
		}, []string{"0:g-0", "0:g-1", "0:ok", "0:bad\x01", "0:caf\uFFFD", "0:last"}, "", nil},
		{"malformed row in a truncated body is not skipped", ready, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Write([]byte(`[{"Action":"ok"},{"Action":x`))
		}, []string{"0:ok"}, "byte offset 27: invalid character 'x'", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var paths []string
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.RequestURI())
				n := len(paths)
				mu.Unlock()
				tt.serve(w, r, n)
			}))
			got, err := readRows(t, e.c, tt.run)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("rows %v, want %v", got, tt.want)
			}
			if tt.paths != nil && !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("requests %v, want %v", paths, tt.paths)
			}
			assertEmptyDir(t, e.c.tempDir)
		})
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("temporary files left in %s: %v", dir, ents)
	}
}

func TestOpenRejects(t *testing.T) {
	e := newEnv(t, http.NotFoundHandler())
	for _, tt := range []struct {
		run  Run
		want string
	}{
		{Run{ReportID: "rep"}, "report id and run id are required"},
		{Run{ReportID: "rep", RunID: "r", Status: StatusGenerating}, "status is GENERATING, not READY"},
		{Run{ReportID: "rep", RunID: "r", Format: []string{"CSV"}}, "the report's format is CSV, not JSON"},
	} {
		if _, err := e.c.Open(context.Background(), tt.run); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%+v) = %v, want %q", tt.run, err, tt.want)
		}
	}
}

func TestOpenSizeLimits(t *testing.T) {
	big := rowsJSON("x", 1000)
	tests := []struct {
		name  string
		tweak func(*Options)
		body  []byte
		want  string
	}{
		{"body over max size", func(o *Options) { o.MaxBodySize = 1000 }, []byte(big), "body larger than the limit of 1000 bytes"},
		{"member declares too much", func(o *Options) { o.MaxMemberSize = 1000 }, zipOf(t, "r.json", big), `ZIP member "r.json" declares`},
		{"too many members", func(o *Options) { o.MaxZipMembers = 10 }, zipOf(t, manyMembers(12)...), "12 entries, over the limit of 10 (max_zip_members)"},
		{"members declare too much together", func(o *Options) { o.MaxInflatedSize = int64(len(big)) + 10 }, zipOf(t, "a.json", big, "b.json", big), "max_inflated_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tt.body) }), tt.tweak)
			_, err := readRows(t, e.c, Run{ReportID: "rep", RunID: "run"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCapReaderStopsZipBomb(t *testing.T) {
	// A member whose header understates its size: the cap still holds.
	data := strings.Repeat("a", 5000)
	c := &capReader{r: strings.NewReader(data), left: 1000}
	n, err := io.Copy(io.Discard, c)
	if !errors.Is(err, errMemberTooLarge) || n != 1000 {
		t.Fatalf("copied %d, err %v; want 1000 and errMemberTooLarge", n, err)
	}
	c = &capReader{r: strings.NewReader(data[:1000]), left: 1000}
	if n, err := io.Copy(io.Discard, c); err != nil || n != 1000 {
		t.Fatalf("exactly at the cap: %d, %v", n, err)
	}
}

func TestRowsCancel(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seq := r.URL.Query().Get("split_report_sequence")
		w.Write([]byte(rowsJSON("p"+seq, 10000)))
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rs, err := e.c.Open(ctx, Run{ReportID: "rep", RunID: "run", SplitReportCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	n := 0
	for rs.Next() {
		if n++; n == 10 {
			cancel()
		}
	}
	if !errors.Is(rs.Err(), context.Canceled) || n > 4096+10 || rs.Part() != 0 {
		t.Fatalf("after cancel: %d rows, part %d, err %v", n, rs.Part(), rs.Err())
	}
	if rs.Next() {
		t.Error("Next after an error returned true")
	}
}

func TestRowsLargeString(t *testing.T) {
	big := strings.Repeat("é", 5<<20) // 10 MB of UTF-8
	body := zipOf(t, "r.json", `[{"Action":"before"},{"Action":"`+big+`"},{"Action":"after"}]`)
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	got, err := readRows(t, e.c, Run{ReportID: "rep", RunID: "run"})
	if err != nil || len(got) != 3 || got[1] != "0:"+big || got[2] != "0:after" {
		t.Fatalf("%d rows, err %v", len(got), err)
	}
}

func TestRowsCloseTwiceAndEarly(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(zipOf(t, "a.json", rowsJSON("a", 5), "b.json", rowsJSON("b", 5)))
	}))
	rs, err := e.c.Open(context.Background(), Run{ReportID: "rep", RunID: "run"})
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Next() {
		t.Fatal(rs.Err())
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	if rs.Next() {
		t.Error("Next after Close returned true")
	}
	assertEmptyDir(t, e.c.tempDir)
}

// TestRowsMemoryFlat streams a 100,000-row zipped report (about 70 MB of
// JSON, generated while being served) and checks that the heap never grows
// by more than a few MiB: nothing is held per row or per report.
func TestRowsMemoryFlat(t *testing.T) {
	const rows = 100_000
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		if err := writeZippedReport(w, []int{rows / 2, rows / 2}, 9); err != nil {
			t.Error(err)
		}
	}))
	runtime.GC()
	base := heapInUse()
	rs, err := e.c.Open(context.Background(), Run{ReportID: "rep", RunID: "run"})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	n, peak := 0, base
	for rs.Next() {
		if n++; n%1000 == 0 {
			peak = max(peak, heapInUse())
		}
	}
	if err := rs.Err(); err != nil || n != rows {
		t.Fatalf("%d rows, err %v", n, err)
	}
	grew := int64(peak) - int64(base)
	t.Logf("heap in use: %.1f MiB before, %.1f MiB peak", float64(base)/(1<<20), float64(peak)/(1<<20))
	if grew > 16<<20 {
		t.Fatalf("heap grew by %.1f MiB while streaming, want under 16 MiB", float64(grew)/(1<<20))
	}
}

// TestRowsBadRowsWarnOnce: bad rows in several parts of a split run are
// counted across the run, every good row is read, and the run logs one
// warning naming the part and offset of the first.
func TestRowsBadRowsWarnOnce(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("split_report_sequence") {
		case "0":
			w.Write([]byte(`[{"Action":"a"},{"Action":"` + strings.Repeat("x", 100) + `"},{"Action":"b"}]`))
		default:
			w.Write(zipOf(t, "p1.json", "[{\"Action\":\"c\xff\"},{\"Action\":[[[1 2]]],\"x\":1},{\"Action\":\"d\"}]"))
		}
	}), func(o *Options) { o.MaxRowSize = 64 })
	got, err := readRowsStats(t, e.c, Run{ReportID: "rep", RunID: "run", SplitReportCount: 2}, func(st RowStats) {
		if st.SkippedOversize != 1 || st.RepairedUTF8 != 1 || st.SkippedUnparseable != 1 || st.First == nil || st.First.Part != 0 || st.First.Offset != 16 {
			t.Errorf("stats %+v (first %+v)", st, st.First)
		}
	})
	if err != nil || strings.Join(got, ",") != "0:a,0:b,1:c\uFFFD,1:d" {
		t.Fatalf("rows %q, err %v", got, err)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "malformed rows in the report"); n != 1 ||
		!strings.Contains(logs, "part=0") || !strings.Contains(logs, "offset=16") || !strings.Contains(logs, "kind=skipped_oversize") {
		t.Fatalf("want one warning naming part 0, offset 16; logs:\n%s", logs)
	}
}

func readRowsStats(t *testing.T, c *Client, run Run, check func(RowStats)) ([]string, error) {
	t.Helper()
	rs, err := c.Open(context.Background(), run)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := rs.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var got []string
	for rs.Next() {
		var row struct{ Action string }
		if err := json.Unmarshal(rs.Row(), &row); err != nil {
			t.Fatalf("row %s: %v", rs.Row(), err)
		}
		got = append(got, fmt.Sprintf("%d:%s", rs.Part(), row.Action))
	}
	if check != nil {
		check(rs.Stats())
	}
	return got, rs.Err()
}

// countingWriter counts the Write calls it gets (and, unlike a
// bytes.Buffer, has no ReadFrom for io.Copy to use instead, as a file
// has none that applies to an HTTP body).
type countingWriter struct {
	buf   bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.buf.Write(p)
}

func (w *countingWriter) Bytes() []byte { return w.buf.Bytes() }

// A download reaches its temporary file in spillBlock writes, however small
// the reads from the connection are, byte for byte; a read error comes back
// as it was (a bodyReadError makes the download retryable).
func TestSpillCopyWritesInBlocks(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*spillBlock/16+5)
	var w countingWriter
	n, err := spillCopy(&w, iotest.HalfReader(bytes.NewReader(data)))
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("copied %d of %d bytes (equal %v), error %v", n, len(data), bytes.Equal(w.Bytes(), data), err)
	}
	if want := (len(data) + spillBlock - 1) / spillBlock; w.calls != want {
		t.Errorf("%d writes for %d bytes, want %d", w.calls, len(data), want)
	}

	readErr := &bodyReadError{errors.New("connection reset")}
	w = countingWriter{}
	n, err = spillCopy(&w, io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(readErr)))
	if err != readErr || n != 1000 || !bytes.Equal(w.Bytes(), data[:1000]) {
		t.Fatalf("got %d bytes, error %v; want the 1000 bytes before the error, then it", n, err)
	}
}
