package digicertsim

import (
	"strconv"
	"unicode/utf8"
)

// Columns are the audit-log column headings exactly as DigiCert sends them
// (ref §7), in the order rows carry them.
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
	dst = append(dst, '{')
	for i, k := range Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v[i])
	}
	return append(dst, '}')
}

// appendJSONString escapes only what JSON requires (quote, backslash,
// control characters), leaving non-ASCII text as raw UTF-8, which is how
// most servers emit it.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			_, n := utf8.DecodeRuneInString(s[i:])
			dst = append(dst, s[i:i+n]...)
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

func itoa(n int) string { return strconv.Itoa(n) }
