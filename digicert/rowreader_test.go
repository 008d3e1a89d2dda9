package digicert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAllRows decodes input and returns copies of the rows and the final
// error (nil at a clean end).
func readAllRows(r io.Reader, maxRow int) ([]string, error) {
	d := NewRowReader(r, 2, "m.json")
	d.SetMaxRowSize(maxRow)
	var rows []string
	for {
		row, err := d.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, string(row))
	}
}

// chunkings feed the same input in different read sizes, so that every
// token also straddles buffer refills.
var chunkings = map[string]func(io.Reader) io.Reader{
	"whole":   func(r io.Reader) io.Reader { return r },
	"onebyte": iotest.OneByteReader,
	"half":    iotest.HalfReader,
}

func TestRowReaderValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty array", `[]`, nil},
		{"empty array with spaces", " \n[ \t]\r\n ", nil},
		{"one compact row", `[{"a":"1"}]`, []string{`{"a":"1"}`}},
		{"rows keep their bytes", "[\n  {\"a\" : \"1\" ,\n \"b\":\"\"},\n{}\n]\n", []string{"{\"a\" : \"1\" ,\n \"b\":\"\"}", `{}`}},
		{"escapes", `[{"k\"ey":"a\\b\/c\b\f\n\r\t\u00e9\uD83D\uDE00"}]`, []string{`{"k\"ey":"a\\b\/c\b\f\n\r\t\u00e9\uD83D\uDE00"}`}},
		{"utf-8", `[{"Name":"Zoë 日本 😀"}]`, []string{`{"Name":"Zoë 日本 😀"}`}},
		{"numbers", `[{"a":0,"b":-1,"c":12.5e+3,"d":1E-2,"e":-0.0}]`, []string{`{"a":0,"b":-1,"c":12.5e+3,"d":1E-2,"e":-0.0}`}},
		{"literals", `[{"a":true,"b":false,"c":null}]`, []string{`{"a":true,"b":false,"c":null}`}},
		{"nested", `[{"a":{"b":[1,{"c":[]},"x"]},"d":[]}]`, []string{`{"a":{"b":[1,{"c":[]},"x"]},"d":[]}`}},
		{"byte order mark", "\xEF\xBB\xBF[{\"a\":\"1\"}]", []string{`{"a":"1"}`}},
		{"newline inside value", `[{"Activity":"User SSO login #9999999\nLogged through SAML SSO"}]`, []string{`{"Activity":"User SSO login #9999999\nLogged through SAML SSO"}`}},
	}
	for _, tt := range tests {
		for cname, chunk := range chunkings {
			t.Run(tt.name+"/"+cname, func(t *testing.T) {
				got, err := readAllRows(chunk(strings.NewReader(tt.in)), DefaultMaxRowSize)
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if strings.Join(got, "|") != strings.Join(tt.want, "|") {
					t.Fatalf("rows = %q, want %q", got, tt.want)
				}
				for _, r := range got {
					if !json.Valid([]byte(r)) {
						t.Errorf("row %q is not valid JSON", r)
					}
				}
			})
		}
	}
}

func TestRowReaderErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		rowsOK   int    // rows returned before the error
		offset   int64  // byte offset the error names
		contains string // in the error text
	}{
		{"empty input", "", 0, 0, "empty input"},
		{"only spaces", "  \n", 0, 3, "empty input"},
		{"top-level object", `{"errors":[]}`, 0, 0, "JSON object, not an array of rows"},
		{"html page", "<html>502</html>", 0, 0, "HTML"},
		{"top-level string", `"x"`, 0, 0, "expected a JSON array"},
		{"row is a string", `[{"a":"1"},"x"]`, 1, 11, "row 2 is a string, not a JSON object"},
		{"row is an array", `[[1]]`, 0, 1, "row 1 is an array"},
		{"missing comma", `[{"a":"1"} {"b":"2"}]`, 1, 11, "expected ',' or ']' after row 1"},
		{"trailing comma", `[{"a":"1"},]`, 1, 11, "row 2 is ']'"},
		{"trailing garbage", `[{"a":"1"}] x`, 1, 12, "after the end of the array"},
		{"second array", `[][]`, 0, 2, "after the end of the array"},
		{"truncated in string", `[{"a":"12`, 0, 9, "unexpected end of input in a string"},
		{"truncated after row", `[{"a":"1"}`, 1, 10, "unexpected end of input"},
		{"truncated in key", `[{"a`, 0, 4, "unexpected end of input in a string"},
		{"invalid utf-8", "[{\"a\":\"ok\"},{\"b\":\"x\xff\"}]", 1, 19, "invalid UTF-8 byte 0xFF"},
		{"utf-8 surrogate", "[{\"a\":\"\xed\xa0\x80\"}]", 0, 7, "invalid UTF-8"},
		{"truncated utf-8", "[{\"a\":\"\xe6\x97\"}]", 0, 7, "invalid UTF-8"},
		{"raw control char", "[{\"a\":\"x\ty\"}]", 0, 8, "control character U+0009"},
		{"bad escape", `[{"a":"\x"}]`, 0, 8, "invalid escape 'x'"},
		{"bad unicode escape", `[{"a":"\u12G4"}]`, 0, 7, "invalid \\u escape"},
		{"key not string", `[{a:"1"}]`, 0, 2, "expected a string key"},
		{"missing colon", `[{"a" "1"}]`, 0, 6, "expected ':'"},
		{"leading zero", `[{"a":01}]`, 0, 7, "expected ',' or '}'"},
		{"bare minus", `[{"a":-}]`, 0, 7, "expected a digit"},
		{"dot without digits", `[{"a":1.}]`, 0, 8, "expected a digit"},
		{"exponent without digits", `[{"a":1e}]`, 0, 8, "expected a digit"},
		{"bad literal", `[{"a":tru}]`, 0, 6, "invalid literal"},
		{"bad value", `[{"a":'x'}]`, 0, 6, "invalid character"},
		{"unclosed nested", `[{"a":[1,2}]`, 0, 10, "expected ',' or ']' in an array"},
	}
	for _, tt := range tests {
		for cname, chunk := range chunkings {
			t.Run(tt.name+"/"+cname, func(t *testing.T) {
				rows, err := readAllRows(chunk(strings.NewReader(tt.in)), DefaultMaxRowSize)
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error = %v, want a *DecodeError", err)
				}
				if len(rows) != tt.rowsOK {
					t.Errorf("got %d rows before the error, want %d", len(rows), tt.rowsOK)
				}
				if de.Offset != tt.offset || de.Part != 2 || de.Member != "m.json" {
					t.Errorf("error at part %d member %q offset %d, want part 2 member m.json offset %d (%v)", de.Part, de.Member, de.Offset, tt.offset, err)
				}
				if !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), `ZIP member "m.json"`) {
					t.Errorf("error %q lacks %q or the member name", err, tt.contains)
				}
			})
		}
	}
}

func TestRowReaderErrorIsSticky(t *testing.T) {
	d := NewRowReader(strings.NewReader(`[{"a":"1"},{"a":x}]`), 0, "")
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := d.Next()
	_, err2 := d.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v, want the same error twice", err1, err2)
	}
	if strings.Contains(err1.Error(), "member") {
		t.Errorf("plain body error should not name a member: %v", err1)
	}
}

func TestRowReaderReadError(t *testing.T) {
	boom := errors.New("connection lost")
	r := io.MultiReader(strings.NewReader(`[{"a":"1"},{"b":`), iotest.ErrReader(boom))
	rows, err := readAllRows(r, DefaultMaxRowSize)
	if len(rows) != 1 || !errors.Is(err, boom) {
		t.Fatalf("rows %q, err %v; want 1 row and the read error", rows, err)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Offset != 16 {
		t.Fatalf("err %v: want a DecodeError at offset 16", err)
	}
}

func TestRowReaderRowsBeforeErrorStayValid(t *testing.T) {
	d := NewRowReader(strings.NewReader(`[{"a":"first"},{"b":"second"},{"c":`), 0, "")
	r1, _ := d.Next()
	keep := bytes.Clone(r1)
	r2, _ := d.Next()
	keep2 := bytes.Clone(r2)
	if _, err := d.Next(); err == nil {
		t.Fatal("want an error for the truncated third row")
	}
	if string(keep) != `{"a":"first"}` || string(keep2) != `{"b":"second"}` {
		t.Fatalf("copied rows changed: %s %s", keep, keep2)
	}
}

func TestRowReaderLargeString(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	in := `[{"a":"1"},{"big":"` + big + `","z":"2"},{"c":"3"}]`
	for _, tt := range []struct {
		name    string
		maxRow  int
		rows    int
		wantErr string
	}{
		{"default limit", DefaultMaxRowSize, 3, ""},
		{"row over the limit", 1 << 20, 1, "row 2 is larger than the maximum row size of 1048576 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := readAllRows(strings.NewReader(in), tt.maxRow)
			if len(rows) != tt.rows {
				t.Fatalf("got %d rows, want %d (err %v)", len(rows), tt.rows, err)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := `{"big":"` + big + `","z":"2"}`; rows[1] != want {
					t.Fatalf("big row differs (len %d, want %d)", len(rows[1]), len(want))
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.wantErr) || de.Offset != 11 {
				t.Fatalf("err = %v, want %q at offset 11", err, tt.wantErr)
			}
		})
	}
}

func TestRowReaderDeepNesting(t *testing.T) {
	in := `[{"a":` + strings.Repeat("[", maxDepth+5) + strings.Repeat("]", maxDepth+5) + `}]`
	_, err := readAllRows(strings.NewReader(in), DefaultMaxRowSize)
	if err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("err = %v, want a nesting error", err)
	}
}

func TestRowReaderReuse(t *testing.T) {
	d := NewRowReader(strings.NewReader(`[{"a":"1"}]`), 0, "")
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	d.reset(strings.NewReader(`[{"b":"2"},{"c":"3"}]`), 1, "x.json")
	rows := 0
	for {
		row, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		if !json.Valid(row) {
			t.Fatalf("invalid row %s", row)
		}
	}
	if rows != 2 || d.Offset() != 21 {
		t.Fatalf("rows %d offset %d after reset, want 2 rows and offset 21", rows, d.Offset())
	}
}

// Keys change from row to row and the key table fills up in the middle of a
// row: every recorded id still names its key (ids from before the table
// started over are dropped).
func TestRowReaderKeyIDs(t *testing.T) {
	var body strings.Builder
	body.WriteString("[")
	for r := 0; r < 3; r++ {
		if r > 0 {
			body.WriteString(",")
		}
		body.WriteString("{")
		for i := 0; i < 3000; i++ {
			if i > 0 {
				body.WriteString(",")
			}
			fmt.Fprintf(&body, `"k%d_%d":"v"`, r%2, i) // rows 0 and 2 repeat their keys
		}
		body.WriteString("}")
	}
	body.WriteString("]")
	d := NewRowReader(strings.NewReader(body.String()), 0, "")
	gens := map[uint64]bool{}
	for n := 0; ; n++ {
		row, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMembers(row, d.Members(), d.Keys()); err != nil {
			t.Fatalf("row %d: %v", n, err)
		}
		gens[d.Keys().Gen()] = true
		ided := 0
		for _, m := range d.Members() {
			if m.KeyID != 0 {
				ided++
			}
		}
		if ided == 0 {
			t.Fatalf("row %d: no key has an id", n)
		}
	}
	if len(gens) < 2 {
		t.Fatalf("the key table never started over (generations %v)", gens)
	}
}
