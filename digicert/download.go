package digicert

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
)

// partBody is one downloaded part of a run, spilled to a temporary file so
// that a report is never held in memory and a failed download can be
// retried before any of its rows were handed out.
type partBody struct {
	file    *os.File
	path    string // set only when the file could not be unlinked at once
	size    int64
	zip     *zip.Reader
	members []*zip.File // the .json members, in name order
}

func (p *partBody) close() error {
	if p == nil || p.file == nil {
		return nil
	}
	err := p.file.Close()
	if p.path != "" {
		if rmErr := os.Remove(p.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
			err = rmErr
		}
	}
	p.file = nil
	return err
}

// partCall describes the request for one part: /json for a single-file run
// (which may not hold every part of a split run), /download with
// split_report_sequence for each part of a split run.
func partCall(run Run, part int) call {
	base := "/report/" + url.PathEscape(run.ReportID) + "/" + url.PathEscape(run.RunID)
	cl := call{
		target:     target{op: "download run", reportID: run.ReportID, runID: run.RunID},
		method:     http.MethodGet,
		idempotent: true,
		stream:     true,
	}
	if run.SplitReportCount > 1 {
		cl.op = "download run part " + strconv.Itoa(part)
		cl.path = base + "/download"
		cl.query = url.Values{"report_format": {"JSON"}, "split_report_sequence": {strconv.Itoa(part)}}
	} else {
		cl.path = base + "/json"
	}
	return cl
}

// fetchPart downloads one part into an unlinked temporary file. A truncated
// or corrupt ZIP counts as a failed attempt and is downloaded again.
func (c *Client) fetchPart(ctx context.Context, run Run, part int) (*partBody, error) {
	var got *partBody
	cl := partCall(run, part)
	// The deadline runs on the real clock, like the request timeout: it
	// guards against a server that trickles bytes.
	dctx, cancel := context.WithTimeoutCause(ctx, c.downloadTime, ErrDownloadTimeout)
	defer cancel()
	err := c.send(dctx, cl, func(resp *http.Response) error {
		p, err := c.spill(resp.Body, cl.op)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusNoContent || p.size == 0 {
			got = p
			return nil
		}
		if isZip(p.file, mediaType(resp)) {
			if err := c.openZip(p, part); err != nil {
				p.close()
				return err
			}
		}
		got = p
		return nil
	})
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(dctx), ErrDownloadTimeout) {
		return nil, fmt.Errorf("digicert: %s of run %s: not finished within %s (download_timeout; raise it for very large reports on a slow link): %w",
			cl.op, run.RunID, c.downloadTime, ErrDownloadTimeout)
	}
	if err != nil {
		return nil, err
	}
	return got, nil
}

// spill copies body to a temporary file, unlinked at once where the OS
// allows so that nothing is left behind even after a crash.
func (c *Client) spill(body io.Reader, op string) (*partBody, error) {
	f, err := os.CreateTemp(c.tempDir, "digicert-part-*")
	if err != nil {
		return nil, fmt.Errorf("digicert: %s: creating temporary file: %w", op, err)
	}
	p := &partBody{file: f}
	if os.Remove(f.Name()) != nil {
		p.path = f.Name()
	}
	n, err := spillCopy(f, io.LimitReader(body, c.maxBodySize+1))
	p.size = n
	c.obs.Downloaded(n)
	var bre *bodyReadError
	switch {
	case errors.As(err, &bre):
		p.close()
		return nil, fmt.Errorf("digicert: %s: %w", op, err)
	case err != nil:
		p.close()
		return nil, fmt.Errorf("digicert: %s: writing temporary file (disk full? see temp_dir): %w", op, err)
	case n > c.maxBodySize:
		p.close()
		return nil, fmt.Errorf("digicert: %s: body larger than the limit of %d bytes", op, c.maxBodySize)
	}
	return p, nil
}

// spillBlock is how much of a download is written to its file at a time.
const spillBlock = 256 << 10

// spillCopy is io.Copy with fewer system calls: io.Copy into a file reads
// and writes 32 KiB at a time, ~4,000 calls for a 67 MB report (about 2 %
// of the CPU of reading it again when every row is known). Each read takes
// what the connection has, and the file is written once per spillBlock.
// Errors are returned as they come (a read error stays a bodyReadError).
func spillCopy(dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, spillBlock)
	var n int64
	for {
		m := 0
		var rerr error
		for m < len(buf) && rerr == nil {
			var k int
			k, rerr = src.Read(buf[m:])
			m += k
		}
		if m > 0 {
			if _, err := dst.Write(buf[:m]); err != nil {
				return n, err
			}
			n += int64(m)
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil:
			return n, rerr
		}
	}
}

// isZip sniffs the body: DigiCert answers with a ZIP whatever format was
// asked for once a file is over 2 MB, so the requested format proves nothing.
func isZip(f *os.File, mediaType string) bool {
	if mediaType == "application/zip" || mediaType == "application/x-zip-compressed" {
		return true
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return false
	}
	return bytes.Equal(magic[:], []byte("PK\x03\x04")) || bytes.Equal(magic[:], []byte("PK\x05\x06"))
}
