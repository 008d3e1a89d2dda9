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
			t, err = ParseEventTime(string(unescape(vb[:0], value[1:len(value)-1])))
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
