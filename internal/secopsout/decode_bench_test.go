package secopsout

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDecodeToJSON measures msgpack → NDJSON alone (no compression) on
// DigiCert-like v2 records; MB/s is JSON bytes produced.
func BenchmarkDecodeToJSON(b *testing.B) {
	var chunk []byte
	for i := range 2000 {
		body := dtMap{
			{"Date and time (UTC)", "06-Feb-2025 10:28:04"}, {"User ID", fmt.Sprint(100000 + i)}, {"User name", "Jane Doe"},
			{"Account ID", "1234567"}, {"Action", "Certificate issued"}, {"Result", "Success"},
			{"Activity", "Activity for order 123\nsecond line"}, {"Message", "Certificate for www.example.com was issued"},
			{"Action taken via", "CertCentral UI"}, {"IP address", "203.0.113.7"}, {"IP country", "US"},
			{"Domain name", "www.example.com"}, {"Organization ID", fmt.Sprint(i)}, {"Division/Container Name", "Sales & <Marketing>"},
		}
		chunk = append(chunk, dtRecordV2(dtEventTime(uint32(1738837684+i), 0), dtMap{}, body)...)
	}
	var line []byte
	var total int64
	for b.Loop() {
		total = 0
		err := DecodeChunk(chunk, func(_ time.Time, _, body RawMap) error {
			var err error
			line, err = AppendJSON(line[:0], body)
			total += int64(len(line) + 1)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(total)
}
