package digicertin

import (
	"encoding/base64"
	"net/url"
	"os"
	"strings"

	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
)

// Secrets returns every value of a raw configuration that is, or may be, a
// secret, for the logger to scrub before anything is validated: the API
// key; the value of api_key_file when no such file exists (a key pasted
// there by mistake would otherwise be printed in "no such file"), and the
// key the file holds; the password of http_proxy.
func Secrets(g flb.ConfigGetter) []string {
	var out []string
	if k := strings.TrimSpace(g.Get("api_key")); k != "" {
		out = append(out, k)
	}
	if f := strings.TrimSpace(g.Get("api_key_file")); f != "" {
		if _, err := os.Stat(f); err != nil {
			out = append(out, f)
		}
		if k, err := readKeyFile(f); err == nil {
			out = append(out, k)
		}
	}
	if p := strings.TrimSpace(g.Get("http_proxy")); p != "" {
		out = append(out, proxySecrets(p)...)
	}
	return out
}

// proxySecrets finds the password of a proxy URL, also when the URL does
// not parse (the parse error would quote it).
func proxySecrets(p string) []string {
	if u, err := url.Parse(p); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			// The Proxy-Authorization header carries user:password in
			// base64; a proxy may echo it.
			basic := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pw))
			return []string{pw, u.User.String(), basic}
		}
		return nil
	}
	rest := p
	if _, after, ok := strings.Cut(rest, "://"); ok {
		rest = after
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
		return []string{pw, rest[:at]}
	}
	return nil
}
