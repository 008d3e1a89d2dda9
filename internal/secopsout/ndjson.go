package secopsout

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// lineBatch is how much NDJSON is collected before it is handed to gzip:
// large enough to amortise the call, small enough to stay in cache.
const lineBatch = 64 << 10

// encodeStats describes one encoded chunk.
type encodeStats struct {
	Records   int       // records in the chunk, written or skipped
	Skipped   int       // records not written: body not a map
	FirstSkip string    // where and what the first skipped record was
	FirstTime time.Time // timestamp of the first written record, UTC
	// Damaged is where the chunk stops being msgpack; the records before
	// it were encoded, the rest cannot be read.
	Damaged     *DecodeError
	NDJSONBytes int64 // uncompressed size
}

// ndjsonEncoder turns Fluent Bit chunks into gzip-compressed NDJSON. It is
// safe for concurrent use; scratch buffers and gzip writers are pooled.
type ndjsonEncoder struct {
	level      int
	dateKey    string // "" → no date member
	dateFormat string
	gzips      sync.Pool // *gzip.Writer at level
	lines      sync.Pool // *[]byte of about lineBatch
}

func newNDJSONEncoder(level int, dateKey, dateFormat string) *ndjsonEncoder {
	return &ndjsonEncoder{level: level, dateKey: dateKey, dateFormat: dateFormat}
}

// Encode writes every record of chunk as one JSON line, gzip-compressed as a
// single member, to w. A chunk damaged part-way is encoded up to the damage
// (st.Damaged says where). first is called with the first record's time before
// any byte reaches w (the object key depends on it).
func (e *ndjsonEncoder) Encode(w io.Writer, chunk []byte, first func(time.Time)) (encodeStats, error) {
	var st encodeStats
	gz, err := e.gzipWriter(w)
	if err != nil {
		return st, err
	}
	lp := e.lineBuf()
	line := (*lp)[:0]
	var date []byte
	err = DecodeChunkValues(chunk, func(v Value) error {
		st.Records++
		skip := func(why string) error {
			if st.Skipped == 0 {
				st.FirstSkip = fmt.Sprintf("record %d at byte %d: %s", v.Record, v.Offset, why)
			}
			st.Skipped++
			return nil
		}
		if !v.IsMap() {
			// Fluent Bit records are maps; another value comes from a broken
			// or foreign producer, and the feed's parser could not read it
			// as an audit row either. It is counted and reported, and the
			// chunk's other records are still written.
			return skip(fmt.Sprintf("body is not a map (msgpack type 0x%02x)", v.Body[0]))
		}
		if st.Records-st.Skipped == 1 {
			st.FirstTime = v.Time
			if first != nil {
				first(v.Time)
			}
		}
		var err error
		if e.dateKey != "" {
			date = e.appendDate(date[:0], v.Time)
		}
		start := len(line)
		if line, err = AppendJSONWithField(line, RawMap(v.Body), e.dateKey, date); err != nil {
			// The walk already validated the body, so this is not expected;
			// if it happens, only this record is lost, not the chunk.
			line = line[:start]
			return skip(err.Error())
		}
		line = append(line, '\n')
		st.NDJSONBytes += int64(len(line) - start)
		if len(line) >= lineBatch {
			if _, err := gz.Write(line); err != nil {
				return err
			}
			line = line[:0]
		}
		return nil
	})
	if errors.As(err, &st.Damaged) {
		// Keep what could be read: only bytes past the damage are lost.
		err = nil
	}
	if err == nil && len(line) > 0 {
		_, err = gz.Write(line)
	}
	if err == nil {
		err = gz.Close()
	}
	*lp = line[:0]
	e.lines.Put(lp)
	if err == nil {
		// A writer whose sink failed is dropped: its state is unknown.
		gz.Reset(io.Discard)
		e.gzips.Put(gz)
	}
	return st, err
}

func (e *ndjsonEncoder) gzipWriter(w io.Writer) (*gzip.Writer, error) {
	if gz, ok := e.gzips.Get().(*gzip.Writer); ok {
		gz.Reset(w)
		return gz, nil
	}
	gz, err := gzip.NewWriterLevel(w, e.level)
	if err != nil {
		return nil, fmt.Errorf("gzip level %d: %w", e.level, err)
	}
	return gz, nil
}

func (e *ndjsonEncoder) lineBuf() *[]byte {
	if p, ok := e.lines.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, lineBatch+8<<10)
	return &b
}

// appendDate renders ts as the json_date_key value, in the forms Fluent
// Bit's own outputs use.
func (e *ndjsonEncoder) appendDate(dst []byte, ts time.Time) []byte {
	switch e.dateFormat {
	case DateEpoch:
		return strconv.AppendInt(dst, ts.Unix(), 10)
	case DateEpochMS:
		return strconv.AppendInt(dst, ts.UnixMilli(), 10)
	}
	dst = append(dst, '"')
	dst = ts.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
	return append(dst, '"')
}
