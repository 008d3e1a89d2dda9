package digicertsim

import (
	"strconv"
)

// Columns are the audit-log column headings exactly as DigiCert sends them
// in their documented audit-log report, in the order rows carry them.
var Columns = [...]string{
	"Account ID",
	"Action",
	"Action taken via",
	"Activity",
	"Adjustment/Ledger ID",
	"Date and time (UTC)",
	"Division/Container ID",
	"Division/Container name",
	"Domain ID",
	"Domain name",
	"IP address",
	"IP country",
	"Message",
	"Order ID",
	"Order request ID",
	"Organization ID",
	"Organization name",
	"Primary organization name",
	"Result",
	"Revocation comments",
	"User ID",
	"User name",
	"Voucher code ID",
	"Voucher order ID",
}

// Column indexes into a row's values.
const (
	colAccountID = iota
	colAction
	colVia
	colActivity
	colLedgerID
	colDateTime
	colDivisionID
	colDivisionName
	colDomainID
	colDomainName
	colIP
	colCountry
	colMessage
	colOrderID
	colOrderRequestID
	colOrgID
	colOrgName
	colPrimaryOrg
	colResult
	colRevocation
	colUserID
	colUserName
	colVoucherCode
	colVoucherOrder
	numColumns
)

// appendRow renders one event as a compact JSON object. The bytes are the
// canonical form: GroundTruth returns exactly what the bodies carry.
func (g *generator) appendRow(dst []byte, h int64, e event) []byte {
	var v [numColumns]string
	g.fill(&v, h, e)
	for i := range Columns {
		dst = append(dst, keyPrefixes[i]...)
		dst = appendJSONString(dst, v[i])
	}
	return append(dst, '}')
}

// keyPrefixes holds `{"key":` / `,"key":` for each column, escaped once.
var keyPrefixes = func() (p [numColumns][]byte) {
	for i, k := range Columns {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		p[i] = append(appendJSONString([]byte{sep}, k), ':')
	}
	return p
}()

// appendJSONString escapes only what JSON requires (quote, backslash,
// control characters), leaving non-ASCII text as raw UTF-8, which is how
// most servers emit it. Safe runs are copied in one append (this is the
// hot loop when serving million-row runs).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue // also every byte of a multi-byte UTF-8 sequence
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func itoa(n int) string { return strconv.Itoa(n) }
