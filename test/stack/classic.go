// Package stack checks that the shipped deployment files agree with each other:
// docker-compose.yml, the Dockerfile, the Fluent Bit configs (YAML and classic)
// and the route examples. It runs without a Docker engine; with FLUENT_BIT_BIN
// set it also asks a real Fluent Bit to --dry-run every shipped config.
package stack

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Section is one [NAME] block of a classic Fluent Bit config, keys lower-cased.
type Section struct {
	Name  string
	Props map[string]string
}

// ParseClassic reads a classic-format Fluent Bit config: [SECTION] headers,
// "key value" lines, # comments. It is only as strict as these checks need.
func ParseClassic(path string) ([]Section, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Section
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			out = append(out, Section{Name: strings.ToUpper(line[1 : len(line)-1]), Props: map[string]string{}})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s:%d: property outside a section", path, n)
		}
		k, v, _ := strings.Cut(line, " ")
		out[len(out)-1].Props[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	return out, sc.Err()
}
