package secopsout

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
)

// Test data: DigiCert-like audit rows as compact JSON, and Fluent Bit chunks
// built from them with the input plugin's encoder (so the output is tested
// against exactly what the input produces).

var actions = []string{"Certificate issued", "User login", "Order submitted", "Domain validated", "API key created"}

// auditRow returns one compact JSON row. rng varies values the way real
// rows vary so compression ratios are realistic.
func auditRow(i int, ts time.Time, rng *rand.Rand) []byte {
	return fmt.Appendf(nil, `{"Date and time (UTC)":%q,"User ID":"%d","User name":"User %d","Account ID":"1234567",`+
		`"Action":%q,"Result":"Success","Activity":"Activity %d for order %d\nsecond line","Message":"Certificate for www%d.example.com was issued",`+
		`"Action taken via":"CertCentral UI","IP address":"203.0.%d.%d","IP country":"US","Domain name":"www%d.example.com",`+
		`"Primary organization name":"Example Org","Organization ID":"%d","Order ID":"%d","Division/Container ID":"%d",`+
		`"Division/Container Name":"Sales & <Marketing>","Revocation comments":"","Voucher code ID":"","Domain ID":"%d"}`,
		ts.Format("02-Jan-2006 15:04:05"), rng.IntN(900000)+100000, rng.IntN(5000), actions[rng.IntN(len(actions))],
		i, rng.IntN(1e8), rng.IntN(1e6), rng.IntN(256), rng.IntN(256), rng.IntN(1e6),
		rng.IntN(1e6), rng.IntN(1e8), rng.IntN(1e4), rng.IntN(1e7))
}

// buildChunk encodes rows as Fluent Bit v2 records, one second apart from start.
func buildChunk(t testing.TB, rows [][]byte, start time.Time) []byte {
	t.Helper()
	var chunk []byte
	for i, row := range rows {
		var err error
		chunk, err = digicertin.AppendRecord(chunk, start.Add(time.Duration(i)*time.Second), nil, row)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	return chunk
}

// auditRows returns n rows starting at start.
func auditRows(n int, start time.Time, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([][]byte, n)
	for i := range rows {
		rows[i] = auditRow(i, start.Add(time.Duration(i)*time.Second), rng)
	}
	return rows
}

// noiseRows returns rows of incompressible text, to exercise multipart.
func noiseRows(n, size int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	rows := make([][]byte, n)
	raw := make([]byte, size*3/4)
	for i := range rows {
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		rows[i] = fmt.Appendf(nil, `{"n":%d,"noise":%q}`, i, base64.StdEncoding.EncodeToString(raw))
	}
	return rows
}

// gunzipSingle decompresses body, failing unless it is exactly one gzip member.
func gunzipSingle(t testing.TB, body []byte) []byte {
	t.Helper()
	br := bytes.NewReader(body)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	if br.Len() != 0 {
		t.Fatalf("%d bytes follow the first gzip member", br.Len())
	}
	return out
}

// wantNDJSON is the expected object content for rows: each row on its own line.
func wantNDJSON(rows [][]byte) string {
	var b strings.Builder
	for _, r := range rows {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.String()
}
