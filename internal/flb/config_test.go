package flb

import (
	"strings"
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	tests := []struct {
		in      string
		def     bool
		want    bool
		wantErr bool
	}{
		{"", true, true, false},
		{"", false, false, false},
		{"On", false, true, false},
		{"yes", false, true, false},
		{"TRUE", false, true, false},
		{"1", false, true, false},
		{"off", true, false, false},
		{"No", true, false, false},
		{"false", true, false, false},
		{"0", true, false, false},
		{"maybe", true, false, true},
	}
	for _, tt := range tests {
		got, err := ParseBool("add_metadata", tt.in, tt.def)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseBool(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "add_metadata") {
				t.Errorf("error %q does not name the key", err)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("ParseBool(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", time.Minute, false},
		{"30", 30 * time.Second, false},
		{"1.5", 1500 * time.Millisecond, false},
		{"45s", 45 * time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"1h", time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"2d", 48 * time.Hour, false},
		{"500ms", 500 * time.Millisecond, false},
		{"-5s", 0, true},
		{"-5", 0, true},
		{"soon", 0, true},
		{"5x", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration("interval", tt.in, time.Minute)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseDuration(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "interval: ") {
				t.Errorf("error %q does not start with the key", err)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"", 42, false},
		{"100", 100, false},
		{"512K", 512000, false},
		{"32M", 32000000, false},
		{"32MB", 32000000, false},
		{"1G", 1000000000, false},
		{"64MiB", 64 << 20, false},
		{"1.5M", 1500000, false},
		{"2 KiB", 2048, false},
		{"12Q", 0, true},
		{"lots", 0, true},
		{"-1", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize("buffer_size", tt.in, 42)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseSize(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "buffer_size: ") {
				t.Errorf("error %q does not start with the key", err)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestMapConfigCaseInsensitive(t *testing.T) {
	m := MapConfig{"Report_ID": "abc"}
	if got := m.Get("report_id"); got != "abc" {
		t.Fatalf("Get(report_id) = %q, want abc", got)
	}
	if got := m.Get("missing"); got != "" {
		t.Fatalf("Get(missing) = %q, want empty", got)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		args []any
		want string
	}{
		{[]any{"rows", 3, "report", "a b"}, `run done rows=3 report="a b"`},
		{[]any{"empty", "", "quote", `a"b`}, `run done empty="" quote="a\"b"`},
		{[]any{"rows"}, `run done !extra=rows`},
	} {
		if got := Format("run done", c.args...); got != c.want {
			t.Errorf("Format(%v) = %q, want %q", c.args, got, c.want)
		}
	}
}
