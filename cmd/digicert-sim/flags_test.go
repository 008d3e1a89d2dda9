package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

func TestParseFlags(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(o *options) bool
		wantErr string
	}{
		{"env key and defaults", map[string]string{"DIGICERT_SIM_API_KEY": "k"}, nil, func(o *options) bool {
			c := o.cfg
			return c.APIKey == "k" && o.listen == ":8080" && c.Speed == 1 && c.Window == 24*time.Hour &&
				len(c.Reports) == 1 && c.Reports[0] == digicertsim.DefaultReportID && c.ZipThreshold == 2<<20
		}, ""},
		{"flag beats env", map[string]string{"DIGICERT_SIM_API_KEY": "k", "DIGICERT_SIM_SPEED": "10"},
			[]string{"-speed", "60", "-reports", "a, b", "-date-format", "numeric", "-start", "2025-02-06T10:00:00Z"},
			func(o *options) bool {
				c := o.cfg
				return c.Speed == 60 && len(c.Reports) == 2 && c.Reports[1] == "b" && c.DateFormat == "numeric" &&
					c.Start.Equal(time.Date(2025, 2, 6, 10, 0, 0, 0, time.UTC))
			}, ""},
		{"key file", nil, []string{"-api-key-file", keyFile}, func(o *options) bool { return o.cfg.APIKey == "from-file" }, ""},
		{"no key", nil, nil, nil, "api key required"},
		{"faults", map[string]string{"DIGICERT_SIM_API_KEY": "k", "DIGICERT_SIM_FAULTS": "bad-row,row=deep,times=2; trickle,rate=10"}, nil, func(o *options) bool {
			f := o.parsedFaults
			return len(f) == 2 && f[0].Kind == digicertsim.FaultBadRow && f[0].Row == "deep" && f[0].Times == 2 &&
				f[1].Kind == digicertsim.FaultTrickle && f[1].Rate == 10
		}, ""},
		{"bad fault", map[string]string{"DIGICERT_SIM_API_KEY": "k"}, []string{"-faults", "bad-row,row=odd"}, nil, "faults: fault"},
		{"bad date format", map[string]string{"DIGICERT_SIM_API_KEY": "k"}, []string{"-date-format", "iso"}, nil, "date-format"},
		{"bad env value", map[string]string{"DIGICERT_SIM_API_KEY": "k", "DIGICERT_SIM_WINDOW": "soon"}, nil, nil, "DIGICERT_SIM_WINDOW"},
		{"bad order", map[string]string{"DIGICERT_SIM_API_KEY": "k"}, []string{"-history-order", "random"}, nil, "history-order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DIGICERT_SIM_API_KEY", "")
			os.Unsetenv("DIGICERT_SIM_API_KEY")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			o, err := parseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(o) {
				t.Fatalf("err %v, or options not as expected", err)
			}
		})
	}
}
