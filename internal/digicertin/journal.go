package digicertin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The journal (state_file + ".journal") is append-only between snapshots.
//
//	header: "DGCJ", u16 version (4; 3 and 2 had other row hashes, see snapshot.go), u16 zero, u64 snapshot generation,
//	        u32 CRC-32C of the 16 bytes before it
//	frames: u32 payload length, u32 CRC-32C of the payload, payload
//	payload: record type byte, then its data
//
// A crash can tear only the last frame (frames are appended and fsynced one
// at a time); load drops such a tail. A bad frame followed by more data is
// corruption and is reported, not skipped.

const (
	journalMagic   = "DGCJ"
	journalVersion = 4
	journalHeader  = 20
	frameHeader    = 8
	maxFrame       = 1 << 30
)

// Journal record types.
const (
	recRows     byte = 1 // n × rowMeta (metaSize bytes each): rows released to Fluent Bit
	recRunStart byte = 2 // JSON digicert.Run: the READY run being shipped
	recRunDone  byte = 3 // run id: every row of that run was released
	recMax           = recRunDone
)

type journal struct {
	f    *os.File
	path string
	gen  uint64
	size int64 // valid bytes: header and whole frames
	// version of the file as loaded (below journalVersion: its rows have
	// the hashes of that format); a reset writes journalVersion.
	version uint16
	buf     []byte
}

// openJournal opens (or creates, mode 0600) the journal and locks it so that
// two inputs cannot share one state file.
func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s is locked by another process or input (%v): give every [INPUT] its own state_file", path, err)
	}
	return &journal{f: f, path: path}, nil
}

// load replays the journal for snapshot generation snapGen through apply and
// leaves it ready for appending. It reports how many torn tail bytes were
// dropped. A journal of an older generation is already contained in the
// snapshot: it is reset, not replayed.
func (j *journal) load(snapGen uint64, apply func(typ byte, data []byte) error) (dropped int64, err error) {
	data, err := io.ReadAll(j.f)
	if err != nil {
		return 0, fmt.Errorf("reading journal %s: %w", j.path, err)
	}
	if len(data) < journalHeader {
		// Empty, or a crash while a reset was writing the header: the
		// snapshot already holds everything.
		return int64(len(data)), j.reset(snapGen)
	}
	h := data[:journalHeader]
	if string(h[:4]) != journalMagic || binary.BigEndian.Uint32(h[16:]) != crc32.Checksum(h[:16], castagnoli) {
		return 0, fmt.Errorf("journal %s is %w (bad header): if the state file is intact, delete the journal to start from the last snapshot (rows released since may be sent again)", j.path, errCorrupt)
	}
	v := binary.BigEndian.Uint16(h[4:])
	switch {
	case v < legacyVersion:
		return 0, fmt.Errorf("journal %s has format version %d and %s", j.path, v, oldHashFormat)
	case v > journalVersion:
		return 0, fmt.Errorf("journal %s has format version %d, which is newer than this build reads (up to %d): %s", j.path, v, journalVersion, newerFormatFix)
	}
	j.version = v
	gen := binary.BigEndian.Uint64(h[8:])
	switch {
	case gen < snapGen:
		return 0, j.reset(snapGen)
	case gen > snapGen:
		return 0, fmt.Errorf("journal %s (generation %d) is newer than its state file (generation %d): the state file was replaced by an older copy; restore the matching state file, or delete the journal to accept re-sending rows", j.path, gen, snapGen)
	}
	off := journalHeader
	for off < len(data) {
		rest := data[off:]
		if len(rest) < frameHeader {
			break // torn frame header
		}
		n := int(binary.BigEndian.Uint32(rest))
		end := frameHeader + n
		if n == 0 || n > maxFrame || end > len(rest) {
			// Looks torn (the frame runs past the end of the file), but
			// only the last append can be torn: a damaged length in the
			// middle would otherwise silently drop every later record.
			if p := nextFrame(rest, 1); p >= 0 {
				return 0, fmt.Errorf("journal %s is %w at offset %d (a record's length is damaged and valid records follow it at offset %d): %s", j.path, errCorrupt, off, off+p, journalFix)
			}
			break
		}
		payload := rest[frameHeader:end]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			if end == len(rest) && nextFrame(rest, 1) < 0 {
				break // the last frame, torn by a crash
			}
			return 0, fmt.Errorf("journal %s is %w at offset %d (checksum mismatch followed by more data): %s", j.path, errCorrupt, off, journalFix)
		}
		if err := apply(payload[0], payload[1:]); err != nil {
			return 0, fmt.Errorf("journal %s is %w at offset %d: %v", j.path, errCorrupt, off, err)
		}
		off += end
	}
	j.gen, j.size = gen, int64(off)
	if off < len(data) {
		if err := j.f.Truncate(int64(off)); err != nil {
			return 0, fmt.Errorf("truncating torn journal tail: %w", err)
		}
	}
	return int64(len(data) - off), nil
}

// journalFix says what to do about a corrupt journal.
const journalFix = "delete the journal to start from the last snapshot (rows released since may be sent again), or restore both files from a backup"

// nextFrame returns the first offset at or after from where a whole, valid
// frame starts in b (length in range, payload within b, known record type
// with a size that fits it, matching checksum), or -1. A torn tail holds none: it is one partly
// written frame. Only called on a damaged tail, so the byte-wise scan is
// not on any hot path.
func nextFrame(b []byte, from int) int {
	for p := from; p+frameHeader < len(b); p++ {
		n := int(binary.BigEndian.Uint32(b[p:]))
		if n == 0 || n > len(b)-p-frameHeader {
			continue
		}
		payload := b[p+frameHeader : p+frameHeader+n]
		switch t := payload[0]; {
		case t < recRows || t > recMax, n < 2:
			continue
		case t == recRows && (n-1)%metaSize != 0:
			continue
		}
		if crc32.Checksum(payload, castagnoli) == binary.BigEndian.Uint32(b[p+4:]) {
			return p
		}
	}
	return -1
}

// reset empties the journal for a new snapshot generation.
func (j *journal) reset(gen uint64) error {
	h := []byte(journalMagic)
	h = binary.BigEndian.AppendUint16(h, journalVersion)
	h = binary.BigEndian.AppendUint16(h, 0)
	h = binary.BigEndian.AppendUint64(h, gen)
	h = binary.BigEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("resetting journal: %w", err)
	}
	if _, err := j.f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("resetting journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("syncing journal: %w", err)
	}
	j.gen, j.size, j.version = gen, int64(len(h)), journalVersion
	return nil
}

// append writes one record and fsyncs it.
func (j *journal) append(typ byte, data []byte) error {
	return j.finish(append(j.begin(typ), data...))
}

// appendRows journals released rows as one frame (one fsync per batch).
func (j *journal) appendRows(rows []rowMeta) error {
	b := j.begin(recRows)
	for _, m := range rows {
		b = appendMeta(b, m)
	}
	return j.finish(b)
}

// begin starts a frame in the reusable buffer; finish checksums, writes and
// fsyncs it. On failure the file is cut back so a half-written frame cannot
// be mistaken for corruption later.
func (j *journal) begin(typ byte) []byte {
	return append(j.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0, typ)
}

func (j *journal) finish(b []byte) error {
	if j == nil || j.f == nil {
		return errors.New("journal is closed")
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-frameHeader))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[frameHeader:], castagnoli))
	j.buf = b[:0]
	if cap(j.buf) > 4<<20 {
		j.buf = nil // do not keep a backfill-sized frame buffer around
	}
	if _, err := j.f.WriteAt(b, j.size); err != nil {
		j.f.Truncate(j.size)
		return fmt.Errorf("appending to journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		j.f.Truncate(j.size)
		return fmt.Errorf("syncing journal %s: %w", j.path, err)
	}
	j.size += int64(len(b))
	return nil
}

func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	err := j.f.Close() // also drops the lock
	j.f = nil
	return err
}
