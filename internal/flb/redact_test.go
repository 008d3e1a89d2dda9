package flb

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestRedactorEveryForm(t *testing.T) {
	const key = "Ab+/cD=e f\"g"
	var r Redactor
	r.Add("  " + key + "\n") // config values arrive untrimmed
	js, _ := json.Marshal(key)
	for _, s := range []string{
		key, url.QueryEscape(key), url.PathEscape(key), lowerHex(url.QueryEscape(key)),
		fmt.Sprintf("%q", key), string(js),
	} {
		line := "before " + s + " after"
		got := r.Redact(line)
		if strings.Contains(got, "cD=e") || !strings.Contains(got, Redacted) {
			t.Errorf("%q → %q", line, got)
		}
	}
	if got := r.Redact("nothing secret here"); got != "nothing secret here" {
		t.Errorf("changed a clean line: %q", got)
	}
}

func TestRedactorLongestFirstAndEmpty(t *testing.T) {
	var r Redactor
	if got := r.Redact("abc"); got != "abc" {
		t.Errorf("empty redactor changed %q", got)
	}
	r.Add("")
	r.Add("   ")
	r.Add("pass")
	r.Add("user:pass")
	if got := r.Redact("http://user:pass@h and pass"); got != "http://"+Redacted+"@h and "+Redacted {
		t.Errorf("got %q", got)
	}
	var nilR *Redactor
	if nilR.Redact("x") != "x" {
		t.Error("nil redactor")
	}
}
