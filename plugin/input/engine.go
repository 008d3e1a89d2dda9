package input

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/plugin/flb"
)

// journalCompactBytes triggers a snapshot in the middle of a long run, so the
// journal (25 bytes per released row) stays small and loads fast.
const journalCompactBytes = 64 << 20

// clock is the engine's time source; tests drive the poll schedule with a fake.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Engine is one in_digicert instance: a background poller that downloads
// report runs into a bounded buffer, and the Collect/Release pair the 1-second
// Fluent Bit callbacks call. See doc.go for the delivery guarantees.
type Engine struct {
	cfg   Config
	log   flb.Logger
	src   source
	clock clock
	buf   *buffer

	mu          sync.Mutex // guards the fields below; taken before buf.mu, never after
	led         *ledger
	old         *ledger // rows from a format version 2 checkpoint, by unkeyed hash; nil once none is left
	key         hashKey // row-hash key of this checkpoint
	resave      bool    // write a snapshot even if nothing changed (new key, format upgrade)
	jr          *journal
	gen         uint64    // snapshot generation on disk
	meta        stateMeta // durable run progress (LastRunID, Current)
	committed   uint64    // every row with a smaller sequence number is in Fluent Bit
	markers     []runMarker
	runsDone    map[string]string // follow mode: runs done (id → DigiCert's run date), see follow
	activeGen   uint32            // run being counted, 0 = none
	activeCut   uint32            // its cutoff
	journalErr  bool              // a journal write failed; logged once until one succeeds
	malformed   digicert.RowStats // rows repaired or skipped since start, for metrics
	closed      bool
	lastSnapErr string

	startOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
	cancel    context.CancelFunc
	done      chan struct{}

	// Poller-only state (one goroutine).
	p pollerState
}

// runMarker says: once every row before seq is committed, run runID is done.
type runMarker struct {
	seq   uint64
	runID string
	date  string // the run's date in history
}

// New builds an engine: it creates the DigiCert client and loads the
// checkpoint (state_file and its journal), but makes no network request. A
// corrupt checkpoint, or one written for another report, is an error; a
// missing one is a fresh start.
func New(cfg Config, log flb.Logger) (*Engine, error) {
	if log == nil {
		return nil, errors.New("in_digicert: a logger is required")
	}
	client, err := digicert.New(cfg.ClientOptions(slog.New(flb.SlogHandler(log))))
	if err != nil {
		return nil, fmt.Errorf("in_digicert: %w", err)
	}
	return newEngine(cfg, log, clientSource{client}, digicert.SystemClock)
}

func newEngine(cfg Config, log flb.Logger, src source, clk clock) (*Engine, error) {
	real, err := resolveStateFile(cfg.StateFile)
	if err != nil {
		return nil, fmt.Errorf("in_digicert: %w", err)
	}
	if real != cfg.StateFile {
		log.Info("in_digicert: state_file is a symbolic link; the checkpoint is locked and written where it points", "state_file", cfg.StateFile, "target", real)
		cfg.StateFile = real
	}
	e := &Engine{
		cfg: cfg, log: log, src: src, clock: clk,
		buf:      newBuffer(cfg.BufferSize, cfg.MaxBytesPerCollect),
		led:      newLedger(),
		runsDone: map[string]string{},
		done:     make(chan struct{}),
	}
	if err := e.load(); err != nil {
		return nil, fmt.Errorf("in_digicert: %w", err)
	}
	return e, nil
}

// resolveStateFile follows a symbolic link in state_file (its
// final component), so the lock on the journal and the snapshot's atomic rename
// act on the real file: two inputs reaching one checkpoint through a link
// then meet the same lock instead of sharing it unnoticed, and a rename does
// not replace the link with a regular file. A link to a missing file is
// refused rather than guessed at.
func resolveStateFile(p string) (string, error) {
	st, err := os.Lstat(p)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		return p, nil // a regular file, or none yet (a directory link is harmless: the journal is the same file either way)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("state_file: %s is a symbolic link that cannot be followed (%v): point state_file at the checkpoint file itself", p, err)
	}
	if st, err := os.Stat(real); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("state_file: %s is a symbolic link to %s, which is not a regular file: point state_file at the checkpoint file itself", p, real)
	}
	return real, nil
}

// load reads the snapshot and replays the journal into the ledger.
func (e *Engine) load() error {
	jr, err := openJournal(e.cfg.StateFile + ".journal")
	if err != nil {
		return fmt.Errorf("state_file: %w", err)
	}
	snap, err := readSnapshot(e.cfg.StateFile, e.loadRow)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		snap.meta.ReportID = e.cfg.ReportID
	case err != nil:
		jr.close()
		return fmt.Errorf("state_file: %w: fix or move it away (a fresh start re-ships the report's rows)", err)
	case snap.meta.ReportID != e.cfg.ReportID:
		jr.close()
		return fmt.Errorf("state_file: %s holds the checkpoint of report %s, not %s: give every report its own state_file", e.cfg.StateFile, snap.meta.ReportID, e.cfg.ReportID)
	}
	e.meta = snap.meta
	e.gen = snap.gen
	for _, d := range snap.meta.DoneRuns {
		e.runsDone[d.ID] = d.Date
	}
	e.meta.DoneRuns = nil
	if err := e.loadKey(snap.version); err != nil {
		jr.close()
		return fmt.Errorf("state_file: %w", err)
	}
	dropped, err := jr.load(snap.gen, func(typ byte, data []byte) error {
		return e.replay(typ, data, jr.version == legacyVersion)
	})
	if err != nil {
		jr.close()
		return fmt.Errorf("state_file: %w", err)
	}
	e.jr = jr
	e.led.wm = max(e.led.wm, snap.meta.Watermark)
	if e.old != nil {
		e.led.wm = max(e.led.wm, e.old.wm)
	}
	if dropped > 0 {
		e.log.Warn("in_digicert: the checkpoint journal ended in a partly written record (the process stopped while writing it); that record is dropped, so up to one batch of rows may be sent again",
			"report_id", e.cfg.ReportID, "bytes", dropped)
	}
	if e.resave {
		// The key must be on disk before any row hashed with it is
		// journaled; an upgraded checkpoint is rewritten in the new format
		// at once, so a crash cannot leave a mix of formats behind.
		if err := e.compact(); err != nil {
			jr.close()
			return fmt.Errorf("state_file: %w", err)
		}
		if snap.version == legacyVersion {
			e.log.Info("in_digicert: checkpoint upgraded to format version 3 (keyed row hashes); rows it already held are recognised by their old hash until they leave the dedup window",
				"report_id", e.cfg.ReportID, "state_file", e.cfg.StateFile, "legacy_rows", e.old.len())
		}
	}
	e.log.Info("in_digicert: checkpoint loaded", "report_id", e.cfg.ReportID, "state_file", e.cfg.StateFile,
		"known_rows", e.knownRows(), "watermark", formatSec(e.led.wm), "last_run_id", e.meta.LastRunID, "done_runs", len(e.runsDone), "mode", e.cfg.Mode)
	return nil
}

// loadKey takes the row-hash key from the loaded snapshot, or creates one
// for a new checkpoint or one upgraded from format version 2.
func (e *Engine) loadKey(version uint32) error {
	if e.meta.HashKey != "" {
		b, err := hex.DecodeString(e.meta.HashKey)
		if err != nil || len(b) != 16 {
			return fmt.Errorf("state file %s is %w: bad hash_key", e.cfg.StateFile, errCorrupt)
		}
		e.key = hashKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
		return nil
	}
	if version > legacyVersion {
		return fmt.Errorf("state file %s is %w: no hash_key", e.cfg.StateFile, errCorrupt)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("creating the row-hash key: %w", err)
	}
	e.key = hashKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
	e.meta.HashKey = hex.EncodeToString(b[:])
	e.resave = true
	return nil
}

// loadRow applies one row of the snapshot or the journal.
func (e *Engine) loadRow(m rowMeta) {
	if m.flags&flagLegacyHash == 0 {
		e.led.commit(m)
		return
	}
	if e.old == nil {
		e.old = newLedger()
	}
	m.flags &^= flagLegacyHash
	e.old.commit(m)
}

func (e *Engine) knownRows() int {
	if e.old != nil {
		return e.led.len() + e.old.len()
	}
	return e.led.len()
}

// replay applies one journal record; legacy says its rows carry format
// version 2 hashes.
func (e *Engine) replay(typ byte, data []byte, legacy bool) error {
	switch typ {
	case recRows:
		if len(data)%metaSize != 0 {
			return fmt.Errorf("row record of %d bytes", len(data))
		}
		for i := 0; i < len(data); i += metaSize {
			m := readMeta(data[i:])
			if legacy {
				m.flags |= flagLegacyHash
			}
			e.loadRow(m)
		}
	case recRunStart:
		var r digicert.Run
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("run record: %v", err)
		}
		e.meta.Current = &r
	case recRunDone:
		id, date, _ := strings.Cut(string(data), "\x00")
		e.markRunDone(id, date)
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

func (e *Engine) markRunDone(runID, date string) {
	e.meta.LastRunID = runID
	if e.cfg.Mode == ModeFollow {
		e.runsDone[runID] = date
	}
	if e.meta.Current != nil && e.meta.Current.RunID == runID {
		e.meta.Current = nil
	}
}

// MalformedRows counts the rows repaired or skipped as malformed since the
// engine started (every run read, finished or not).
func (e *Engine) MalformedRows() digicert.RowStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.malformed
}

// Start starts the background poller. It returns at once; the first poll
// begins immediately.
func (e *Engine) Start() {
	e.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		e.cancel = cancel
		go e.loop(ctx)
	})
}

// Collect hands the next batch of msgpack records to Fluent Bit: at most
// max_bytes_per_collect bytes (a single larger record goes alone). It asks
// alloc for n bytes, copies the records there, and returns n and the batch
// id; alloc provides the memory Fluent Bit will own (the cgo layer returns
// C.malloc'd memory), so the records are copied once. It never blocks on
// the network and returns 0, 0 when there is nothing to send, while paused,
// or after Stop. The caller calls Release(batch) once Fluent Bit has taken
// the data (the cleanup callback).
func (e *Engine) Collect(alloc func(n int) []byte) (n int, batch uint64) {
	return e.buf.take(alloc)
}

// Release records that batch is in Fluent Bit: its rows are journaled (and
// fsynced) before Release returns, so after a crash only rows handed out and
// not yet released can be sent again. Batches commit in order; releasing a
// later batch first holds its rows until the earlier ones are released.
func (e *Engine) Release(batch uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rows, seq := e.buf.release(batch)
	if seq == 0 {
		return
	}
	if !e.closed {
		e.journalRows(rows)
	}
	for _, m := range rows {
		e.led.commit(m)
	}
	e.committed = seq
	e.settleMarkers()
	e.buf.recycleMetas(rows)
}

// journalRows appends released rows to the journal. Failures are logged, not
// fatal: the rows are in Fluent Bit, the in-memory ledger still counts them,
// and the next successful snapshot persists them; only a crash before that
// would repeat them.
func (e *Engine) journalRows(rows []rowMeta) {
	err := e.syncJournalGen()
	if err == nil {
		err = e.jr.appendRows(rows)
	}
	e.noteJournal(err)
}

// syncJournalGen re-creates the journal header if a reset after the last
// snapshot failed, so appended records are not mistaken for stale ones.
func (e *Engine) syncJournalGen() error {
	if e.jr.gen != e.gen {
		return e.jr.reset(e.gen)
	}
	return nil
}

func (e *Engine) noteJournal(err error) {
	switch {
	case err != nil && !e.journalErr:
		e.journalErr = true
		e.log.Error("in_digicert: cannot write the checkpoint journal; delivery continues, but after a crash rows may be sent again: check free space and permissions of the state_file directory",
			"state_file", e.cfg.StateFile, "error", err)
	case err == nil && e.journalErr:
		e.journalErr = false
		e.log.Info("in_digicert: checkpoint journal writable again", "state_file", e.cfg.StateFile)
	}
}

// settleMarkers completes the runs whose rows are all committed.
func (e *Engine) settleMarkers() {
	for len(e.markers) > 0 && e.markers[0].seq <= e.committed {
		mk := e.markers[0]
		e.markers = e.markers[1:]
		if !e.closed {
			e.noteJournal(e.jr.append(recRunDone, []byte(mk.runID+"\x00"+mk.date)))
		}
		e.markRunDone(mk.runID, mk.date)
	}
}

// Pause stops Collect from handing out rows (Fluent Bit backpressure); the
// poller keeps filling the buffer up to buffer_size, then waits.
func (e *Engine) Pause() { e.buf.setPaused(true) }

// Resume lets Collect hand out rows again.
func (e *Engine) Resume() { e.buf.setPaused(false) }

// Stop cancels in-flight requests, waits up to timeout for the poller, then
// writes the checkpoint for released batches only and closes the state
// files. Rows still buffered, or handed out and not released, are not in the
// checkpoint: the next start ships them. Safe to call more than once.
func (e *Engine) Stop(timeout time.Duration) error {
	e.stopOnce.Do(func() {
		var errs []error
		if e.cancel != nil {
			e.cancel()
		}
		e.buf.close()
		deadline := time.Now().Add(timeout)
		if e.cancel != nil {
			select {
			case <-e.done:
			case <-time.After(timeout):
				errs = append(errs, fmt.Errorf("in_digicert: report %s: the poller did not stop within %v; saving the checkpoint anyway", e.cfg.ReportID, timeout))
			}
		}
		// A batch Fluent Bit took just before the stop is normally released
		// within microseconds (collect and cleanup run back to back on the
		// input thread); wait a little so it is journaled, not repeated.
		for settle := min(time.Until(deadline), time.Second); settle > 0; settle -= 2 * time.Millisecond {
			if _, unreleased := e.buf.stats(); unreleased == 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if err := e.compact(); err != nil {
			errs = append(errs, err)
		}
		e.closed = true
		if err := e.jr.close(); err != nil {
			errs = append(errs, fmt.Errorf("in_digicert: closing journal: %w", err))
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

// compact writes a snapshot of what is committed, prunes rows that fell out
// of the dedup window and empties the journal. Callers hold e.mu.
func (e *Engine) compact() error {
	if e.closed {
		return nil
	}
	if e.jr.size <= journalHeader && !e.journalErr && e.jr.gen == e.gen && e.gen > 0 && !e.resave {
		return nil // nothing happened since the last snapshot
	}
	floor := e.pruneFloor()
	pruned := e.led.prune(floor, e.activeGen)
	if e.old != nil {
		if pruned += e.old.prune(floor, 0); e.old.len() == 0 {
			e.old = nil
		}
	}
	rows := func(fn func(rowMeta)) {
		e.led.durable(fn)
		if e.old != nil {
			e.old.durable(func(m rowMeta) {
				m.flags |= flagLegacyHash
				fn(m)
			})
		}
	}
	count := 0
	rows(func(rowMeta) { count++ })
	meta := e.meta
	meta.Watermark = e.led.wm
	meta.DoneRuns = doneList(e.runsDone)
	if err := writeSnapshot(e.cfg.StateFile, e.gen+1, meta, rows, count); err != nil {
		err = fmt.Errorf("in_digicert: saving checkpoint: %w: check free space and permissions of the state_file directory", err)
		if msg := err.Error(); msg != e.lastSnapErr {
			e.lastSnapErr = msg
			e.log.Error(msg, "state_file", e.cfg.StateFile)
		}
		return err
	}
	e.lastSnapErr = ""
	e.resave = false
	e.gen++
	e.noteJournal(e.jr.reset(e.gen))
	e.log.Debug("in_digicert: checkpoint saved", "report_id", e.cfg.ReportID, "rows", count, "pruned", pruned, "watermark", formatSec(e.led.wm))
	return nil
}

// doneList is the done set in a stable order (by run date, then id).
func doneList(done map[string]string) []doneRun {
	list := make([]doneRun, 0, len(done))
	for id, date := range done {
		list = append(list, doneRun{ID: id, Date: date})
	}
	slices.SortFunc(list, func(a, b doneRun) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), cmp.Compare(a.ID, b.ID))
	})
	return list
}

// adoptLastRun upgrades a checkpoint that has only the newest run done
// (format version 2, or one written in run mode): every run up to it in
// history order counts as done. Callers hold e.mu.
func (e *Engine) adoptLastRun(runs []digicert.Run) {
	if len(e.runsDone) > 0 || e.meta.LastRunID == "" {
		return
	}
	i := slices.IndexFunc(runs, func(r digicert.Run) bool { return r.RunID == e.meta.LastRunID })
	if i < 0 {
		return // no longer listed: every run is shipped again, the ledger drops what it knows
	}
	for _, r := range runs[:i+1] {
		e.runsDone[r.RunID] = runDate(r)
	}
}

// pruneDone forgets done runs that history no longer lists and that are
// older than DigiCert's retention (so they cannot come back), or have no
// readable date. The age is measured against the newest listed run, never
// the host clock. Callers hold e.mu.
func (e *Engine) pruneDone(runs []digicert.Run, newest time.Time) {
	if newest.IsZero() || len(e.runsDone) == 0 {
		return
	}
	listed := make(map[string]bool, len(runs))
	for _, r := range runs {
		listed[r.RunID] = true
	}
	for id, date := range e.runsDone {
		if listed[id] {
			continue
		}
		if t, ok := parseRunDate(date); !ok || newest.Sub(t) > retention {
			delete(e.runsDone, id)
			delete(e.p.handled, id)
		}
	}
}

// pruneFloor is the oldest event time the ledger must remember: the dedup
// window below the watermark, or the active run's cutoff if that is older
// (its rows are still being counted against the ledger).
func (e *Engine) pruneFloor() uint32 {
	if e.led.wm == 0 {
		return 0
	}
	floor := int64(e.led.wm) - int64(e.cfg.DedupWindow/time.Second)
	if e.activeGen != 0 {
		floor = min(floor, int64(e.activeCut))
	}
	return uint32(max(floor, 0))
}

// cutoff is the oldest event time a run starting now ships: the dedup window
// below the watermark, never before start_time. With no watermark yet (first
// run) it is start_time, or nothing.
func (e *Engine) cutoff() uint32 {
	var c int64
	if !e.cfg.StartTime.IsZero() {
		c = e.cfg.StartTime.Unix()
	}
	if e.led.wm != 0 {
		c = max(c, int64(e.led.wm)-int64(e.cfg.DedupWindow/time.Second))
	}
	return uint32(min(max(c, 0), 0xFFFFFFFF))
}

func formatSec(s uint32) string {
	if s == 0 {
		return "none"
	}
	return time.Unix(int64(s), 0).UTC().Format(time.RFC3339)
}
