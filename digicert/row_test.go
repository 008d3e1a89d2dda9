package digicert

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type field struct{ key, value string }

func fieldsOf(t *testing.T, r Row) []field {
	t.Helper()
	var got []field
	if err := r.Fields(func(k string, v []byte) error {
		got = append(got, field{k, string(v)})
		return nil
	}); err != nil {
		t.Fatalf("Fields(%s): %v", r, err)
	}
	return got
}

func TestRowFields(t *testing.T) {
	tests := []struct {
		name string
		row  string
		want []field
	}{
		{"empty", `{}`, nil},
		{"empty with spaces", " { \n } ", nil},
		{"strings in order", `{"b":"2","a":"1","c":""}`, []field{{"b", `"2"`}, {"a", `"1"`}, {"c", `""`}}},
		{"whitespace kept out", "{ \"a\" :\t\"1\" ,\n\"b\":2 }", []field{{"a", `"1"`}, {"b", "2"}}},
		{"escaped key", `{"Date and time \u0028UTC\u0029":"x","q\"k":"y","n\nl":1}`, []field{{"Date and time (UTC)", `"x"`}, {`q"k`, `"y"`}, {"n\nl", "1"}}},
		{"surrogate pair key", `{"\ud83d\ude00":1,"\ud800":2}`, []field{{"😀", "1"}, {"\uFFFD", "2"}}},
		{"value escapes stay raw", `{"a":"x\"y\\z\n"}`, []field{{"a", `"x\"y\\z\n"`}}},
		{"long strings", `{"` + strings.Repeat("k", 40) + `":"` + strings.Repeat("v\\\"", 30) + `"}`, []field{{strings.Repeat("k", 40), `"` + strings.Repeat("v\\\"", 30) + `"`}}},
		{"other types", `{"n":-1.5e3,"t":true,"f":false,"z":null,"o":{"x":[1,"]}"]},"a":[{"y":"}"}]}`,
			[]field{{"n", "-1.5e3"}, {"t", "true"}, {"f", "false"}, {"z", "null"}, {"o", `{"x":[1,"]}"]}`}, {"a", `[{"y":"}"}]`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldsOf(t, Row(tt.row))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("fields = %q\nwant     %q", got, tt.want)
			}
		})
	}
}

func TestRowFieldsMalformed(t *testing.T) {
	for _, in := range []string{"", "[]", `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":"1"`, `{"a":"1",}`, `{"a":"1" "b":"2"}`, `{"a":[1,2}`, `{"a":"\`, `{"a":1`, `{"a`, `{1:2}`} {
		err := Row(in).Fields(func(string, []byte) error { return nil })
		if !errors.Is(err, errNotObject) {
			t.Errorf("Fields(%q) = %v, want errNotObject", in, err)
		}
	}
}

func TestRowFieldsStopsOnCallbackError(t *testing.T) {
	stop := errors.New("enough")
	n := 0
	err := Row(`{"a":1,"b":2,"c":3}`).Fields(func(k string, _ []byte) error {
		n++
		if k == "b" {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("err %v after %d calls, want the callback's error after 2", err, n)
	}
}

func TestRowFieldsSharesKeys(t *testing.T) {
	// Keys come from a shared table: Fields on a repeated key set does
	// not allocate.
	r := Row(`{"Account ID":"1","Action":"x","Date and time (UTC)":"06-Feb-2025 10:28:04"}`)
	fieldsOf(t, r)
	allocs := testing.AllocsPerRun(100, func() {
		r.Fields(func(string, []byte) error { return nil })
	})
	if allocs != 0 {
		t.Fatalf("Fields allocated %.1f times per row, want 0", allocs)
	}
}

func TestRowEventTime(t *testing.T) {
	want := time.Date(2025, 2, 6, 10, 28, 4, 0, time.UTC)
	tests := []struct {
		name    string
		row     string
		want    time.Time
		wantErr string
		noTime  bool
	}{
		{"name month", `{"Action":"x","Date and time (UTC)":"06-Feb-2025 10:28:04"}`, want, "", false},
		{"numeric month", `{"Date and time (UTC)":"06-02-2025 10:28:04"}`, want, "", false},
		{"rfc3339", `{"Date and time (UTC)":"2025-02-06T11:28:04+01:00"}`, want, "", false},
		{"escaped key and value", `{"Date and time \u0028UTC)":"06-Feb-2025\u002010:28:04"}`, want, "", false},
		{"missing", `{"Action":"x"}`, time.Time{}, "", true},
		{"empty value", `{"Date and time (UTC)":""}`, time.Time{}, "not in a known format", false},
		{"garbage value", `{"Date and time (UTC)":"yesterday"}`, time.Time{}, `"yesterday" is not in a known format`, false},
		{"number value", `{"Date and time (UTC)":1738837684}`, time.Time{}, "not a JSON string", false},
		{"null value", `{"Date and time (UTC)":null}`, time.Time{}, "not a JSON string", false},
		{"malformed row", `{"Date and time (UTC)"`, time.Time{}, "not a well-formed JSON object", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Row(tt.row).EventTime()
			switch {
			case tt.noTime:
				if !errors.Is(err, ErrNoEventTime) {
					t.Fatalf("err = %v, want ErrNoEventTime", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			default:
				if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
					t.Fatalf("EventTime = %v, %v; want %v UTC", got, err, tt.want)
				}
			}
		})
	}
}

func TestParseEventTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339, or "" for an error
	}{
		{"06-Feb-2025 10:28:04", "2025-02-06T10:28:04Z"},
		{"06-feb-2025 10:28:04", "2025-02-06T10:28:04Z"},
		{"  06-Feb-2025 10:28:04\n", "2025-02-06T10:28:04Z"},
		{"12-10-2024 10:00:00", "2024-10-12T10:00:00Z"},
		{"2025-02-06T10:28:04Z", "2025-02-06T10:28:04Z"},
		{"2025-02-06T10:28:04.5-07:00", "2025-02-06T17:28:04.5Z"},
		{"2025-02-06 10:28:04", "2025-02-06T10:28:04Z"},
		{"31-Feb-2025 10:28:04", ""},
		{"06-Feb-2025", ""},
		{"06-13-2025 10:00:00", ""},
		{"", ""},
		{"\xff\xfe", ""},
		{strings.Repeat("9", 1000), ""},
	}
	for _, tt := range tests {
		got, err := ParseEventTime(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseEventTime(%q) = %v, want an error", tt.in, got)
			} else if len(err.Error()) > 300 {
				t.Errorf("error for a long value is %d bytes long", len(err.Error()))
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339Nano) != tt.want {
			t.Errorf("ParseEventTime(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
