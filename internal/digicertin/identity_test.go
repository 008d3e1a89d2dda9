package digicertin_test

import (
	"bytes"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
)

// sameContent are groups of rows that differ only in JSON whitespace,
// escaping and number spelling: within a group, the msgpack bodies are
// equal, so the identities must be.
var sameContent = [][]string{
	{
		`{"Date and time (UTC)":"06-Feb-2025 10:28:04","Action":"A\"b","n":1.5,"o":{"x":[1,"y"]}}`,
		"{ \"Date and time (UTC)\" : \"06-Feb-2025 10:28:04\" ,\n\t\"Action\":\"A\\\"b\", \"n\" : 1.5 , \"o\" : { \"x\" : [ 1 , \"y\" ] } }",
		`{"Date and \u0074ime (UTC)":"06-Feb-2025 10:28:0\u0034","Action":"\u0041\"b","n":15e-1,"o":{"x":[1,"\u0079"]}}`,
	},
	{
		`{"Account ID":"0000001","Activity":"User SSO login #1\nLogged through SAML SSO","Result":"Successful"}`,
		`{"Account ID" :"0000001" , "Activity":"User SSO login #1\u000aLogged through SAML SSO","Result":"Successful"}  `,
	},
	{`{}`, ` { } `},
}

// framing are rows whose hash inputs would collide under a careless
// framing (bytes moving between members, empty values, keys and values
// swapped, a string whose text equals another value's msgpack bytes): all
// have different bodies, so all must have different identities.
var framing = []string{
	`{"a":"bc","d":""}`, `{"a":"b","d":"c"}`, `{"a":"","d":"bc"}`,
	`{"ab":"c"}`, `{"a":"bc"}`, `{"a":"b","c":""}`, `{"ab":"","c":""}`, `{"a":"","bc":""}`,
	`{"a":"b"}`, `{"b":"a"}`, `{"":"ab"}`, `{"ab":""}`,
	`{"a":"","b":"x"}`, `{"a":"x","b":""}`,
	`{"a":""}`, `{"a":"","a":""}`, `{"":""}`,
	`{"a":"\u0005"}`, `{"a":5}`, `{"a":"1"}`, `{"a":1}`, `{"a":1.0}`,
	`{"a":[]}`, `{"a":{}}`, `{"a":"[]"}`, `{"a":null}`, `{"a":"null"}`, `{"a":"\u00c0"}`,
	`{"a":["b","c"]}`, `{"a":["bc"]}`, `{"a":{"b":"c"}}`,
}

// identityCorpus is every test row: the encoder's, and the two sets above.
func identityCorpus() []string {
	all := append([]string{}, membersRows...)
	for _, g := range sameContent {
		all = append(all, g...)
	}
	return append(all, framing...)
}

// Two rows have the same identity exactly when they have the same msgpack
// body (the identity of format version 3), whichever way the identity is
// computed: from the decoder's members with one RowIdent reused across rows
// and decoders (its keyset cache warm), or by a fresh RowIdent scanning the
// row. Its time value is the encoder's.
func TestRowIdentityIsBodyEquality(t *testing.T) {
	corpus := identityCorpus()
	ident := digicertin.NewRowIdent(1, 2)
	var ids [][16]byte
	var bodies [][]byte
	for _, size := range []int{1, 7, 64 << 10} {
		rows, members, keys := decodeWithMembers(t, corpus, size)
		if len(rows) != len(corpus) {
			t.Fatalf("decoded %d rows, want %d", len(rows), len(corpus))
		}
		for i, row := range rows {
			id, tv, err := ident.Sum(row, members[i], keys)
			if err != nil {
				t.Fatalf("row %s: %v", row, err)
			}
			ref, refTV, err := digicertin.NewRowIdent(1, 2).Sum(row, nil, nil)
			if err != nil || ref != id || !bytes.Equal(tv, refTV) {
				t.Fatalf("row %s: from members %x %q, scanned %x %q %v", row, id, tv, ref, refTV, err)
			}
			enc := digicertin.RowEncoder{TimeKey: timeKey}
			body, bodyTV, err := enc.AppendBody(nil, row)
			if err != nil || !bytes.Equal(tv, bodyTV) {
				t.Fatalf("row %s: time %q, encoder's %q %v", row, tv, bodyTV, err)
			}
			if size == 1 {
				ids, bodies = append(ids, id), append(bodies, body)
			} else if id != ids[i] {
				t.Fatalf("row %s: identity depends on how the row was split", row)
			}
		}
	}
	for i := range ids {
		for j := range ids {
			if (ids[i] == ids[j]) != bytes.Equal(bodies[i], bodies[j]) {
				t.Errorf("rows %s and %s: same identity %v, same body %v", corpus[i], corpus[j], ids[i] == ids[j], bytes.Equal(bodies[i], bodies[j]))
			}
		}
	}
	// The corpus holds what it is meant to: groups of equal bodies, and
	// framing rows with pairwise different ones.
	at := len(membersRows)
	for _, g := range sameContent {
		for k := range g {
			if !bytes.Equal(bodies[at+k], bodies[at]) {
				t.Errorf("%s and %s: bodies differ", g[k], g[0])
			}
		}
		at += len(g)
	}
	for i := at; i < len(corpus); i++ {
		for j := at; j < i; j++ {
			if bytes.Equal(bodies[i], bodies[j]) {
				t.Errorf("framing rows %s and %s have equal bodies", corpus[i], corpus[j])
			}
		}
	}
}

// BenchmarkRowIdentity is what a row shipped before costs besides decoding
// and the ledger: "members" is the identity from the decoder's members (the
// engine's path), "v3" what format version 3 did instead (encode the
// msgpack body, hash it).
func BenchmarkRowIdentity(b *testing.B) {
	rows, members, keys := decodeWithMembers(b, []string{auditRow}, 64<<10)
	b.Run("members", func(b *testing.B) {
		ident := digicertin.NewRowIdent(1, 2)
		b.SetBytes(int64(len(rows[0])))
		b.ReportAllocs()
		for b.Loop() {
			if _, tv, err := ident.Sum(rows[0], members[0], keys); err != nil || tv == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v3", func(b *testing.B) {
		e := digicertin.RowEncoder{TimeKey: timeKey}
		var dst []byte
		b.SetBytes(int64(len(rows[0])))
		b.ReportAllocs()
		for b.Loop() {
			var err error
			var tv []byte
			if dst, tv, err = e.AppendMembers(dst[:0], rows[0], members[0], keys); err != nil || tv == nil {
				b.Fatal(err)
			}
			digicertin.BodyHash(1, 2, dst)
		}
	})
}
