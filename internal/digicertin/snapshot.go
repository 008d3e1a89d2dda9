package digicertin

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
)

// The checkpoint is two files:
//
//   - state_file, the snapshot: written whole and atomically (temp file in the
//     same directory, fsync, rename, fsync directory) at the end of every poll
//     cycle, at Stop and when the journal grows large;
//   - state_file + ".journal", the write-ahead journal: every Release appends
//     (and fsyncs) the released rows, so the snapshot never has to be
//     rewritten per batch.
//
// Loading replays the journal over the snapshot. The journal names the
// snapshot generation it extends; a journal left from an older generation
// (a crash after the snapshot rename, before the journal reset) is already in
// the snapshot and is dropped.
//
// Snapshot format, version 4 (integers big-endian):
//
//	"DGCSTATE"  magic
//	u32         version (4)
//	u64         generation
//	u32, bytes  length and JSON of stateMeta (with the row-hash key)
//	u64         number of rows
//	rows        25 bytes each: 16-byte hash, u32 time, u32 count, u8 flags
//	u32         CRC-32C of everything before it
//
// 1,000,000 rows make a 25 MB snapshot, written in well under a second.
//
// Versions differ only in the row hash. Version 4 rows carry the row
// identity of identity.go, under the key in stateMeta. Hashes of earlier
// versions cannot be converted (rows are not stored), so rows carried over
// are flagged with the hash they have: flagBodyHash for version 3's keyed
// hash of the msgpack body, flagLegacyHash for version 2's unkeyed hashBody
// (also in version 3 files, which carried such rows over). Files of versions
// 2 and 3 are read with every row not flagged so flagged as its version's;
// the engine looks such rows up by their old hash until they are seen again
// (then they move to their identity) or leave the dedup window. Version 1
// (SHA-256 row hashes, never released) is refused with what to do. A version
// newer than this build is refused: guessing would re-ship or skip rows.

const (
	snapshotMagic   = "DGCSTATE"
	snapshotVersion = 4
	// legacyVersion is the last format with unkeyed row hashes.
	legacyVersion = 2
	// bodyHashVersion is the last format with rows hashed by their
	// msgpack body.
	bodyHashVersion = 3
)

// flagBodyHash marks, in the checkpoint files only, a row whose hash is the
// keyed hash of its msgpack body (format version 3).
const flagBodyHash uint8 = 4

// legacyFormats are the earlier formats whose rows a checkpoint can still
// hold: known by a hash of their msgpack body, which cannot be converted
// (rows are not stored), so each is kept in a ledger of its own until its
// rows are seen again or leave the dedup window (checkpoint.old, same
// order).
var legacyFormats = [2]struct {
	version uint32
	flag    uint8 // marks its rows in checkpoint files of later formats
	hash    func(k hashKey, body []byte) rowHash
}{
	{legacyVersion, flagLegacyHash, func(_ hashKey, body []byte) rowHash { return hashBody(body) }},
	{bodyHashVersion, flagBodyHash, hashKey.sum},
}

// legacyRowFlag is the flag of the rows of a file of format version v.
func legacyRowFlag(v uint32) uint8 {
	for _, f := range legacyFormats {
		if f.version == v {
			return f.flag
		}
	}
	return 0
}

// withLegacyFlag gives m the flag of its file's format (legacy, from
// legacyRowFlag), unless it carries one already.
func withLegacyFlag(m rowMeta, legacy uint8) rowMeta {
	if m.flags&(flagLegacyHash|flagBodyHash) == 0 {
		m.flags |= legacy
	}
	return m
}

// oldHashFormat explains a checkpoint written before the row hash changed.
const oldHashFormat = "was written by an earlier development build (SHA-256 row hashes, which this build cannot convert): move the state file and its .journal away to start afresh (the rows still in the report are shipped again; remove those already delivered downstream if duplicates matter)"

// newerFormatFix says what to do about a checkpoint written by a newer
// plugin version.
const newerFormatFix = "it was written by a newer version of in_digicert; run that version (downgrading is not supported), or move the state file and its .journal away to start afresh (the rows still in the report are shipped again)"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateMeta is the non-row part of the checkpoint.
type stateMeta struct {
	ReportID string `json:"report_id"`
	// LastRunID is the last run all of whose rows were released. Follow
	// mode tracks DoneRuns instead; a checkpoint with only LastRunID (format
	// version 2) has every run up to it in history counted as done.
	LastRunID string `json:"last_run_id,omitempty"`
	// Current is the READY run being shipped when the checkpoint was
	// written; run mode resumes it after a restart if it is still downloadable.
	Current *digicert.Run `json:"current_run,omitempty"`
	// Pending are READY runs whose download failed, retried at later polls
	// until they ship or fail maxRunFailures times.
	Pending []pendingRun `json:"pending_runs,omitempty"`
	// Watermark is the newest event time shipped (unix s), 0 = none.
	Watermark uint32 `json:"watermark,omitempty"`
	// DoneRuns (follow mode) are the runs all of whose rows were released,
	// or that were given up on; pruned once history no longer lists them.
	DoneRuns []doneRun `json:"done_runs,omitempty"`
	// HashKey is the row-hash key (hex, 128 bits), created with the
	// checkpoint. Empty in version 2 files.
	HashKey string `json:"hash_key,omitempty"`
	SavedAt string `json:"saved_at,omitempty"`
}

// pendingRun is a READY run whose download failed.
type pendingRun struct {
	Run      digicert.Run `json:"run"`
	Failures int          `json:"failures"` // failed attempts in a row
	// Cutoff is the cutoff of its first attempt. Newer runs shipped since
	// move the watermark on; judged by today's cutoff, the rows of a run
	// that succeeds late could look old and be skipped, so it keeps this
	// one, and the ledger keeps rows down to it to de-duplicate them.
	Cutoff uint32 `json:"cutoff"`
}

// doneRun is a run follow mode has finished with.
type doneRun struct {
	ID   string `json:"id"`
	Date string `json:"date,omitempty"` // DigiCert's run date, for pruning
}

// snapshot is a decoded state file.
type snapshot struct {
	version uint32
	gen     uint64
	meta    stateMeta
}

// errCorrupt marks a checkpoint that exists but cannot be trusted.
var errCorrupt = errors.New("corrupt")

// readSnapshot loads a state file. A missing file returns os.ErrNotExist
// (wrapped); anything unreadable or inconsistent is an error naming the file,
// never a silent reset. reserve (optional) is told the row count before the
// rows are passed to fn.
func readSnapshot(path string, reserve func(rows int), fn func(rowMeta)) (snapshot, error) {
	var s snapshot
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	r := &crcReader{r: bufio.NewReaderSize(f, 1<<16)}
	bad := func(what string, err error) (snapshot, error) {
		if err != nil {
			return snapshot{}, fmt.Errorf("state file %s is %w: %s: %v", path, errCorrupt, what, err)
		}
		return snapshot{}, fmt.Errorf("state file %s is %w: %s", path, errCorrupt, what)
	}
	head := make([]byte, 8+4+8+4)
	if err := r.readFull(head[:8]); err != nil {
		return bad("short header", err)
	}
	if string(head[:8]) != snapshotMagic {
		return bad("not an in_digicert state file (bad magic)", nil)
	}
	if err := r.readFull(head[8:]); err != nil {
		return bad("short header", err)
	}
	v := binary.BigEndian.Uint32(head[8:])
	switch {
	case v < legacyVersion:
		return snapshot{}, fmt.Errorf("state file %s has format version %d and %s", path, v, oldHashFormat)
	case v > snapshotVersion:
		return snapshot{}, fmt.Errorf("state file %s has format version %d, which is newer than this build reads (up to %d): %s", path, v, snapshotVersion, newerFormatFix)
	}
	s.version = v
	rowFlags := legacyRowFlag(v)
	s.gen = binary.BigEndian.Uint64(head[12:])
	metaLen := binary.BigEndian.Uint32(head[20:])
	st, err := f.Stat()
	if err != nil {
		return snapshot{}, fmt.Errorf("state file %s: %w", path, err)
	}
	// The metadata holds the done runs of follow mode (~80 bytes each), so
	// its size is bounded by the file's, not by a constant.
	if int64(metaLen) > st.Size() {
		return bad("metadata length out of range", nil)
	}
	mb := make([]byte, metaLen)
	if err := r.readFull(mb); err != nil {
		return bad("short metadata", err)
	}
	if err := json.Unmarshal(mb, &s.meta); err != nil {
		return bad("metadata", err)
	}
	var nb [8]byte
	if err := r.readFull(nb[:]); err != nil {
		return bad("short row count", err)
	}
	n := binary.BigEndian.Uint64(nb[:])
	if n > uint64(st.Size())/metaSize {
		return bad("row count larger than the file", nil)
	}
	if reserve != nil {
		reserve(int(n))
	}
	// Rows are read and checksummed a few thousand at a time: per row, the
	// calls cost more than the work (a third of loading a million rows).
	rb := make([]byte, min(n, snapshotReadRows)*metaSize)
	for left := n; left > 0; {
		chunk := rb[:min(left, snapshotReadRows)*metaSize]
		if err := r.readFull(chunk); err != nil {
			return bad("short rows", err)
		}
		for i := 0; i < len(chunk); i += metaSize {
			fn(withLegacyFlag(readMeta(chunk[i:]), rowFlags))
		}
		left -= uint64(len(chunk) / metaSize)
	}
	sum := r.crc // everything before the trailer
	var tb [4]byte
	if err := r.readFull(tb[:]); err != nil {
		return bad("missing checksum", err)
	}
	if binary.BigEndian.Uint32(tb[:]) != sum {
		return bad("checksum mismatch", nil)
	}
	if _, err := r.r.ReadByte(); err != io.EOF {
		return bad("trailing data", nil)
	}
	return s, nil
}

// snapshotReadRows is how many rows readSnapshot reads at a time (~100 KB).
const snapshotReadRows = 4096

// crcReader checksums exactly the bytes consumed (a TeeReader under bufio
// would also sum the read-ahead, trailer included).
type crcReader struct {
	r   *bufio.Reader
	crc uint32
}

func (c *crcReader) readFull(p []byte) error {
	if _, err := io.ReadFull(c.r, p); err != nil {
		return err
	}
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return nil
}

// writeSnapshot writes a state file atomically with mode 0600: a reader sees
// the old file or the new one, never a mix, even across a crash or power loss.
func writeSnapshot(path string, gen uint64, meta stateMeta, rows func(func(rowMeta)), count int) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	meta.SavedAt = time.Now().UTC().Format(time.RFC3339)
	mb, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	crc := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(tmp, crc), 1<<16)
	head := []byte(snapshotMagic)
	head = binary.BigEndian.AppendUint32(head, snapshotVersion)
	head = binary.BigEndian.AppendUint64(head, gen)
	head = binary.BigEndian.AppendUint32(head, uint32(len(mb)))
	head = append(head, mb...)
	head = binary.BigEndian.AppendUint64(head, uint64(count))
	w.Write(head)
	written := 0
	var rb []byte
	rows(func(m rowMeta) {
		rb = appendMeta(rb[:0], m)
		w.Write(rb)
		written++
	})
	if written != count {
		return fmt.Errorf("writing state file: internal error: %d rows announced, %d written", count, written)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing state file %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fmt.Errorf("writing state file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing state file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing state file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing state file: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing state directory %s: %w", dir, err)
	}
	return nil
}
