// Package flb holds only what both Fluent Bit plugins of this project use:
// the configuration getter and parsers, the key documentation type, the
// logger interface with Fluent Bit's levels and line format, the redaction
// of secrets from log lines, and a memory sampler for benchmarks. Each codec
// lives with the side that uses it: the JSON→msgpack encoder with the input
// engine, the msgpack→JSON decoder with the output engine. It has no cgo, so
// everything here is tested with a plain `go test`.
package flb

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ConfigGetter returns the value of a plugin property, or "" when it is unset.
// Fluent Bit cannot tell an unset key from an empty one, so neither can we.
type ConfigGetter interface {
	Get(key string) string
}

// MapConfig is a ConfigGetter backed by a map, for tests and for the cgo layers,
// which read every property once in FLBPluginInit (the only time Fluent Bit allows it).
// Keys are matched case-insensitively, as Fluent Bit does.
type MapConfig map[string]string

// Get implements ConfigGetter.
func (m MapConfig) Get(key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// ParseBool parses a Fluent Bit boolean (on/off, true/false, yes/no, 1/0).
// An empty value yields def.
func ParseBool(key, v string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def, nil
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not a boolean (use on or off)", key, v)
}

// ParseDuration parses a duration the way Fluent Bit users write them: a bare
// number is seconds; suffixes s, m, h and d are accepted, as are Go durations
// such as "1h30m" or "500ms". An empty value yields def. Negative values are rejected.
func ParseDuration(key, v string, def time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return def, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 || n > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%s: %q is out of range", key, v)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err == nil && n >= 0 && n < 106000 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%s: %q must not be negative", key, v)
		}
		return d, nil
	}
	return 0, fmt.Errorf("%s: %q is not a duration (examples: 30s, 5m, 1h, 2d)", key, v)
}

// ParseSize parses a byte size. Units follow Fluent Bit: K, M and G (with or
// without a trailing B) are decimal (K = 1000); KiB, MiB and GiB are binary.
// An empty value yields def.
func ParseSize(key, v string, def int64) (int64, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return def, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a size (examples: 512K, 32M, 1G)", key, v)
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%s: %q has an unknown unit (use K, M or G)", key, v)
	}
	total := n * mult
	if total > math.MaxInt64/2 {
		return 0, fmt.Errorf("%s: %q is out of range", key, v)
	}
	return int64(total), nil
}
