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
	rows []string
	err  error
}

func decodeBytes(r io.Reader) decodeOutcome {
	var out decodeOutcome
	d := NewRowReader(r, 0, "")
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
// as encoding/json sees them; input it accepts is valid JSON; valid UTF-8
// input that is an array of objects is accepted with every row; and the
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
		`[{"a":"1"}] [`,
		`[{"a":[1,2}]`,
		`[{"a":1e+}]`,
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
		if strings.Join(whole.rows, "\x00") != strings.Join(bytewise.rows, "\x00") || errString(whole.err) != errString(bytewise.err) {
			t.Fatalf("result depends on read sizes:\nwhole:    %q %v\nbytewise: %q %v", whole.rows, whole.err, bytewise.rows, bytewise.err)
		}
		for _, row := range whole.rows {
			checkRow(t, Row(row))
		}
		body := bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
		if whole.err == nil {
			var elems []json.RawMessage
			if err := json.Unmarshal(body, &elems); err != nil {
				t.Fatalf("accepted input that encoding/json rejects: %v", err)
			}
			if len(elems) != len(whole.rows) {
				t.Fatalf("yielded %d rows, encoding/json sees %d elements", len(whole.rows), len(elems))
			}
			return
		}
		var de *DecodeError
		if !errors.As(whole.err, &de) || de.Offset < 0 || de.Offset > int64(len(in)) {
			t.Fatalf("error %v is not a DecodeError with an offset inside the input", whole.err)
		}
		if strings.Contains(whole.err.Error(), "nested deeper") {
			return
		}
		var elems []json.RawMessage
		if utf8.Valid(body) && json.Unmarshal(body, &elems) == nil {
			allObjects := true
			for _, e := range elems {
				allObjects = allObjects && len(e) > 0 && e[0] == '{'
			}
			if allObjects {
				t.Fatalf("rejected a valid array of objects: %v", whole.err)
			}
		}
	})
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
