package digicertsim

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// handleBody serves GET …/{run}/json and …/{run}/download: the JSON body, or the
// download (JSON or ZIP; a split run's parts by split_report_sequence).
func (s *Server) handleBody(w http.ResponseWriter, r *http.Request, reportID, runID string, download bool) {
	rn, ok := s.lookupRun(w, reportID, runID)
	if !ok {
		return
	}
	q := r.URL.Query()
	format := "JSON"
	if download {
		format = strings.ToUpper(q.Get("report_format"))
		if format == "" {
			writeError(w, http.StatusBadRequest, codeBadRequest, "report_format is required.")
			return
		}
	}
	created := rn.rep.format[0]
	if format != created && format != "ZIP" {
		writeError(w, http.StatusBadRequest, codeBadRequest,
			"Only the format chosen at creation ("+created+") can be downloaded.")
		return
	}
	if !rn.rep.audit() {
		s.writeOtherType(w, rn, format)
		return
	}
	seq := 0
	if v := q.Get("split_report_sequence"); download && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeBadRequest, "split_report_sequence must be an integer.")
			return
		}
		seq = n
	}
	if seq < 0 || seq >= max(1, rn.parts) {
		writeError(w, http.StatusNotFound, codeRunMissing, "Report file not found.")
		return
	}
	lo, n := s.partRange(rn, seq)
	if !download && s.cfg.JSONAllParts {
		lo, n = 0, rn.rows
	}
	bad := bodyFault(r)
	if bad != nil && bad.Kind == FaultOverlapZip {
		s.writeOverlapZip(w, rn, lo, n, bad.Members)
		return
	}
	if bad != nil && bad.Kind != FaultBadRow {
		bad = nil
	}
	asZip := format == "ZIP" || (download && rn.parts > 1) || s.exceeds(rn, lo, n, s.cfg.ZipThreshold)
	if asZip {
		s.writeZip(w, rn, seq, lo, n, bad)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = s.writeArray(w, rn, lo, n, bad)
}

// partRange returns the first row and row count of part seq.
func (s *Server) partRange(rn *run, seq int) (lo, n int) {
	if rn.parts <= 1 {
		return 0, rn.rows
	}
	lo = seq * s.cfg.SplitRows
	return lo, min(s.cfg.SplitRows, rn.rows-lo)
}

// exceeds reports whether the JSON array of rows [lo, lo+n) is larger than
// limit bytes, rendering no more than limit bytes to find out.
func (s *Server) exceeds(rn *run, lo, n, limit int) bool {
	size := 2 + max(0, n-1) // brackets and commas
	var buf []byte
	s.gen.each(rn.from, rn.to, lo, n, func(h int64, e event) bool {
		buf = s.gen.appendRow(buf[:0], h, e)
		size += len(buf)
		return size <= limit
	})
	return size > limit
}

// writeArray streams rows [lo, lo+n) as one JSON array, rendering each row
// into a reused buffer; bad (FaultBadRow), if set, adds its malformed row.
func (s *Server) writeArray(w io.Writer, rn *run, lo, n int, bad *Fault) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	var err error
	first := true
	written := 0
	after := 1
	if bad != nil && bad.AfterRows > 0 {
		after = bad.AfterRows
	}
	writeBad := func() {
		if !first {
			_ = bw.WriteByte(',')
		}
		first = false
		err = s.writeBadRow(bw, rn, *bad)
		bad = nil
	}
	_ = bw.WriteByte('[')
	s.gen.each(rn.from, rn.to, lo, n, func(h int64, e event) bool {
		buf = buf[:0]
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = s.gen.appendRow(buf, h, e)
		_, err = bw.Write(buf)
		if written++; err == nil && bad != nil && written == after {
			writeBad()
		}
		return err == nil
	})
	if err == nil && bad != nil {
		writeBad()
	}
	if err != nil {
		return fmt.Errorf("write rows: %w", err)
	}
	_ = bw.WriteByte(']')
	return bw.Flush()
}

// writeBadRow writes FaultBadRow's malformed row. It carries a valid event
// time (the run's end), so a repaired row is shipped with a real time.
func (s *Server) writeBadRow(w *bufio.Writer, rn *run, f Fault) error {
	when := time.Unix(rn.to, 0).UTC().Format(s.gen.layout)
	head := `{"Date and time (UTC)":"` + when + `","Action":"` + BadRowAction + `","Message":`
	var err error
	switch f.Row {
	case BadRowControl:
		_, err = w.WriteString(head + "\"bell\x07 unit\x1f tab\t newline\n end\"}")
	case BadRowOversize:
		size := f.Size
		if size <= 0 {
			size = 64<<20 + 1<<10
		}
		_, err = w.WriteString(head + `"`)
		pad := strings.Repeat("x", 64<<10)
		for left := size - len(head) - 3; left > 0 && err == nil; left -= len(pad) {
			_, err = w.WriteString(pad[:min(left, len(pad))])
		}
		if err == nil {
			_, err = w.WriteString(`"}`)
		}
	case BadRowDeep:
		const depth = 1100
		_, err = w.WriteString(head + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}")
	case BadRowGarbage:
		_, err = w.WriteString(head + "not-json}")
	default:
		_, err = w.WriteString(head + "\"caf\xe9 \xff\xfe latin-1, not UTF-8\"}")
	}
	return err
}

// writeZip streams part seq (rows [lo, lo+n)) as a ZIP: an optional
// README.txt, then Config.ZipMembers .json members.
func (s *Server) writeZip(w http.ResponseWriter, rn *run, seq, lo, n int, bad *Fault) {
	base := fileBase(rn.rep.name)
	w.Header().Set("Content-Type", s.cfg.ZipContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s_%d.zip"`, base, seq))
	w.WriteHeader(http.StatusOK)
	zw := newZipWriter(w)
	if s.cfg.ZipReadme {
		if f, err := zw.Create("README.txt"); err == nil {
			_, _ = io.WriteString(f, "DigiCert CertCentral report export (simulated).\r\n")
		}
	}
	m := max(1, s.cfg.ZipMembers)
	for j := 0; j < m; j++ {
		name := fmt.Sprintf("%s_%d.json", base, seq)
		if m > 1 {
			name = fmt.Sprintf("%s_%d_%03d.json", base, seq, j)
		}
		f, err := zw.Create(name)
		if err != nil {
			return
		}
		a, b := lo+j*n/m, lo+(j+1)*n/m
		if s.writeArray(f, rn, a, b-a, bad) != nil {
			return
		}
		bad = nil // in the first member only
	}
	_ = zw.Close()
}

// writeOtherType serves a token body for non-audit reports: clients of
// this project should never download them.
func (s *Server) writeOtherType(w http.ResponseWriter, rn *run, format string) {
	w.Header().Set("Content-Type", "text/csv")
	if format == "ZIP" {
		w.Header().Set("Content-Type", s.cfg.ZipContentType)
		zw := newZipWriter(w)
		if f, err := zw.Create(fileBase(rn.rep.name) + "_0.csv"); err == nil {
			_, _ = io.WriteString(f, "Report,Rows\r\n")
		}
		_ = zw.Close()
		return
	}
	_, _ = io.WriteString(w, "Report,Rows\r\n")
}

// newZipWriter deflates at BestSpeed: million-row parts are hundreds of
// megabytes of JSON, and the simulator should not be the bottleneck.
func newZipWriter(w io.Writer) *zip.Writer {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	return zw
}

// fileBase turns a display name into a file-name stem.
func fileBase(name string) string {
	var b strings.Builder
	for _, c := range name {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b.WriteRune(c)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// writeOverlapZip serves FaultOverlapZip: one deflated member holding rows
// [lo, lo+n), and a central directory listing it members times under
// different names, every entry pointing at the same data.
func (s *Server) writeOverlapZip(w http.ResponseWriter, rn *run, lo, n, members int) {
	if members <= 0 {
		members = 40
	}
	var zbuf bytes.Buffer
	zw := newZipWriter(&zbuf)
	f, err := zw.Create("part_0000.json")
	if err == nil {
		err = s.writeArray(f, rn, lo, n, nil)
	}
	if err == nil {
		err = zw.Close()
	}
	z := zbuf.Bytes()
	eocd := bytes.LastIndex(z, []byte("PK\x05\x06"))
	cd := bytes.Index(z, []byte("PK\x01\x02"))
	if err != nil || eocd < 0 || cd < 0 {
		writeError(w, http.StatusInternalServerError, codeInternal, "simulator: building the ZIP failed.")
		return
	}
	entry := z[cd:eocd] // one central directory entry
	nameAt := 46 + bytes.Index(entry[46:], []byte("part_0000.json"))
	var out bytes.Buffer
	out.Write(z[:cd])
	for i := 0; i < members; i++ {
		e := bytes.Clone(entry)
		copy(e[nameAt+5:], fmt.Sprintf("%04d", i))
		out.Write(e)
	}
	end := bytes.Clone(z[eocd:])
	binary.LittleEndian.PutUint16(end[8:], uint16(members))
	binary.LittleEndian.PutUint16(end[10:], uint16(members))
	binary.LittleEndian.PutUint32(end[12:], uint32(members*len(entry)))
	out.Write(end)
	w.Header().Set("Content-Type", s.cfg.ZipContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.Bytes())
}
