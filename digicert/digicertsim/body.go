package digicertsim

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// handleBody serves GET …/{run}/json and …/{run}/download (ref §3.6, §3.7, §6).
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
	asZip := format == "ZIP" || (download && rn.parts > 1) || s.exceeds(rn, lo, n, s.cfg.ZipThreshold)
	if asZip {
		s.writeZip(w, rn, seq, lo, n)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = s.writeArray(w, rn, lo, n)
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
// into a reused buffer.
func (s *Server) writeArray(w io.Writer, rn *run, lo, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	var err error
	first := true
	_ = bw.WriteByte('[')
	s.gen.each(rn.from, rn.to, lo, n, func(h int64, e event) bool {
		buf = buf[:0]
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = s.gen.appendRow(buf, h, e)
		_, err = bw.Write(buf)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("write rows: %w", err)
	}
	_ = bw.WriteByte(']')
	return bw.Flush()
}

// writeZip streams part seq (rows [lo, lo+n)) as a ZIP: an optional
// README.txt, then Config.ZipMembers .json members.
func (s *Server) writeZip(w http.ResponseWriter, rn *run, seq, lo, n int) {
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
		if s.writeArray(f, rn, a, b-a) != nil {
			return
		}
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
