package digicert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Rows streams the rows of a run, part after part and ZIP member after ZIP
// member. Only one part is on disk at a time; memory use does not grow with
// the report. Not safe for concurrent use.
type Rows struct {
	c     *Client
	ctx   context.Context // the iterator needs it between parts, as sql.Rows does
	run   Run
	parts int
	part  int

	body     *partBody
	member   int           // index in body.members
	rc       io.ReadCloser // open ZIP member
	pipe     *blockPipe    // inflates rc for dec on its own goroutine
	inflated int64         // what the part's members may still inflate to
	dec      *RowReader
	decoding bool
	count    int64

	row    Row
	err    error
	closed bool
}

// Open starts reading a READY run. It downloads the first part before
// returning, so that a missing run or a bad key shows up here; later parts
// are downloaded as the iteration reaches them. Split runs (SplitReportCount
// > 1) are read through /download with split_report_sequence 0…count-1,
// others through /json. Close must be called.
func (c *Client) Open(ctx context.Context, run Run) (*Rows, error) {
	switch {
	case run.ReportID == "" || run.RunID == "":
		return nil, errors.New("digicert: open run: report id and run id are required")
	case run.Status != "" && run.Status != StatusReady:
		return nil, fmt.Errorf("digicert: open run %s of report %s: status is %s, not READY", run.RunID, run.ReportID, run.Status)
	case len(run.Format) > 0 && !slices.ContainsFunc(run.Format, func(f string) bool { return strings.EqualFold(f, "JSON") }):
		return nil, fmt.Errorf("digicert: open run %s of report %s: the report's format is %s, not JSON: change it in Reports > Report Library", run.RunID, run.ReportID, strings.Join(run.Format, ","))
	}
	r := &Rows{c: c, ctx: ctx, run: run, parts: run.Parts(), dec: NewRowReader(nil, 0, "")}
	r.dec.SetMaxRowSize(c.maxRowSize)
	r.dec.OnIssue(func(is RowIssue) {
		// Once per run: the counts go into the run's summary (Stats).
		c.log.Warn("digicert: malformed rows in the report: repairable ones are shipped repaired, the others skipped, every other row is shipped (first occurrence here; counts in the run summary)",
			"report_id", run.ReportID, "run_id", run.RunID, "part", is.Part, "member", is.Member, "offset", is.Offset, "kind", is.Kind.String(), "problem", is.Detail)
	})
	if err := r.openPart(0); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Next advances to the next row. It returns false at the end or on an
// error; check Err.
func (r *Rows) Next() bool {
	if r.err != nil || r.closed {
		return false
	}
	for {
		if r.decoding {
			if r.count&4095 == 0 && r.ctx.Err() != nil {
				r.err = fmt.Errorf("digicert: reading run %s: %w", r.run.RunID, r.ctx.Err())
				return false
			}
			row, err := r.dec.Next()
			if err == nil {
				r.row = row
				r.count++
				return true
			}
			r.decoding = false
			if err != io.EOF {
				r.err = err
				return false
			}
		}
		if !r.advance() {
			return false
		}
	}
}

// advance moves to the next ZIP member or part; false at the end or on error.
func (r *Rows) advance() bool {
	if r.rc != nil {
		r.pipe.halt()
		r.rc.Close()
		r.rc = nil
	}
	if r.body != nil && r.member+1 < len(r.body.members) {
		r.member++
		return r.startMember()
	}
	if err := r.body.close(); err != nil {
		r.err = fmt.Errorf("digicert: closing temporary file: %w", err)
		return false
	}
	r.body = nil
	if r.part+1 >= r.parts {
		return false
	}
	if err := r.openPart(r.part + 1); err != nil {
		r.err = err
		return false
	}
	return true
}

// openPart downloads part i and starts decoding it.
func (r *Rows) openPart(i int) error {
	r.part = i
	p, err := r.c.fetchPart(r.ctx, r.run, i)
	if err != nil {
		return err
	}
	if p.size == 0 {
		// A READY run's file holds at least "[]": an empty answer is a
		// proxy's or a half-ready server's, and reading it as zero rows
		// would let a caller mark the run done.
		p.close()
		return fmt.Errorf("digicert: run %s of report %s: part %d came with an empty body: %w", r.run.RunID, r.run.ReportID, i, ErrEmptyBody)
	}
	r.body, r.member = p, 0
	r.inflated = r.c.maxInflated
	switch {
	case p.zip != nil:
		if !r.startMember() {
			return r.err
		}
	default:
		if _, err := p.file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("digicert: reading temporary file: %w", err)
		}
		r.dec.reset(p.file, i, "")
		r.decoding = true
	}
	return nil
}

func (r *Rows) startMember() bool {
	f := r.body.members[r.member]
	rc, err := f.Open()
	if err != nil {
		r.err = &DecodeError{Part: r.part, Member: f.Name, Err: fmt.Errorf("opening ZIP member: %w", err)}
		return false
	}
	r.rc = rc
	if r.pipe == nil {
		r.pipe = newBlockPipe(pipeBlockSize, pipeBlocks)
	}
	r.pipe.start(&capReader{r: rc, left: r.c.maxMember, budget: &r.inflated})
	r.dec.resetInput(r.pipe, r.part, f.Name)
	r.decoding = true
	return true
}

// Row returns the current row; it is valid until the next call to Next.
func (r *Rows) Row() Row { return r.row }

// Members returns where the current row's top-level members are (see
// RowReader.Members); valid until the next call to Next.
func (r *Rows) Members() []Member { return r.dec.Members() }

// Keys is the table Members' key ids refer to (see RowReader.Keys).
func (r *Rows) Keys() *Keys { return r.dec.Keys() }

// Err returns the error that ended the iteration, if any: a *DecodeError
// for malformed content, else a download or context error.
func (r *Rows) Err() error { return r.err }

// Stats counts the rows of the run read so far that were repaired or
// skipped (see RowReader).
func (r *Rows) Stats() RowStats { return r.dec.Stats() }

// Part returns the index of the part being read (0-based).
func (r *Rows) Part() int { return r.part }

// Close releases the open body and removes the temporary file. It is safe
// to call more than once.
func (r *Rows) Close() error {
	if r.closed {
		return nil
	}
	r.closed, r.decoding = true, false
	var errs []error
	if r.rc != nil {
		// The inflating goroutine reads rc: it has returned before rc closes.
		r.pipe.halt()
		errs = append(errs, r.rc.Close())
		r.rc = nil
	}
	errs = append(errs, r.body.close())
	r.body = nil
	return errors.Join(errs...)
}
