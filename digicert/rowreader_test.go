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
		{"missing comma", `[{"a":"1"} {"b":"2"}]`, 1, 11, "expected ',' or ']' after row 1"},
		{"trailing garbage", `[{"a":"1"}] x`, 1, 12, "after the end of the array"},
		{"second array", `[][]`, 0, 2, "after the end of the array"},
		{"truncated in string", `[{"a":"12`, 0, 9, "unexpected end of input in a string"},
		{"truncated after row", `[{"a":"1"}`, 1, 10, "unexpected end of input"},
		{"truncated in key", `[{"a`, 0, 4, "unexpected end of input in a string"},
		{"unclosed nested, no row after", `[{"a":[1,2}]`, 0, 10, "expected ',' or ']' in an array"},
		{"malformed row, then the end", `[{"a":"1"},{"b":x`, 1, 16, "invalid character 'x'"},
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
	d := NewRowReader(strings.NewReader(`[{"a":"1"} x]`), 0, "")
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
	rows, st, err := readRecovering(strings.NewReader(in), DefaultMaxRowSize)
	if err != nil || len(rows) != 3 || st.Skipped() != 0 {
		t.Fatalf("got %d rows, stats %+v, err %v; want all 3", len(rows), st, err)
	}
	if want := `{"big":"` + big + `","z":"2"}`; rows[1] != want {
		t.Fatalf("big row differs (len %d, want %d)", len(rows[1]), len(want))
	}
}

// readRecovering decodes input and returns the rows, the repair and skip
// counts and the final error.
func readRecovering(r io.Reader, maxRow int, onIssue ...func(RowIssue)) ([]string, RowStats, error) {
	d := NewRowReader(r, 2, "m.json")
	d.SetMaxRowSize(maxRow)
	for _, fn := range onIssue {
		d.OnIssue(fn)
	}
	var rows []string
	for {
		row, err := d.Next()
		if err == io.EOF {
			return rows, d.Stats(), nil
		}
		if err != nil {
			return rows, d.Stats(), err
		}
		if err := checkMembers(row, d.Members(), d.Keys()); err != nil {
			return rows, d.Stats(), err
		}
		rows = append(rows, string(row))
	}
}

// TestRowReaderBadRowCostsOnlyItself: a row that can be repaired is shipped
// repaired; one that cannot is skipped; either way every row after it is
// read, and the first problem is located.
func TestRowReaderBadRowCostsOnlyItself(t *testing.T) {
	deep := `{"a":` + strings.Repeat("[", maxDepth+5) + strings.Repeat("]", maxDepth+5) + `}`
	tests := []struct {
		name   string
		bad    string
		fixed  string // the repaired row; "" = skipped
		kind   IssueKind
		offset int64 // of the problem, from the start of the input
		detail string
	}{
		{"invalid utf-8", "{\"b\":\"x\xff\"}", `{"b":"x` + "\uFFFD" + `"}`, IssueRepairedUTF8, 18, "invalid UTF-8 byte 0xFF"},
		{"utf-8 surrogate", "{\"b\":\"\xed\xa0\x80\"}", `{"b":"` + strings.Repeat("\uFFFD", 3) + `"}`, IssueRepairedUTF8, 17, "invalid UTF-8"},
		{"truncated utf-8", "{\"b\":\"\xe6\x97\",\"c\":\"\xe6\x97\xa5\"}", "{\"b\":\"\uFFFD\uFFFD\",\"c\":\"\xe6\x97\xa5\"}", IssueRepairedUTF8, 17, "invalid UTF-8"},
		{"invalid utf-8 in a key", "{\"k\xc3\":\"v\"}", "{\"k\uFFFD\":\"v\"}", IssueRepairedUTF8, 14, "invalid UTF-8"},
		{"raw tab", "{\"b\":\"x\ty\"}", `{"b":"x\ty"}`, IssueRepairedControl, 18, "control character U+0009"},
		{"raw control", "{\"b\":[\"\x01\",{\"n\":\"\x1f\n\"}]}", `{"b":["\u0001",{"n":"\u001f\n"}]}`, IssueRepairedControl, 18, "control character U+0001"},
		{"over the row size", `{"big":"` + strings.Repeat("x", 300) + `"}`, "", IssueSkippedOversize, 11, "larger than the maximum row size of 200 bytes"},
		{"over the row size, spread", `{"big":[` + strings.Repeat(`"x",`, 100) + `"y"]}`, "", IssueSkippedOversize, 11, "larger than the maximum row size"},
		{"nested too deep", deep, "", IssueSkippedDepth, 1015, "nested deeper than 1000 levels"},
		{"row is a string", `"x"`, "", IssueSkippedUnparseable, 11, "row 2 is a string, not a JSON object"},
		{"row is an array", `[{"a":1},2]`, "", IssueSkippedUnparseable, 11, "row 2 is an array"},
		{"bad escape", `{"b":"\x"}`, "", IssueSkippedUnparseable, 18, "invalid escape 'x'"},
		{"bad escape before a quote", `{"b":"\q\"","c":"}"}`, "", IssueSkippedUnparseable, 18, "invalid escape 'q'"},
		{"bad unicode escape", `{"b":"\u12G4"}`, "", IssueSkippedUnparseable, 17, `invalid \u escape`},
		{"key not string", `{b:"1"}`, "", IssueSkippedUnparseable, 12, "expected a string key"},
		{"missing colon", `{"b" "1"}`, "", IssueSkippedUnparseable, 16, "expected ':'"},
		{"leading zero", `{"b":01}`, "", IssueSkippedUnparseable, 17, "expected ',' or '}'"},
		{"bad literal", `{"b":tru}`, "", IssueSkippedUnparseable, 16, "invalid literal"},
		{"bad value", `{"b":'x'}`, "", IssueSkippedUnparseable, 16, "invalid character"},
		{"missing closing brace", `{"b":"1"`, "", IssueSkippedUnparseable, 20, "expected a string key, found '{'"},
		{"unclosed nested", `{"b":[1,{"c":2]}`, "", IssueSkippedUnparseable, 25, "expected ',' or '}'"},
		{"brackets in strings", `{"b":"]}{[,",x}`, "", IssueSkippedUnparseable, 24, "expected a string key"},
	}
	for _, tt := range tests {
		for cname, chunk := range chunkings {
			t.Run(tt.name+"/"+cname, func(t *testing.T) {
				in := `[{"a":"1"},` + tt.bad + `,{"c":"3"},{"d":"4"}]`
				var issues []RowIssue
				d := NewRowReader(chunk(strings.NewReader(in)), 2, "m.json")
				d.SetMaxRowSize(200)
				d.OnIssue(func(is RowIssue) { issues = append(issues, is) })
				var rows []string
				for {
					row, err := d.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("after %d rows: %v", len(rows), err)
					}
					if err := checkMembers(row, d.Members(), d.Keys()); err != nil {
						t.Fatal(err)
					}
					checkRow(t, row)
					rows = append(rows, string(row))
				}
				want := []string{`{"a":"1"}`, `{"c":"3"}`, `{"d":"4"}`}
				if tt.fixed != "" {
					want = []string{`{"a":"1"}`, tt.fixed, `{"c":"3"}`, `{"d":"4"}`}
				}
				if fmt.Sprint(rows) != fmt.Sprint(want) {
					t.Fatalf("rows %q, want %q", rows, want)
				}
				st := d.Stats()
				var got int64
				switch tt.kind {
				case IssueRepairedUTF8:
					got = st.RepairedUTF8
				case IssueRepairedControl:
					got = st.RepairedControl
				case IssueSkippedOversize:
					got = st.SkippedOversize
				case IssueSkippedDepth:
					got = st.SkippedDepth
				case IssueSkippedUnparseable:
					got = st.SkippedUnparseable
				}
				if got != 1 || st.Repaired()+st.Skipped() != 1 {
					t.Errorf("stats %+v, want one %s", st, tt.kind)
				}
				if len(issues) != 1 || st.First == nil || *st.First != issues[0] {
					t.Fatalf("issues reported %+v, First %+v; want the one, once", issues, st.First)
				}
				is := issues[0]
				if is.Kind != tt.kind || is.Part != 2 || is.Member != "m.json" || is.Offset != tt.offset || !strings.Contains(is.Detail, tt.detail) {
					t.Errorf("issue %+v, want %s at offset %d with %q", is, tt.kind, tt.offset, tt.detail)
				}
			})
		}
	}
}

// TestRowReaderManyBadRows: problems of every kind, repeated, are each
// counted, only the first is reported, and no good row goes missing.
func TestRowReaderManyBadRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	want := 0
	for i := range 300 {
		if i > 0 {
			b.WriteString(",")
		}
		switch i % 5 {
		case 1:
			b.WriteString("{\"u\":\"\xfe\"}")
		case 2:
			b.WriteString("{\"c\":\"\x02\"}")
		case 3:
			b.WriteString(`{"x":nope}`)
		default:
			fmt.Fprintf(&b, `{"i":"%d"}`, i)
			want++
		}
	}
	b.WriteString("]")
	calls := 0
	rows, st, err := readRecovering(strings.NewReader(b.String()), DefaultMaxRowSize, func(RowIssue) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	good := 0
	for _, row := range rows {
		if strings.HasPrefix(row, `{"i":`) {
			good++
		}
	}
	if good != want || st.RepairedUTF8 != 60 || st.RepairedControl != 60 || st.SkippedUnparseable != 60 || calls != 1 {
		t.Fatalf("good rows %d (want %d), stats %+v, issue calls %d", good, want, st, calls)
	}
}

// TestRowReaderOversizeRowMemory: a huge row is read past, not held.
func TestRowReaderOversizeRowMemory(t *testing.T) {
	huge := strings.Repeat(`"k":"v",`, 4<<20) // 32 MiB of members
	in := `[{` + huge + `"z":"1"},{"a":"2"}]`
	rows, st, err := readRecovering(strings.NewReader(in), 1<<20)
	if err != nil || len(rows) != 1 || rows[0] != `{"a":"2"}` || st.SkippedOversize != 1 {
		t.Fatalf("rows %d, stats %+v, err %v", len(rows), st, err)
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
