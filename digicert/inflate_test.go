package digicert

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawMember is a ZIP member stored as given: deflated bytes and the CRC and
// size its headers declare, true or not.
type rawMember struct {
	name     string
	deflated []byte
	crc      uint32
	size     uint64
}

// deflated returns a member holding data, with true headers.
func deflated(t testing.TB, name, data string) rawMember {
	t.Helper()
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(data))
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return rawMember{name: name, deflated: b.Bytes(), crc: crc32.ChecksumIEEE([]byte(data)), size: uint64(len(data))}
}

func rawZip(t testing.TB, members ...rawMember) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, m := range members {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: m.name, Method: zip.Deflate, CRC32: m.crc,
			CompressedSize64: uint64(len(m.deflated)), UncompressedSize64: m.size})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.deflated)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readSerial reads a ZIP body's members as Rows did before inflating moved
// to its own goroutine: the decoder reading the capped member through its
// own buffer. It is the reference for what Rows must yield and say.
func readSerial(t *testing.T, c *Client, body []byte) (rows []string, err error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "body.zip")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &partBody{file: f, size: int64(len(body))}
	if err := c.openZip(p, 0); err != nil {
		return nil, err
	}
	budget := c.maxInflated
	d := NewRowReader(nil, 0, "")
	d.SetMaxRowSize(c.maxRowSize)
	for _, m := range p.members {
		rc, err := m.Open()
		if err != nil {
			t.Fatal(err)
		}
		d.reset(&capReader{r: rc, left: c.maxMember, budget: &budget}, 0, m.Name)
		for {
			row, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return rows, err
			}
			rows = append(rows, string(row))
		}
		rc.Close()
	}
	return rows, nil
}

// produceGoroutines counts the goroutines inflating for a blockPipe.
func produceGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("(*blockPipe).produce("))
}

// noProducerLeft fails unless every inflating goroutine has returned; a
// goroutine closing its done channel may take a moment more to be gone.
func noProducerLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for produceGoroutines() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d inflating goroutines still running after Close", produceGoroutines())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRowsPipeErrors: every way a ZIP member can fail while it is inflated
// on the pipe's goroutine ends the read with the error, message and rows
// that reading it on one goroutine gives, and leaves no goroutine behind.
func TestRowsPipeErrors(t *testing.T) {
	// Over 1 MiB inflated: more than the pipe's blocks hold, so the
	// inflating goroutine is still at work when the reader stops.
	data := rowsJSON("r", 20000)
	good := deflated(t, "r.json", data)
	badCRC := good
	badCRC.crc ^= 1
	truncated := good
	truncated.deflated = good.deflated[:len(good.deflated)/2]
	longer := good
	longer.size--
	shorter := good
	shorter.size++
	tests := []struct {
		name  string
		body  []byte
		tweak func(*Options)
		want  error
	}{
		{"good", rawZip(t, good, deflated(t, "s.json", rowsJSON("s", 10000))), nil, nil},
		{"CRC mismatch", rawZip(t, badCRC), nil, zip.ErrChecksum},
		{"truncated deflate stream", rawZip(t, truncated), nil, io.ErrUnexpectedEOF},
		{"more bytes than the header says", rawZip(t, longer), nil, zip.ErrFormat},
		{"fewer bytes than the header says", rawZip(t, shorter), nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tweak := func(*Options) {}
			if tt.tweak != nil {
				tweak = tt.tweak
			}
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tt.body) }), tweak)
			wantRows, wantErr := readSerial(t, e.c, tt.body)
			if !errors.Is(wantErr, tt.want) {
				t.Fatalf("reference read: err %v, want %v", wantErr, tt.want)
			}
			rs, err := e.c.Open(context.Background(), Run{ReportID: "rep", RunID: "run"})
			if err != nil {
				t.Fatal(err)
			}
			var rows []string
			for rs.Next() {
				rows = append(rows, string(rs.Row()))
			}
			if !errors.Is(rs.Err(), tt.want) || errString(rs.Err()) != errString(wantErr) {
				t.Errorf("err %v\nwant %v", rs.Err(), wantErr)
			}
			if strings.Join(rows, "\n") != strings.Join(wantRows, "\n") {
				t.Errorf("%d rows, the reference read %d", len(rows), len(wantRows))
			}
			// After a flate error Close reports it again, as it always did.
			if err := rs.Close(); err != nil && tt.want == nil {
				t.Fatalf("Close: %v", err)
			}
			noProducerLeft(t)
			assertEmptyDir(t, e.c.tempDir)
		})
	}
}

// TestBlockPipeCaps: the size caps fail a member mid-stream on the
// inflating goroutine (archive/zip already refuses more bytes than a header
// declares, so they are the second line); the error, its offset and the
// rows before it are what one goroutine reading the capped member gives,
// and the part's budget carries over from member to member.
func TestBlockPipeCaps(t *testing.T) {
	member := rowsJSON("c", 20000)
	n := int64(len(member))
	p := newBlockPipe(pipeBlockSize, pipeBlocks)
	defer p.halt()
	for _, tt := range []struct {
		name          string
		left, budget  int64
		members, want []error
	}{
		{"max_member_size", n - 1000, 10 * n, nil, []error{errMemberTooLarge}},
		{"exactly max_member_size", n, 10 * n, nil, []error{nil}},
		{"max_inflated_size", n, n * 3 / 2, nil, []error{nil, errPartTooLarge}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			serialBudget, pipeBudget := tt.budget, tt.budget
			for i, want := range tt.want {
				serial := decodeBytes(&capReader{r: strings.NewReader(member), left: tt.left, budget: &serialBudget})
				p.start(&capReader{r: strings.NewReader(member), left: tt.left, budget: &pipeBudget})
				d := NewRowReader(nil, 0, "")
				d.resetInput(p, 0, "")
				piped := decodeRows(d)
				p.halt()
				if !errors.Is(piped.err, want) || errString(piped.err) != errString(serial.err) || len(piped.rows) != len(serial.rows) {
					t.Fatalf("member %d: %d rows, err %v; one goroutine: %d rows, err %v; want %v", i, len(piped.rows), piped.err, len(serial.rows), serial.err, want)
				}
			}
		})
	}
}

// TestRowsPipeStops: however the reader stops (early, cancelled, by a
// panic it recovers from), Close stops the inflating goroutine and waits
// for it; none is left and the temporary file is gone.
func TestRowsPipeStops(t *testing.T) {
	body := zipOf(t, "a.json", rowsJSON("a", 30000), "b.json", rowsJSON("b", 30000))
	tests := []struct {
		name string
		read func(t *testing.T, rs *Rows, cancel context.CancelFunc)
	}{
		{"to the end", func(t *testing.T, rs *Rows, _ context.CancelFunc) {
			n := 0
			for rs.Next() {
				n++
			}
			if rs.Err() != nil || n != 60000 {
				t.Fatalf("%d rows, err %v", n, rs.Err())
			}
		}},
		{"after one row", func(t *testing.T, rs *Rows, _ context.CancelFunc) {
			if !rs.Next() {
				t.Fatal(rs.Err())
			}
		}},
		{"cancelled mid-member", func(t *testing.T, rs *Rows, cancel context.CancelFunc) {
			n := 0
			for rs.Next() {
				if n++; n == 10 {
					cancel()
				}
			}
			if !errors.Is(rs.Err(), context.Canceled) || rs.Err().Error() != "digicert: reading run run: context canceled" || n > 4096+10 {
				t.Fatalf("after cancel: %d rows, err %v", n, rs.Err())
			}
		}},
		{"in the second member", func(t *testing.T, rs *Rows, _ context.CancelFunc) {
			for n := 0; n < 30001; n++ {
				if !rs.Next() {
					t.Fatal(rs.Err())
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rs, err := e.c.Open(ctx, Run{ReportID: "rep", RunID: "run"})
			if err != nil {
				t.Fatal(err)
			}
			tt.read(t, rs, cancel)
			if err := rs.Close(); err != nil {
				t.Fatal(err)
			}
			noProducerLeft(t)
			assertEmptyDir(t, e.c.tempDir)
		})
	}
	t.Run("reader panics", func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
		func() {
			defer func() {
				if r := recover(); r != "consumer" {
					t.Fatalf("recovered %v", r)
				}
			}()
			rs, err := e.c.Open(context.Background(), Run{ReportID: "rep", RunID: "run"})
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			rs.Next()
			panic("consumer")
		}()
		noProducerLeft(t)
		assertEmptyDir(t, e.c.tempDir)
	})
}

// panicReader panics after handing out n bytes of src.
type panicReader struct {
	src io.Reader
	n   int
}

func (p *panicReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		panic("inflate exploded")
	}
	b = b[:min(len(b), p.n)]
	n, err := p.src.Read(b)
	p.n -= n
	return n, err
}

// TestBlockPipePanic: a panic while inflating is raised again on the
// reading goroutine, where the caller's recovery catches it (on the
// inflating goroutine it would end the process), and reads after it fail
// instead of waiting for ever.
func TestBlockPipePanic(t *testing.T) {
	p := newBlockPipe(64, 2)
	p.start(&panicReader{src: strings.NewReader(rowsJSON("p", 100)), n: 1000})
	d := NewRowReader(nil, 0, "")
	d.resetInput(p, 0, "r.json")
	rows := 0
	func() {
		defer func() {
			r := recover()
			pp, ok := r.(*pipePanic)
			if !ok || !strings.Contains(fmt.Sprint(r), "inflate exploded") || !strings.Contains(fmt.Sprint(r), "panicReader") {
				t.Fatalf("recovered %v, want the inflating goroutine's panic with its stack", r)
			}
			if pp.value != "inflate exploded" {
				t.Fatalf("value %v", pp.value)
			}
		}()
		for {
			if _, err := d.Next(); err != nil {
				t.Fatalf("Next returned %v before the panic", err)
			}
			rows++
		}
	}()
	if rows == 0 || rows > 1000/30 {
		t.Fatalf("%d rows before the panic", rows)
	}
	if _, err := p.Peek(1); !errors.Is(err, errPipePanicked) {
		t.Fatalf("Peek after the panic: %v", err)
	}
	p.halt()
	noProducerLeft(t)
}

// TestBlockPipeReuse: a pipe started again (the next ZIP member) reuses its
// blocks, allocates no more than its count, and a halt before the end
// leaves it usable.
func TestBlockPipeReuse(t *testing.T) {
	p := newBlockPipe(100, 3)
	d := NewRowReader(nil, 0, "")
	for i := range 5 {
		in := rowsJSON(fmt.Sprint(i), 50)
		p.start(strings.NewReader(in))
		d.resetInput(p, 0, "m")
		want := decodeBytes(strings.NewReader(in))
		if i == 2 {
			d.Next() // stopped early
			p.halt()
			if _, err := p.Peek(1); err != io.ErrClosedPipe {
				t.Fatalf("Peek after halt: %v", err)
			}
			continue
		}
		if got := decodeRows(d); strings.Join(got.rows, "\n") != strings.Join(want.rows, "\n") || got.err != nil {
			t.Fatalf("member %d: %d rows, err %v; want %d", i, len(got.rows), got.err, len(want.rows))
		}
		p.halt()
		if p.made > 3 || len(p.free) != p.made {
			t.Fatalf("member %d: %d blocks made, %d free", i, p.made, len(p.free))
		}
	}
	noProducerLeft(t)
}
