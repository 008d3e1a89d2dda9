package digicert

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EventTimeField is the audit-log column holding the event time.
const EventTimeField = "Date and time (UTC)"

// ErrNoEventTime: the row has no EventTimeField.
var ErrNoEventTime = errors.New(`digicert: row has no "Date and time (UTC)" field`)

// eventTimeLayouts are tried in order. DigiCert's sample row uses the first,
// Google's SecOps parser the second; RFC 3339 and the history timestamp
// form are accepted in case the API uses them.
var eventTimeLayouts = []string{
	"02-Jan-2006 15:04:05",
	"02-01-2006 15:04:05",
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
}

// ParseEventTime parses an audit-log time ("06-Feb-2025 10:28:04",
// "06-02-2025 10:28:04" or RFC 3339) as UTC.
func ParseEventTime(s string) (time.Time, error) {
	if t, ok := parseEventTimeFast(s); ok {
		return t, nil
	}
	return parseEventTimeLayouts(s)
}

// ParseEventTimeBytes is ParseEventTime for a byte slice; the two usual forms
// are parsed without allocating.
func ParseEventTimeBytes(b []byte) (time.Time, error) {
	if t, ok := parseEventTimeFast(b); ok {
		return t, nil
	}
	return parseEventTimeLayouts(string(b))
}

// parseEventTimeFast parses the two forms DigiCert sends, exactly as
// time.Parse would with the first two layouts, in ~20 ns instead of ~400 ns
// (it runs once per row of a backfill). It accepts only the canonical,
// fixed-width shape ("06-Feb-2025 10:28:04" with the month as written in
// English, or "06-02-2025 10:28:04") and valid calendar values; anything else
// (other case, spaces, fractions, one-digit hours, invalid dates) returns
// false, and the layouts decide, so results and errors stay those of
// time.Parse.
func parseEventTimeFast[S string | []byte](s S) (time.Time, bool) {
	var mon, rest int
	switch {
	case len(s) == 20 && s[2] == '-' && s[6] == '-':
		// "02-Jan-2006 15:04:05"
		mon = monthIndex(uint32(s[3])<<16 | uint32(s[4])<<8 | uint32(s[5]))
		rest = 7
	case len(s) == 19 && s[2] == '-' && s[5] == '-':
		// "02-01-2006 15:04:05"
		m, ok := digits2(s[3], s[4])
		if !ok {
			return time.Time{}, false
		}
		mon, rest = m, 6
	default:
		return time.Time{}, false
	}
	if mon < 1 || mon > 12 || s[rest+4] != ' ' || s[rest+7] != ':' || s[rest+10] != ':' {
		return time.Time{}, false
	}
	day, ok1 := digits2(s[0], s[1])
	yh, ok2 := digits2(s[rest], s[rest+1])
	yl, ok3 := digits2(s[rest+2], s[rest+3])
	hour, ok4 := digits2(s[rest+5], s[rest+6])
	min, ok5 := digits2(s[rest+8], s[rest+9])
	sec, ok6 := digits2(s[rest+11], s[rest+12])
	year := yh*100 + yl
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || day < 1 || day > daysIn(time.Month(mon), year) || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(mon), day, hour, min, sec, 0, time.UTC), true
}

func digits2(a, b byte) (int, bool) {
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}

// monthIndex maps a three-letter English month name, as three bytes, to
// 1..12, or 0.
func monthIndex(m uint32) int {
	switch m {
	case 'J'<<16 | 'a'<<8 | 'n':
		return 1
	case 'F'<<16 | 'e'<<8 | 'b':
		return 2
	case 'M'<<16 | 'a'<<8 | 'r':
		return 3
	case 'A'<<16 | 'p'<<8 | 'r':
		return 4
	case 'M'<<16 | 'a'<<8 | 'y':
		return 5
	case 'J'<<16 | 'u'<<8 | 'n':
		return 6
	case 'J'<<16 | 'u'<<8 | 'l':
		return 7
	case 'A'<<16 | 'u'<<8 | 'g':
		return 8
	case 'S'<<16 | 'e'<<8 | 'p':
		return 9
	case 'O'<<16 | 'c'<<8 | 't':
		return 10
	case 'N'<<16 | 'o'<<8 | 'v':
		return 11
	case 'D'<<16 | 'e'<<8 | 'c':
		return 12
	}
	return 0
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

func parseEventTimeLayouts(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	for _, layout := range eventTimeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return time.Time{}, fmt.Errorf("digicert: event time %q is not in a known format (02-Jan-2006 15:04:05, 02-01-2006 15:04:05 or RFC 3339)", v)
}

var eventTimeKey = []byte(EventTimeField)

// EventTime parses the row's EventTimeField. It returns ErrNoEventTime when
// the field is missing and an error (never a panic) when it is not a string
// in a known format.
func (r Row) EventTime() (time.Time, error) {
	var (
		t     time.Time
		found bool
		err   error
	)
	walkErr := r.members(func(rawKey []byte, escaped bool, value []byte) error {
		if escaped {
			var kb [64]byte
			rawKey = unescape(kb[:0], rawKey)
		}
		if !bytes.Equal(rawKey, eventTimeKey) {
			return nil
		}
		found = true
		if len(value) < 2 || value[0] != '"' {
			err = fmt.Errorf("digicert: %q is not a JSON string", EventTimeField)
		} else {
			var vb [64]byte
			t, err = ParseEventTimeBytes(unescape(vb[:0], value[1:len(value)-1]))
		}
		return errStop
	})
	switch {
	case walkErr != nil && walkErr != errStop:
		return time.Time{}, walkErr
	case !found:
		return time.Time{}, ErrNoEventTime
	}
	return t, err
}

var errStop = errors.New("stop")
