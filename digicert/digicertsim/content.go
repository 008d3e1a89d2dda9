package digicertsim

import (
	"fmt"
	"strings"
)

// Sample values. Names mix scripts, quotes and backslashes on purpose:
// consumers must carry them byte-exact.
var (
	simUsers = []struct{ id, name string }{
		{"9999999", "John Doe"},
		{"1042117", "José Álvarez"},
		{"1042118", "Zoë Ødegaard"},
		{"1042119", "李雷"},
		{"1042120", "Ольга Петрова"},
		{"1042121", `Renée "Ree" O'Neil`},
		{"1042122", `CORP\svc-reports`},
		{"1042123", "山田 太郎"},
		{"1042124", "Müller, Jürgen"},
		{"1042125", "Sam 🚀 Lee"},
	}
	simDivisions = []struct{ id, name string }{
		{"111222", "Global_Internal_Division"},
		{"111223", "Sécurité Europe"},
		{"111224", "東京 Ops"},
	}
	simCountries = []string{"US", "US", "DE", "JP", "FR", "BR", "IN", ""}
	simDomains   = []string{"example.com", "*.example.com", "shop.example.co.uk", "bücher.example", "api.internal.example.net"}
	simOrgs      = []string{"Example Corp, Inc.", "Ejemplo S.A.", "Beispiel GmbH & Co. KG"}
	simProducts  = []string{"Secure Site OV", "Basic EV", "Secure Site Pro SSL", "Code Signing"}
	simVia       = []string{"CertCentral", "CertCentral", "API", "ACME"}
)

// fill derives every column of one event from (seed, hour, key).
func (g *generator) fill(v *[numColumns]string, h int64, e event) {
	r := newPRNG(g.seed, uint64(h), uint64(e.key), 0xc0ffee)
	v[colAccountID] = fmt.Sprintf("%07d", g.seed%10000000)
	v[colDateTime] = g.eventTime(h, e).Format(g.layout)
	u := pick(r, simUsers)
	v[colUserID], v[colUserName] = u.id, u.name
	d := pick(r, simDivisions)
	v[colDivisionID], v[colDivisionName] = d.id, d.name
	v[colPrimaryOrg] = simOrgs[0]
	v[colVia] = pick(r, simVia)
	v[colCountry] = pick(r, simCountries)
	if r.intn(10) == 0 {
		v[colIP] = fmt.Sprintf("2001:db8:%x::%x", r.intn(0xffff), r.intn(0xffff))
	} else {
		v[colIP] = fmt.Sprintf("%d.%d.%d.%d", 10+r.intn(200), r.intn(256), r.intn(256), 1+r.intn(254))
	}
	v[colResult] = "Successful"
	switch r.intn(10) {
	case 0, 1, 2:
		v[colAction] = "User SSO login"
		v[colMessage] = "Logged through SAML SSO"
		v[colActivity] = "User SSO login #" + u.id + "\nLogged through SAML SSO"
	case 3:
		v[colAction] = "User login failed"
		v[colResult] = "Failed"
		v[colMessage] = "Invalid username or password"
		v[colActivity] = `Failed sign-in for user "` + u.name + `"` + "\r\nAttempt " + itoa(1+r.intn(5))
	case 4:
		g.fillOrder(v, r, "Certificate requested")
	case 5:
		g.fillOrder(v, r, "Request approved")
	case 6:
		g.fillOrder(v, r, "Certificate revoked")
		v[colRevocation] = pick(r, []string{
			`Key compromise: C:\keys\old.pem leaked`,
			"Superseded\nReplaced by order #" + itoa(100000000+r.intn(900000000)),
			"",
		})
	case 7:
		v[colAction] = "API key created"
		v[colActivity] = fmt.Sprintf("API key %q created\n\tRestrictions: View Only", pick(r, []string{"build-bot", "siem-export", "ключ"}))
		v[colMessage] = "API key created"
	case 8:
		v[colAction] = "Balance adjusted"
		v[colLedgerID] = itoa(5000000 + r.intn(1000000))
		if r.intn(2) == 0 {
			v[colVoucherCode] = itoa(70000 + r.intn(10000))
			v[colVoucherOrder] = itoa(80000000 + r.intn(1000000))
		}
		v[colActivity] = fmt.Sprintf("Balance adjusted by %d.%02d USD", r.intn(5000), r.intn(100))
	default:
		dom := pick(r, simDomains)
		v[colAction] = "Domain validated"
		v[colDomainID] = itoa(3000000 + r.intn(1000000))
		v[colDomainName] = dom
		v[colActivity] = "DCV completed for " + dom + " via " + pick(r, []string{"dns-txt-token", "email", "http-token"})
		v[colMessage] = strings.ToUpper(dom[:1]) + dom[1:] + " validated"
	}
}

func (g *generator) fillOrder(v *[numColumns]string, r *prng, action string) {
	dom := pick(r, simDomains)
	v[colAction] = action
	v[colOrderID] = itoa(100000000 + r.intn(900000000))
	v[colOrderRequestID] = itoa(20000000 + r.intn(1000000))
	v[colOrgID] = itoa(400000 + r.intn(1000))
	v[colOrgName] = pick(r, simOrgs)
	v[colDomainName] = dom
	v[colActivity] = action + " for " + dom + "\nProduct: " + pick(r, simProducts)
	v[colMessage] = action
}
