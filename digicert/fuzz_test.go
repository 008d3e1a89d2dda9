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
	"unicode/utf8"

	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

// decodeOutcome is everything a decode produced, for comparing runs.
type decodeOutcome struct {
	rows  []string
	stats RowStats
	err   error
}

func decodeBytes(r io.Reader) decodeOutcome { return decodeRows(NewRowReader(r, 0, "")) }

// decodePiped decodes r as Rows reads a ZIP member, through a blockPipe;
// with tiny blocks, rows, strings and escapes straddle blocks.
func decodePiped(r io.Reader, blockSize, blocks int) decodeOutcome {
	p := newBlockPipe(blockSize, blocks)
	p.start(r)
	defer p.halt()
	d := NewRowReader(nil, 0, "")
	d.resetInput(p, 0, "")
	return decodeRows(d)
}

func decodeRows(d *RowReader) (out decodeOutcome) {
	d.SetMaxRowSize(4096)
	defer func() { out.stats = d.Stats() }()
	for {
		row, err := d.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			out.err = err
			return out
		}
		if err := checkMembers(row, d.Members(), d.Keys()); err != nil {
			out.err = err
			return out
		}
		out.rows = append(out.rows, string(row))
	}
}

// checkMembers compares the decoder's member offsets with the members the
// row's own walker finds: same keys, values and escape flags, in order, and
// an interned key's text is the key.
func checkMembers(row Row, ms []Member, keys *jsonbytes.Keys) error {
	i := 0
	err := row.members(func(rawKey []byte, escaped bool, value []byte) error {
		if i >= len(ms) {
			return fmt.Errorf("members: only %d recorded, row has more", len(ms))
		}
		m := ms[i]
		i++
		if m.KeyStart > m.KeyEnd || m.KeyEnd > m.ValueStart || m.ValueStart > m.ValueEnd || int(m.ValueEnd) > len(row) {
			return fmt.Errorf("member %d: offsets out of order or range: %+v", i, m)
		}
		strEscaped := value[0] == '"' && bytes.IndexByte(value, '\\') >= 0
		if k, v := row[m.KeyStart:m.KeyEnd], row[m.ValueStart:m.ValueEnd]; !bytes.Equal(k, rawKey) || !bytes.Equal(v, value) ||
			m.ValueEscaped != strEscaped {
			return fmt.Errorf("member %d: recorded key %q value %q value escaped %v, want %q %q %v", i, k, v, m.ValueEscaped, rawKey, value, strEscaped)
		}
		if m.KeyID != 0 && (escaped || int(m.KeyID) > keys.Len() || !bytes.Equal(keys.Key(m.KeyID), rawKey)) {
			return fmt.Errorf("member %d: key %q has id %d, which is %q", i, rawKey, m.KeyID, keys.Key(m.KeyID))
		}
		return nil
	})
	if err == nil && i != len(ms) {
		err = fmt.Errorf("members: %d recorded, row has %d", len(ms), i)
	}
	return err
}

// FuzzRowReader checks the decoder against encoding/json: every row it
// yields is a valid, UTF-8 JSON object whose members Fields reports exactly
// as encoding/json sees them; input it reads without repair or skip is
// valid JSON, and with repairs only, the input repaired is (row for row);
// valid UTF-8 input that is an array of objects is accepted with every row
// and nothing counted; a good row after a bad one is still read; and the
// result does not depend on how the input is split into reads.
func FuzzRowReader(f *testing.F) {
	seeds := []string{
		`[]`,
		`[{"a":"1"},{"b":"2"}]`,
		"\xEF\xBB\xBF[ {\"a\" : \"x\\ny\" } ]\n",
		`[{"Date and time (UTC)":"06-Feb-2025 10:28:04","Activity":"User SSO login #9999999\nLogged through SAML SSO"}]`,
		`[{"n":-0.5e-3,"t":true,"f":false,"z":null,"o":{"a":[1,{"b":[]}]}}]`,
		`[{"k\"\\\/\b\f\n\r\t":"\u00e9\ud83d\ude00\ud800"}]`,
		`[{"Zoë":"日本語 😀"}]`,
		`[{"ab":"1","c":"2"},{"ab\"":"2","c":"3"},{"a":"3","ab":"x"},{"abc":"4"},{"ab" :"5"}]`,
		`{"errors":[{"code":"x","message":"y"}]}`,
		`[{"a":"1"},]`,
		`[{"a":01}]`,
		"[{\"a\":\"\xff\"}]",
		"[{\"a\":\"\t\"}]",
		"[{\"a\":\"\x01\xc3\"},{\"b\":\"\xe6\x97\"}]",
		`[{"a":"1"}] [`,
		`[{"a":[1,2}]`,
		`[{"a":1e+}]`,
		`[{"a":"1"},{"b":x},{"c":"3"}]`,
		`[{"a":"1"},{"b":"2",{"c":"3"}]`,
		`[{"a":"1"},{"b":"` + strings.Repeat("x", 5000) + `"},{"c":"3"}]`,
		`[{"a":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `},{"c":"3"}]`,
		`["x"]`,
		``,
	}
	g := newAuditRowGen(11)
	seeds = append(seeds, "["+string(g.appendRow(nil))+",\n"+string(g.appendRow(nil))+"]")
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := decodeBytes(bytes.NewReader(in))
		bytewise := decodeBytes(iotest.OneByteReader(bytes.NewReader(in)))
		if strings.Join(whole.rows, "\x00") != strings.Join(bytewise.rows, "\x00") || errString(whole.err) != errString(bytewise.err) ||
			!sameStats(whole.stats, bytewise.stats) {
			t.Fatalf("result depends on read sizes:\nwhole:    %q %+v %v\nbytewise: %q %+v %v", whole.rows, whole.stats, whole.err, bytewise.rows, bytewise.stats, bytewise.err)
		}
		// Through the inflating goroutine's blocks, whatever their size, and
		// with a read error after the last byte (a CRC mismatch, say): the
		// same rows, counts and error, at the same offset.
		failing := func() io.Reader {
			return io.MultiReader(bytes.NewReader(in), iotest.ErrReader(errors.New("zip: checksum error")))
		}
		failed := decodeBytes(failing())
		for _, b := range []struct{ size, count int }{{1, 2}, {5, 4}, {64 << 10, 4}} {
			for _, c := range []struct {
				piped, want decodeOutcome
			}{{decodePiped(bytes.NewReader(in), b.size, b.count), whole}, {decodePiped(failing(), b.size, b.count), failed}} {
				if strings.Join(c.piped.rows, "\x00") != strings.Join(c.want.rows, "\x00") || errString(c.piped.err) != errString(c.want.err) ||
					!sameStats(c.piped.stats, c.want.stats) {
					t.Fatalf("through %d %d-byte blocks:\npiped: %q %+v %v\nwant:  %q %+v %v", b.count, b.size, c.piped.rows, c.piped.stats, c.piped.err, c.want.rows, c.want.stats, c.want.err)
				}
			}
		}
		for _, row := range whole.rows {
			checkRow(t, Row(row))
		}
		body := bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
		st := whole.stats
		if whole.err == nil && st.Skipped() == 0 {
			if st.Repaired() > 0 {
				body = appendRepaired(nil, body)
			}
			var elems []json.RawMessage
			if err := json.Unmarshal(body, &elems); err != nil {
				t.Fatalf("accepted input that encoding/json rejects (repaired: %v): %v", st.Repaired() > 0, err)
			}
			if len(elems) != len(whole.rows) {
				t.Fatalf("yielded %d rows, encoding/json sees %d elements", len(whole.rows), len(elems))
			}
			if st.Repaired() > 0 {
				for i := range elems {
					if string(elems[i]) != whole.rows[i] {
						t.Fatalf("row %d is %q, the repaired input has %q", i, whole.rows[i], elems[i])
					}
				}
			}
		}
		if (st.Repaired() > 0 || st.Skipped() > 0) && st.First == nil {
			t.Fatalf("stats %+v without a first issue", st)
		}
		if whole.err != nil {
			var de *DecodeError
			if !errors.As(whole.err, &de) || de.Offset < 0 || de.Offset > int64(len(in)) {
				t.Fatalf("error %v is not a DecodeError with an offset inside the input", whole.err)
			}
		}
		var elems []json.RawMessage
		if utf8.Valid(body) && json.Unmarshal(body, &elems) == nil && whole.stats.Repaired() == 0 {
			allObjects := true
			for _, e := range elems {
				allObjects = allObjects && len(e) > 0 && e[0] == '{' && len(e) <= 4096 && nesting(e) <= maxDepth
			}
			if allObjects && (whole.err != nil || st.Skipped() != 0 || len(whole.rows) != len(elems)) {
				t.Fatalf("a valid array of objects gave %d of %d rows, stats %+v, err %v", len(whole.rows), len(elems), st, whole.err)
			}
		}
		// The same input as one row between two good ones: whatever
		// happens to it, a good row after it is read (unless it ends the
		// body, or leaves a string or bracket open for good).
		if len(in) > 0 && !bytes.ContainsAny(in, "[]{}\"\\") && utf8.Valid(in) {
			framed := append(append([]byte(`[{"a":"1"},{"b":"`), in...), `"},{"z":"9"}]`...)
			out := decodeBytes(bytes.NewReader(framed))
			if out.err != nil || len(out.rows) < 2 || out.rows[len(out.rows)-1] != `{"z":"9"}` {
				t.Fatalf("good row after %q lost: rows %q, err %v", in, out.rows, out.err)
			}
		}
	})
}

// nesting is the deepest bracket nesting of a valid JSON text.
func nesting(v []byte) int {
	depth, deepest, in, esc := 0, 0, false, false
	for _, c := range v {
		switch {
		case in && esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case in:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func sameStats(a, b RowStats) bool {
	if (a.First == nil) != (b.First == nil) || (a.First != nil && *a.First != *b.First) {
		return false
	}
	a.First, b.First = nil, nil
	return a == b
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkRow asserts the invariants of one yielded row.
func checkRow(t *testing.T, row Row) {
	t.Helper()
	if !json.Valid(row) || !utf8.Valid(row) || row[0] != '{' || row[len(row)-1] != '}' {
		t.Fatalf("yielded row is not a valid UTF-8 JSON object: %q", row)
	}
	type member struct {
		key   string
		value string
	}
	var ours []member
	if err := row.Fields(func(k string, v []byte) error {
		if !json.Valid(v) {
			t.Fatalf("Fields value %q of key %q is not valid JSON", v, k)
		}
		ours = append(ours, member{k, string(v)})
		return nil
	}); err != nil {
		t.Fatalf("Fields on a yielded row: %v (%q)", err, row)
	}
	dec := json.NewDecoder(bytes.NewReader(row))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("encoding/json: %v %v", tok, err)
	}
	var theirs []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("encoding/json key: %v", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("encoding/json value: %v", err)
		}
		theirs = append(theirs, member{tok.(string), string(v)})
	}
	if len(ours) != len(theirs) {
		t.Fatalf("Fields gave %d members, encoding/json %d: %q vs %q", len(ours), len(theirs), ours, theirs)
	}
	for i := range ours {
		if ours[i] != theirs[i] {
			t.Fatalf("member %d: Fields %q, encoding/json %q", i, ours[i], theirs[i])
		}
	}
}
