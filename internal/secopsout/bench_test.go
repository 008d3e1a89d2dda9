package secopsout

import (
	"fmt"
	"testing"
	"time"
)

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkEncode measures a chunk of DigiCert-like records (about 4 MB of
// msgpack) becoming gzip NDJSON, without the network. MB/s is NDJSON bytes;
// records/s and the compression ratio are reported too. Run one core:
//
//	go test -run '^$' -bench Encode -benchmem -cpu 1 ./internal/secopsout
func BenchmarkEncode(b *testing.B) {
	rows := auditRows(6000, t0, 42)
	chunk := buildChunk(b, rows, t0)
	for _, level := range []int{1, 3, 5, 6, 9} {
		name := fmt.Sprintf("level=%d", level)
		if level == DefaultCompressionLevel {
			name += "(default)"
		}
		b.Run(name, func(b *testing.B) {
			enc := newNDJSONEncoder(level, "", DateISO8601)
			var st encodeStats
			var out countingWriter
			for b.Loop() {
				out.n = 0
				var err error
				if st, err = enc.Encode(&out, chunk, func(time.Time) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(st.NDJSONBytes)
			b.ReportMetric(float64(st.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(st.NDJSONBytes)/float64(out.n), "ratio")
		})
	}
}
