package digicert

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/cputime"
	kzip "github.com/klauspost/compress/zip"
)

// auditColumns are the 24 audit-log columns (DigiCert's documented audit-log columns), in report order.
var auditColumns = []string{
	"Account ID", "Action", "Action taken via", "Activity", "Adjustment/Ledger ID",
	"Date and time (UTC)", "Division/Container ID", "Division/Container name", "Domain ID",
	"Domain name", "IP address", "IP country", "Message", "Order ID", "Order request ID",
	"Organization ID", "Organization name", "Primary organization name", "Result",
	"Revocation comments", "User ID", "User name", "Voucher code ID", "Voucher order ID",
}

var (
	benchActions = []struct{ action, message string }{
		{"User SSO login", "Logged through SAML SSO"},
		{"User login", "Logged in with username and password"},
		{"Failed login", "Invalid password"},
		{"Certificate requested", "Requested SSL certificate for www.example.com"},
		{"Order approved", "Approved order for *.example.org"},
		{"API key created", "Created API key \"automation\" with restriction View Only"},
		{"User role changed", "Changed role from User to Administrator"},
		{"Domain validated", "Validated domain by DNS TXT record"},
	}
	benchUsers = []string{"John Doe", "Zoë Müller", "Ana García", "Li Wei 李伟", "Olusegun Adeyemi", "Sam O'Neil"}
)

// auditRowGen produces realistic audit rows, deterministic for a seed.
type auditRowGen struct {
	rnd *rand.Rand
	t   time.Time
	n   int
}

func newAuditRowGen(seed uint64) *auditRowGen {
	return &auditRowGen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), t: time.Date(2025, 2, 6, 0, 0, 0, 0, time.UTC)}
}

// appendRow appends one compact row object.
func (g *auditRowGen) appendRow(dst []byte) []byte {
	g.n++
	g.t = g.t.Add(time.Duration(1+g.rnd.IntN(4000)) * time.Millisecond)
	act := benchActions[g.rnd.IntN(len(benchActions))]
	user := benchUsers[g.rnd.IntN(len(benchUsers))]
	userID := strconv.Itoa(1000000 + g.rnd.IntN(9000000))
	orderID, domainID, domain := "", "", ""
	if g.rnd.IntN(3) == 0 {
		orderID = strconv.Itoa(100000000 + g.rnd.IntN(900000000))
		domainID = strconv.Itoa(1000 + g.rnd.IntN(90000))
		domain = "host" + strconv.Itoa(g.rnd.IntN(500)) + ".example.com"
	}
	result := "Successful"
	if g.rnd.IntN(10) == 0 {
		result = "Failed"
	}
	ip := fmt.Sprintf("%d.%d.%d.%d", 10+g.rnd.IntN(200), g.rnd.IntN(256), g.rnd.IntN(256), 1+g.rnd.IntN(254))
	values := [24]string{
		"0000000", act.action, "CertCentral", act.action + " #" + userID + "\n" + act.message, "",
		g.t.Format("02-Jan-2006 15:04:05"), "111222", "Global_Internal_Division", domainID,
		domain, ip, "US", act.message, orderID, "",
		"", "", "Example Corp, Inc.", result,
		"", userID, user, "", "",
	}
	dst = append(dst, '{')
	for i, k := range auditColumns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, values[i])
	}
	return append(dst, '}')
}

// appendJSONString quotes s as JSON (enough for generated data).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, c)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// writeReport writes a JSON array of n rows to w.
func writeReport(w io.Writer, n int, seed uint64) error {
	g := newAuditRowGen(seed)
	buf := []byte("[\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			buf = append(buf, ",\n"...)
		}
		buf = g.appendRow(buf)
		if len(buf) > 256<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, "\n]\n"...)
	_, err := w.Write(buf)
	return err
}

// writeZippedReport writes a ZIP whose members hold rowsPerMember rows each.
func writeZippedReport(w io.Writer, rowsPerMember []int, seed uint64) error {
	zw := kzip.NewWriter(w)
	for i, n := range rowsPerMember {
		f, err := zw.Create(fmt.Sprintf("audit_logs_%d.json", i))
		if err != nil {
			return err
		}
		if err := writeReport(f, n, seed+uint64(i)); err != nil {
			return err
		}
	}
	return zw.Close()
}

// decodeAll reads every row and returns the count.
func decodeAll(b *testing.B, d *RowReader) int {
	n := 0
	for {
		_, err := d.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// reportRowMetrics adds rows/s and allocs/row, and rows/cpu-s if cpu (the
// process's CPU time over the loop) is known.
func reportRowMetrics(b *testing.B, rows int, mallocs uint64, cpu time.Duration) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(mallocs)/float64(rows), "allocs/row")
	reportCPU(b, rows, cpu)
}

// reportCPU adds rows per CPU second of the whole process (all threads, user
// and system), steadier than wall time on a shared machine and the figure
// that shows whether work moved to another core or just grew.
func reportCPU(b *testing.B, rows int, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu-s")
	}
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

const benchRows = 100_000

func BenchmarkRowReader(b *testing.B) {
	var plain bytes.Buffer
	if err := writeReport(&plain, benchRows, 1); err != nil {
		b.Fatal(err)
	}
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(int64(plain.Len()))
		d := NewRowReader(nil, 0, "")
		rows := 0
		m0, cpu0 := mallocs(), cputime.Process()
		for b.Loop() {
			d.reset(bytes.NewReader(plain.Bytes()), 0, "")
			rows += decodeAll(b, d)
		}
		reportRowMetrics(b, rows, mallocs()-m0, cputime.Process()-cpu0)
	})
	b.Run("zipped", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "report.zip")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := writeZippedReport(f, []int{benchRows}, 1); err != nil {
			b.Fatal(err)
		}
		size, _ := f.Seek(0, io.SeekCurrent)
		c := &Client{maxMember: DefaultMaxMemberSize, maxMembers: DefaultMaxZipMembers, maxInflated: DefaultMaxInflatedSize}
		b.SetBytes(int64(plain.Len()))
		d := NewRowReader(nil, 0, "")
		pipe := newBlockPipe(pipeBlockSize, pipeBlocks)
		rows := 0
		m0, cpu0 := mallocs(), cputime.Process()
		for b.Loop() {
			p := &partBody{file: f, size: size}
			if err := c.openZip(p, 0); err != nil {
				b.Fatal(err)
			}
			rc, err := p.members[0].Open()
			if err != nil {
				b.Fatal(err)
			}
			pipe.start(&capReader{r: rc, left: c.maxMember})
			d.resetInput(pipe, 0, p.members[0].Name)
			rows += decodeAll(b, d)
			pipe.halt()
			rc.Close()
		}
		reportRowMetrics(b, rows, mallocs()-m0, cputime.Process()-cpu0)
		f.Close()
	})
}

// BenchmarkRowFields measures what a consumer adds per row: Fields and
// EventTime.
func BenchmarkRowFields(b *testing.B) {
	g := newAuditRowGen(3)
	rows := make([]Row, 1000)
	for i := range rows {
		rows[i] = g.appendRow(nil)
	}
	n := 0
	m0, cpu0 := mallocs(), cputime.Process()
	for b.Loop() {
		for _, r := range rows {
			if err := r.Fields(func(string, []byte) error { return nil }); err != nil {
				b.Fatal(err)
			}
			if _, err := r.EventTime(); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	reportRowMetrics(b, n, mallocs()-m0, cputime.Process()-cpu0)
}

var bigZip struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// BenchmarkStreamZipped1M streams a zipped 1,000,000-row report through
// the whole client path (HTTP download, spill to disk, ZIP, decoder) and
// reports the peak heap in use while doing so.
func BenchmarkStreamZipped1M(b *testing.B) {
	const total = 1_000_000
	bigZip.once.Do(func() {
		bigZip.dir, bigZip.err = os.MkdirTemp("", "digicert-bench-")
		if bigZip.err != nil {
			return
		}
		bigZip.path = filepath.Join(bigZip.dir, "report.zip")
		f, err := os.Create(bigZip.path)
		if err != nil {
			bigZip.err = err
			return
		}
		defer f.Close()
		bigZip.err = writeZippedReport(f, []int{total}, 7)
	})
	if bigZip.err != nil {
		b.Fatal(bigZip.err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		http.ServeFile(w, r, bigZip.path)
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, APIKey: "bench-key", TempDir: b.TempDir(), RateLimit: NoRateLimit})
	if err != nil {
		b.Fatal(err)
	}
	run := Run{ReportID: "r", RunID: "x", Status: StatusReady}

	runtime.GC()
	base := heapInUse()
	stop := make(chan struct{})
	peakc := make(chan uint64)
	go func() {
		peak := base
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				peakc <- peak
				return
			case <-t.C:
				peak = max(peak, heapInUse())
			}
		}
	}()
	rows := 0
	cpu0 := cputime.Process()
	for b.Loop() {
		rs, err := c.Open(context.Background(), run)
		if err != nil {
			b.Fatal(err)
		}
		for rs.Next() {
			rows++
		}
		if err := rs.Err(); err != nil {
			b.Fatal(err)
		}
		rs.Close()
	}
	cpu := cputime.Process() - cpu0
	close(stop)
	peak := <-peakc
	if rows != total*b.N {
		b.Fatalf("read %d rows, want %d", rows, total*b.N)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	reportCPU(b, rows, cpu)
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(base)/(1<<20), "base-heap-MiB")
}

// heapInUse reads HeapInuse (live and fragmented heap spans) without
// stopping the world.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigZip.dir != "" {
		os.RemoveAll(bigZip.dir)
	}
	os.Exit(code)
}
