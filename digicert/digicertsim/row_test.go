package digicertsim

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"line1\nline2\r\n\tx", `"line1\nline2\r\n\tx"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"李雷 🚀 </script>&", `"李雷 🚀 </script>&"`},
		{"Adjustment/Ledger ID", `"Adjustment/Ledger ID"`},
	}
	for _, tc := range tests {
		got := string(appendJSONString(nil, tc.in))
		if got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != tc.in {
			t.Errorf("%q: round trip %q, %v", tc.in, back, err)
		}
	}
}
