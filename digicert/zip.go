package digicert

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/flate"
)

// openZip reads the archive's directory and picks its .json members, all of
// them in name order (Google's collector reads only the first and loses the
// rest). A directory that cannot be read means a truncated or corrupt
// download: retryable.
func (c *Client) openZip(p *partBody, part int) error {
	zr, err := zip.NewReader(p.file, p.size)
	if err != nil {
		return &retryableError{fmt.Errorf("digicert: part %d: ZIP body is truncated or corrupt: %w", part, err)}
	}
	// klauspost's inflate is markedly faster than the standard library's.
	// Given the bare file section it would read it 4 KiB at a time, one
	// system call each; a larger buffer makes inflating ~10% faster.
	zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser {
		return flate.NewReader(bufio.NewReaderSize(r, zipReadSize))
	})
	var names []string
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		names = append(names, f.Name)
		if !strings.HasSuffix(strings.ToLower(f.Name), ".json") {
			continue
		}
		if f.UncompressedSize64 > uint64(c.maxMember) {
			return fmt.Errorf("digicert: part %d: ZIP member %q declares %d bytes, over the limit of %d", part, f.Name, f.UncompressedSize64, c.maxMember)
		}
		p.members = append(p.members, f)
	}
	if len(p.members) == 0 {
		if len(names) > 5 {
			names = append(names[:5], "…")
		}
		return fmt.Errorf("digicert: part %d: ZIP holds no .json member (members: %s): check that the report's format is JSON", part, strings.Join(names, ", "))
	}
	slices.SortStableFunc(p.members, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	p.zip = zr
	return nil
}

// zipReadSize is the read size for compressed ZIP member data.
const zipReadSize = 256 << 10

// errMemberTooLarge: a member inflates past Options.MaxMemberSize, whatever
// its header says.
var errMemberTooLarge = errors.New("decompressed size over the limit (max_member_size)")

// capReader fails once more than left bytes were read.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, err := c.r.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, errMemberTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
