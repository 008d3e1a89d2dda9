package digicert

import (
	"archive/zip"
	"bufio"
	"cmp"
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
	if len(zr.File) > c.maxMembers {
		return fmt.Errorf("digicert: part %d: ZIP has %d entries, over the limit of %d (max_zip_members): a real report has one .json member; raise max_zip_members only if DigiCert's files really hold more", part, len(zr.File), c.maxMembers)
	}
	if err := checkOverlap(zr.File); err != nil {
		return fmt.Errorf("digicert: part %d: %w", part, err)
	}
	var names []string
	var declared uint64
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
		if declared += f.UncompressedSize64; declared > uint64(c.maxInflated) {
			return fmt.Errorf("digicert: part %d: ZIP members declare more than %d bytes together, over the limit (max_inflated_size)", part, c.maxInflated)
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

// checkOverlap refuses entries whose data overlap: a real archive stores
// each member once, while a ZIP bomb points many entries at one deflated
// stream so that a small download inflates many times over.
func checkOverlap(files []*zip.File) error {
	type span struct {
		start, end uint64
		name       string
	}
	spans := make([]span, 0, len(files))
	for _, f := range files {
		off, err := f.DataOffset()
		if err != nil {
			return fmt.Errorf("ZIP entry %q: %w", f.Name, err)
		}
		spans = append(spans, span{uint64(off), uint64(off) + f.CompressedSize64, f.Name})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(spans); i++ {
		if prev := spans[i-1]; spans[i].start < prev.end || spans[i].start == prev.start {
			return fmt.Errorf("ZIP entries %q and %q overlap (one stored stream listed twice, as ZIP bombs do): refusing the archive", prev.name, spans[i].name)
		}
	}
	return nil
}

// errMemberTooLarge: a member inflates past Options.MaxMemberSize, whatever
// its header says.
var errMemberTooLarge = errors.New("decompressed size over the limit (max_member_size)")

// errPartTooLarge: a part's members together inflate past
// Options.MaxInflatedSize, whatever their headers say.
var errPartTooLarge = errors.New("ZIP members together inflate past the limit (max_inflated_size)")

// capReader fails once more than left bytes were read from this member, or
// more than *budget from all members of the part.
type capReader struct {
	r      io.Reader
	left   int64
	budget *int64 // nil: no part-wide bound
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 || (c.budget != nil && *c.budget <= 0) {
		var one [1]byte
		if n, err := c.r.Read(one[:]); n == 0 {
			return 0, err
		}
		if c.left <= 0 {
			return 0, errMemberTooLarge
		}
		return 0, errPartTooLarge
	}
	lim := c.left
	if c.budget != nil {
		lim = min(lim, *c.budget)
	}
	if int64(len(p)) > lim {
		p = p[:lim]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.budget != nil {
		*c.budget -= int64(n)
	}
	return n, err
}
