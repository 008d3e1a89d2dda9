package digicert

import (
	"fmt"
	"testing"
	"time"
)

// The fast path must agree with the layouts (time.Parse) on every input: the
// same time when it parses, and an error from the layouts when it does not.
func TestParseEventTimeFastPath(t *testing.T) {
	tests := []struct {
		in   string
		fast bool   // taken by the fast path
		want string // RFC 3339, or "" for an error
	}{
		{"06-Feb-2025 10:28:04", true, "2025-02-06T10:28:04Z"},
		{"06-02-2025 10:28:04", true, "2025-02-06T10:28:04Z"},
		{"01-Jan-1970 00:00:00", true, "1970-01-01T00:00:00Z"},
		{"31-Dec-2099 23:59:59", true, "2099-12-31T23:59:59Z"},
		{"29-Feb-2024 12:00:00", true, "2024-02-29T12:00:00Z"}, // leap year
		{"29-02-2000 12:00:00", true, "2000-02-29T12:00:00Z"},  // divisible by 400: leap
		{"29-Feb-2100 12:00:00", false, ""},                    // divisible by 100: not leap
		{"29-Feb-2025 12:00:00", false, ""},
		{"31-Feb-2025 10:28:04", false, ""},
		{"31-04-2025 10:28:04", false, ""},
		{"30-Apr-2025 10:28:04", true, "2025-04-30T10:28:04Z"},
		{"31-Jul-2025 10:28:04", true, "2025-07-31T10:28:04Z"},
		{"00-Jan-2025 10:28:04", false, ""},
		{"06-00-2025 10:28:04", false, ""},
		{"06-13-2025 10:28:04", false, ""},
		{"06-Feb-2025 24:00:00", false, ""},
		{"06-Feb-2025 23:60:00", false, ""},
		{"06-Feb-2025 23:59:60", false, ""},
		{"06-Fob-2025 10:28:04", false, ""},
		{"06-FEB-2025 10:28:04", false, "2025-02-06T10:28:04Z"}, // other case: the layouts accept it
		{"06-Feb-2025 10:28:04.5", false, "2025-02-06T10:28:04.5Z"},
		{" 06-Feb-2025 10:28:04", false, "2025-02-06T10:28:04Z"},
		{"06-Feb-2025 1:28:04", false, "2025-02-06T01:28:04Z"}, // one-digit hour: the layouts accept it
		{"06-Feb-2025  1:28:04", false, "2025-02-06T01:28:04Z"},
		{"06-Feb-2025T10:28:04", false, ""},
		{"06/02/2025 10:28:04", false, ""},
		{"0a-02-2025 10:28:04", false, ""},
		{"06-02-2025 10:28:0x", false, ""},
		{"2025-02-06T10:28:04Z", false, "2025-02-06T10:28:04Z"},
	}
	for _, tt := range tests {
		_, fast := parseEventTimeFast(tt.in)
		if fast != tt.fast {
			t.Errorf("%q: fast path taken = %v, want %v", tt.in, fast, tt.fast)
		}
		for name, parse := range map[string]func(string) (time.Time, error){
			"ParseEventTime":      ParseEventTime,
			"ParseEventTimeBytes": func(s string) (time.Time, error) { return ParseEventTimeBytes([]byte(s)) },
			"layouts only":        parseEventTimeLayouts,
		} {
			got, err := parse(tt.in)
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("%s(%q) = %v, want an error", name, tt.in, got)
			case tt.want != "" && (err != nil || got.Format(time.RFC3339Nano) != tt.want || got.Location() != time.UTC):
				t.Errorf("%s(%q) = %v, %v; want %s UTC", name, tt.in, got, err, tt.want)
			}
		}
	}
}

// Every day of a leap and a common year, and every hour, in both forms,
// against time.Parse, including the error text for invalid dates.
func TestParseEventTimeFastMatchesLayouts(t *testing.T) {
	months := []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	n := 0
	for _, year := range []int{1900, 2000, 2024, 2025} {
		for m := 1; m <= 12; m++ {
			for d := 0; d <= 32; d++ {
				for _, clock := range []string{"00:00:00", "07:08:09", "23:59:59", "24:00:00", "12:60:00", "12:00:60"} {
					for _, s := range []string{
						fmt.Sprintf("%02d-%s-%04d %s", d, months[m-1], year, clock),
						fmt.Sprintf("%02d-%02d-%04d %s", d, m, year, clock),
					} {
						got, err := ParseEventTime(s)
						want, werr := parseEventTimeLayouts(s)
						if !got.Equal(want) || (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
							t.Fatalf("ParseEventTime(%q) = %v, %v; layouts give %v, %v", s, got, err, want, werr)
						}
						n++
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no cases")
	}
}

func TestParseEventTimeBytesAllocs(t *testing.T) {
	b := []byte("06-Feb-2025 10:28:04")
	if a := testing.AllocsPerRun(100, func() { ParseEventTimeBytes(b) }); a != 0 {
		t.Errorf("ParseEventTimeBytes allocates %v times per call, want 0", a)
	}
}

func BenchmarkParseEventTime(b *testing.B) {
	v := []byte("06-Feb-2025 10:28:04")
	for b.Loop() {
		if _, err := ParseEventTimeBytes(v); err != nil {
			b.Fatal(err)
		}
	}
}
