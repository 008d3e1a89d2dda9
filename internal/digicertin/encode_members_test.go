package digicertin_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/digicertin"
	"github.com/digicert-secops/fluent-bit-digicert/internal/jsonbytes"
)

const timeKey = "Date and time (UTC)"

// membersRows mixes the shapes the decoder's fast path takes and the ones it
// leaves to its general loop: escapes in keys and values, UTF-8, whitespace,
// numbers, literals, nested values, duplicate and empty keys, a row whose
// keys change order, and the time key in every position.
var membersRows = []string{
	`{"Account ID":"0000001","Action":"User SSO login","Date and time (UTC)":"06-Feb-2025 10:28:04","Result":"Successful"}`,
	`{"Activity":"User SSO login #1\nLogged through SAML SSO","Date and time (UTC)":"06-Feb-2025 10:28:05","User name":"José Álvarez"}`,
	`{"Date and time (UTC)":"06-Feb-2025 10:28:06","Action":"","Result":"Successful","Account ID":"0000001"}`,
	`{ "Date and time (UTC)" : "06-Feb-2025 10:28:07" , "n" : -12.5e3 , "t" : true , "f" : false , "z" : null }`,
	`{"o":{"a":[1,{"b":[]}],"s":"x"},"Date and time (UTC)":"06-Feb-2025 10:28:08","a":[]}`,
	`{"k\"\\\/\b\f\n\r\t":"\u00e9\ud83d\ude00\ud800","Date and \u0074ime (UTC)":"06-Feb-2025 10:28:09"}`,
	`{"":"","a":"1","a":"2","Date and time (UTC)":7}`,
	`{"Date and time (UTC)":"06-Feb-2025 \u0031\u0030:28:10","Zoë":"日本語 😀"}`,
	`{"big":18446744073709551616,"neg":-9223372036854775808,"Date and time (UTC)":"06-Feb-2025 10:28:11"}`,
	`{}`,
	`{"Account ID":"0000002","Action":"User login","Date and time (UTC)":"06-Feb-2025 10:28:12","Result":"Failed"}`,
	`{"long":"` + strings.Repeat("x", 300) + `","Date and time (UTC)":"06-Feb-2025 10:28:13"}`,
}

// decodeWithMembers runs rows through digicert's decoder, read in chunks of
// size bytes so rows straddle its buffer refills, and returns every row
// with its members.
func decodeWithMembers(t testing.TB, rows []string, size int) (out [][]byte, members [][]jsonbytes.Member, keys *jsonbytes.Keys) {
	t.Helper()
	body := "[" + strings.Join(rows, ",\n") + "]"
	d := digicert.NewRowReader(chunkReader{strings.NewReader(body), size}, 0, "")
	for {
		row, err := d.Next()
		if err == io.EOF {
			return out, members, d.Keys()
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, bytes.Clone(row))
		members = append(members, append([]jsonbytes.Member(nil), d.Members()...))
	}
}

type chunkReader struct {
	r    io.Reader
	size int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.size)]) }

// AppendMembers must give AppendBody's bytes and time value for every row,
// with one encoder reused across rows (its key cache warm, then invalidated
// by rows with other keys) as the input engine uses it.
func TestAppendMembersMatchesAppendBody(t *testing.T) {
	for _, size := range []int{1, 7, 64 << 10} {
		rows, members, keys := decodeWithMembers(t, membersRows, size)
		if len(rows) != len(membersRows) {
			t.Fatalf("decoded %d rows, want %d", len(rows), len(membersRows))
		}
		fast := digicertin.RowEncoder{TimeKey: timeKey}
		slow := digicertin.RowEncoder{TimeKey: timeKey}
		for round := 0; round < 2; round++ {
			for i, row := range rows {
				got, gotTime, err := fast.AppendMembers([]byte{0xAA}, row, members[i], keys)
				want, wantTime, werr := slow.AppendBody([]byte{0xAA}, row)
				if err != nil || werr != nil {
					t.Fatalf("row %d: errors %v / %v", i, err, werr)
				}
				if !bytes.Equal(got, want) || !bytes.Equal(gotTime, wantTime) {
					t.Fatalf("chunk %d, row %d %s:\n got %x time %q\nwant %x time %q", size, i, row, got, gotTime, want, wantTime)
				}
			}
		}
	}
}

// Offsets that do not describe the row (a caller's mistake) must not panic
// or produce other bytes: AppendMembers falls back to AppendBody, and the
// row identity scans the row again.
func TestAppendMembersBadOffsets(t *testing.T) {
	rows, members, keys := decodeWithMembers(t, membersRows[:1], 1<<10)
	row, ms := rows[0], members[0]
	var ref digicertin.RowEncoder
	want, _, _ := ref.AppendBody(nil, row)
	wantID, _, _ := digicertin.NewRowIdent(1, 2).Sum(row, ms, keys)
	bad := func(f func(m []jsonbytes.Member)) []jsonbytes.Member {
		m := append([]jsonbytes.Member(nil), ms...)
		f(m)
		return m
	}
	noIDs := func(f func(m []jsonbytes.Member)) func(m []jsonbytes.Member) {
		return func(m []jsonbytes.Member) {
			for i := range m {
				m[i].KeyID = 0 // offsets are all there is to go by
			}
			f(m)
		}
	}
	for _, tc := range []struct {
		name string
		m    []jsonbytes.Member
	}{
		{"past the end", bad(func(m []jsonbytes.Member) { m[len(m)-1].ValueEnd = uint32(len(row) + 5) })},
		{"key start 0", bad(noIDs(func(m []jsonbytes.Member) { m[0].KeyStart = 0 }))},
		{"value before key", bad(noIDs(func(m []jsonbytes.Member) { m[1].ValueStart = m[1].KeyStart }))},
		{"value cut short", bad(func(m []jsonbytes.Member) { m[2].ValueStart++ })},
		{"key not at quote", bad(noIDs(func(m []jsonbytes.Member) { m[1].KeyStart += 2; m[1].KeyEnd = m[1].KeyStart }))},
		// With an id the key comes from the decoder's table: its offsets,
		// even wrong ones, are not used.
		{"key offsets wrong, id right", bad(func(m []jsonbytes.Member) { m[1].KeyStart += 2; m[1].KeyEnd = m[1].KeyStart })},
		{"one member missed", ms[:len(ms)-1]},
	} {
		name, m := tc.name, tc.m
		var e digicertin.RowEncoder // fresh: no key cached from an earlier case
		got, _, err := e.AppendMembers(nil, row, m, keys)
		if name == "one member missed" {
			// Offsets that fit but leave a member out are the caller's
			// contract to keep; the output then has one member fewer.
			if err != nil || bytes.Equal(got, want) {
				t.Fatalf("%s: got %x, %v", name, got, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: got %x %v, want AppendBody's %x", name, got, err, want)
		}
		if id, _, err := digicertin.NewRowIdent(1, 2).Sum(row, m, keys); err != nil || id != wantID {
			t.Fatalf("%s: identity %x %v, want %x", name, id, err, wantID)
		}
	}
}

// FuzzAppendMembers: for every input digicert's decoder accepts, each row
// encoded from its members equals AppendBody's encoding.
func FuzzAppendMembers(f *testing.F) {
	for _, r := range membersRows {
		f.Add([]byte("[" + r + "]"))
	}
	f.Add([]byte("[" + strings.Join(membersRows, ",") + "]"))
	f.Add([]byte("[" + strings.Join(identityCorpus(), ",") + "]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := digicert.NewRowReader(bytes.NewReader(in), 0, "")
		fast := digicertin.RowEncoder{TimeKey: timeKey}
		slow := digicertin.RowEncoder{TimeKey: timeKey}
		ident := digicertin.NewRowIdent(1, 2)
		var prevID [16]byte
		var prevBody []byte
		for {
			row, err := d.Next()
			if err != nil {
				return
			}
			got, gotTime, gerr := fast.AppendMembers(nil, row, d.Members(), d.Keys())
			want, wantTime, werr := slow.AppendBody(nil, row)
			if !bytes.Equal(got, want) || !bytes.Equal(gotTime, wantTime) || (gerr == nil) != (werr == nil) {
				t.Fatalf("row %s:\n got %x %q %v\nwant %x %q %v", row, got, gotTime, gerr, want, wantTime, werr)
			}
			// The identity from the members is the scanned row's, and
			// fails where the encoder does.
			id, idTime, ierr := ident.Sum(row, d.Members(), d.Keys())
			ref, _, rerr := digicertin.NewRowIdent(1, 2).Sum(row, nil, nil)
			if id != ref || !bytes.Equal(idTime, wantTime) || (ierr == nil) != (werr == nil) || (rerr == nil) != (werr == nil) {
				t.Fatalf("row %s: identity %x %q %v, scanned %x %v; encoder's time %q, error %v", row, id, idTime, ierr, ref, rerr, wantTime, werr)
			}
			// Rows in a row: the same identity exactly when the same body.
			if werr == nil && prevBody != nil && (id == prevID) != bytes.Equal(want, prevBody) {
				t.Fatalf("row %s: same identity as the row before %v, same body %v", row, id == prevID, bytes.Equal(want, prevBody))
			}
			if werr == nil {
				prevID, prevBody = id, want
			}
		}
	})
}

// auditRow is a typical audit row.
const auditRow = `{"Account ID":"0000000","Action":"User SSO login","Action taken via":"CertCentral",` +
	`"Activity":"User SSO login #9999999\nLogged through SAML SSO","Adjustment/Ledger ID":"",` +
	`"Date and time (UTC)":"06-Feb-2025 10:28:04","Division/Container ID":"111222",` +
	`"Division/Container name":"Global_Internal_Division","Domain ID":"","Domain name":"",` +
	`"IP address":"192.168.1.100","IP country":"US","Message":"Logged through SAML SSO","Order ID":"",` +
	`"Order request ID":"","Organization ID":"","Organization name":"","Primary organization name":"Example Corp, Inc.",` +
	`"Result":"Successful","Revocation comments":"","User ID":"9999999","User name":"John Doe","Voucher code ID":"","Voucher order ID":""}`

// BenchmarkAppendMembers is BenchmarkAppendBody's audit row encoded from the
// decoder's member offsets.
func BenchmarkAppendMembers(b *testing.B) {
	row := auditRow
	rows, members, keys := decodeWithMembers(b, []string{row}, 64<<10)
	e := digicertin.RowEncoder{TimeKey: timeKey}
	var dst []byte
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, _, err = e.AppendMembers(dst[:0], rows[0], members[0], keys); err != nil {
			b.Fatal(err)
		}
	}
}

// One encoder fed by two decoders, whose key tables number the same keys
// differently, and by a decoder whose table starts over: every row still
// gets its own keys.
func TestAppendMembersKeyTables(t *testing.T) {
	reversed := make([]string, len(membersRows))
	for i, r := range membersRows {
		reversed[len(membersRows)-1-i] = r
	}
	rowsA, membersA, keysA := decodeWithMembers(t, membersRows, 64<<10)
	rowsB, membersB, keysB := decodeWithMembers(t, reversed, 64<<10)
	enc := digicertin.RowEncoder{TimeKey: timeKey}
	var ref digicertin.RowEncoder
	ref.TimeKey = timeKey
	ident := digicertin.NewRowIdent(1, 2) // its keyset cache must follow the tables too
	check := func(what string, row []byte, ms []jsonbytes.Member, keys *jsonbytes.Keys) {
		t.Helper()
		got, gotTime, err := enc.AppendMembers(nil, row, ms, keys)
		want, wantTime, _ := ref.AppendBody(nil, row)
		if err != nil || !bytes.Equal(got, want) || !bytes.Equal(gotTime, wantTime) {
			t.Fatalf("%s %s:\n got %x %q %v\nwant %x %q", what, row, got, gotTime, err, want, wantTime)
		}
		id, _, err := ident.Sum(row, ms, keys)
		wantID, _, _ := digicertin.NewRowIdent(1, 2).Sum(row, nil, nil)
		if err != nil || id != wantID {
			t.Fatalf("%s %s: identity %x %v, scanned %x", what, row, id, err, wantID)
		}
	}
	for i := range rowsA {
		check("A", rowsA[i], membersA[i], keysA)
		check("B", rowsB[i], membersB[i], keysB)
	}

	// Enough distinct keys to make the decoder's table start over, then the
	// first rows again: ids are reused for other keys.
	var many []string
	for i := 0; i < 600; i++ {
		many = append(many, fmt.Sprintf(`{"k%d a":"1","k%d b":"2","k%d c":"3","k%d d":"4","k%d e":"5","k%d f":"6","k%d g":"7","k%d h":"8"}`, i, i, i, i, i, i, i, i))
	}
	many = append(many, membersRows...)
	d := digicert.NewRowReader(strings.NewReader("["+strings.Join(many, ",")+"]"), 0, "")
	gen := uint64(0)
	gens := 0
	for {
		row, err := d.Next()
		if err != nil {
			break
		}
		if g := d.Keys().Gen(); g != gen {
			gen, gens = g, gens+1
		}
		check("restarted table", row, d.Members(), d.Keys())
	}
	if gens < 2 {
		t.Fatalf("the key table never started over")
	}
}

// Changing TimeKey on an encoder in use re-resolves which interned key is
// the time key.
func TestAppendMembersTimeKeyChange(t *testing.T) {
	rows, members, keys := decodeWithMembers(t, membersRows[:1], 64<<10)
	e := digicertin.RowEncoder{TimeKey: "Result"}
	if _, tv, _ := e.AppendMembers(nil, rows[0], members[0], keys); string(tv) != "Successful" {
		t.Fatalf("time key Result: got %q", tv)
	}
	e.TimeKey = timeKey
	if _, tv, _ := e.AppendMembers(nil, rows[0], members[0], keys); string(tv) != "06-Feb-2025 10:28:04" {
		t.Fatalf("time key %s: got %q", timeKey, tv)
	}
}
