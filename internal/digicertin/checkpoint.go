package digicertin

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

// checkpoint is what the input remembers across restarts: the dedup ledger
// and watermark, the runs done, and the two files that keep them (the
// snapshot, state_file, and its journal; see snapshot.go and journal.go).
// The poller asks it what to ship (beginRun, observe, notDone, runQueued),
// the Release path tells it what Fluent Bit has (commit), and it writes
// itself out (save, close). Safe for concurrent use.
type checkpoint struct {
	cfg Config
	log flb.Logger
	m   metrics.Sink // write errors are counted (set before use)

	mu          sync.Mutex // guards the fields below; never held while taking the buffer's lock
	led         *ledger
	old         [len(legacyFormats)]*ledger // rows of each of legacyFormats; nil once none is left
	key         hashKey                     // row-hash key of this checkpoint
	resave      bool                        // write a snapshot even if nothing changed (new key, format upgrade)
	jr          *journal
	gen         uint64    // snapshot generation on disk
	meta        stateMeta // durable run progress (LastRunID, Current)
	committed   uint64    // every row with a smaller sequence number is in Fluent Bit
	markers     []runMarker
	runsDone    map[string]string // follow mode: runs done (id → DigiCert's run date), see notDone
	activeGen   uint32            // run being counted, 0 = none
	activeCut   uint32            // its cutoff
	journalErr  bool              // a journal write failed; logged once until one succeeds
	closed      bool
	lastSnapErr string
}

// runMarker says: once every row before seq is committed, run runID is done.
type runMarker struct {
	seq   uint64
	runID string
	date  string // the run's date in history
}

// journalCompactBytes triggers a snapshot in the middle of a long run, so the
// journal (25 bytes per released row) stays small and loads fast.
const journalCompactBytes = 64 << 20

// openCheckpoint locks and loads the checkpoint of cfg.StateFile (following
// a symbolic link). A corrupt checkpoint, or one written for another report,
// is an error; a missing one is a fresh start.
func openCheckpoint(cfg Config, log flb.Logger) (*checkpoint, error) {
	real, err := resolveStateFile(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	if real != cfg.StateFile {
		log.Info("state_file is a symbolic link; the checkpoint is locked and written where it points", "state_file", cfg.StateFile, "target", real)
		cfg.StateFile = real
	}
	c := &checkpoint{cfg: cfg, log: log, m: metrics.Nop{}, led: newLedger(), runsDone: map[string]string{}}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// beginRun starts counting run (occurrence generation gen) and journals it
// as the run being shipped. It returns the run's cutoff, the watermark, and
// whether rows of an earlier format are still known (see observe).
func (c *checkpoint) beginRun(run digicert.Run, gen uint32) (cutoff, wm uint32, legacy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cutoff = c.cutoff()
	if i := c.pendingIndex(run.RunID); i >= 0 {
		cutoff = min(cutoff, c.meta.Pending[i].Cutoff)
	}
	c.activeGen, c.activeCut = gen, cutoff
	c.meta.Current = &run
	if b, err := json.Marshal(run); err == nil && !c.closed {
		c.noteJournal(c.jr.append(recRunStart, b))
	}
	return cutoff, c.led.wm, c.old != [len(legacyFormats)]*ledger{}
}

// endRun ends the count begun by beginRun (done, failed or abandoned).
func (c *checkpoint) endRun() {
	c.mu.Lock()
	c.activeGen = 0
	c.mu.Unlock()
}

// observe counts one occurrence of the row with identity and meta m in run
// gen and decides whether to emit it (see ledger.observe).
//
// Rows of a checkpoint of format version 2 or 3 are known by a hash of
// their msgpack body, which cannot be converted (rows are not stored): the
// caller passes the row's body while beginRun said such rows are known
// (for every row the cutoff does not skip), and the row then moves to its
// identity. Those ledgers only shrink, and are empty once their rows have
// been seen again or left the dedup window, so rows are encoded for this
// at most dedup_window after an upgrade; body is nil after that.
//
// next, if not nil, is the identity of the row the caller observes after
// this one: its place in the ledger is fetched meanwhile (ledger.prefetch).
func (c *checkpoint) observe(body []byte, m rowMeta, gen, cutoff, untimedSec uint32, next *rowHash) (decision, uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if next != nil {
		c.led.prefetch(next)
	}
	if body != nil && !belowCutoff(m.sec, m.flags, cutoff) {
		for i, f := range legacyFormats {
			if old := c.old[i]; old != nil {
				c.led.adopt(old, f.hash(c.key, body), m.hash)
			}
		}
	}
	return c.led.observe(m.hash, m.sec, m.flags, gen, cutoff, untimedSec)
}

// unpromise takes back what observe promised for m, a row that could not
// be queued after all.
func (c *checkpoint) unpromise(m rowMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.led.unpromise(m)
}

// prefetch starts fetching the ledger's memory for a row about to be
// observed (ledger.prefetch).
func (c *checkpoint) prefetch(h *rowHash) {
	c.mu.Lock()
	c.led.prefetch(h)
	c.mu.Unlock()
}

// commit records rows that Fluent Bit has taken, in order, every row before
// sequence number seq: they are journaled (and fsynced) before it returns,
// and the runs all of whose rows are now in Fluent Bit become done.
func (c *checkpoint) commit(rows []rowMeta, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.journalRows(rows)
	}
	for _, m := range rows {
		c.led.commit(m)
	}
	c.committed = seq
	c.settleMarkers()
}

// runQueued records that every row of run is queued, seq being the sequence
// number after its last row: the run is done once those are committed.
func (c *checkpoint) runQueued(run digicert.Run, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.markers = append(c.markers, runMarker{seq: seq, runID: run.RunID, date: runDate(run)})
	c.settleMarkers()
}

// notDone returns the runs of a READY listing (oldest first) that are not
// done, after forgetting done runs the listing shows are gone for good.
func (c *checkpoint) notDone(runs []digicert.Run) []digicert.Run {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.adoptLastRun(runs)
	c.pruneDone(runs, newestRunTime(runs))
	var todo []digicert.Run
	for _, r := range runs {
		if _, done := c.runsDone[r.RunID]; !done {
			todo = append(todo, r)
		}
	}
	return todo
}

// runFailed records a failed attempt at run (the one begun last) and
// returns how many attempts in a row have failed.
func (c *checkpoint) runFailed(run digicert.Run) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.pendingIndex(run.RunID)
	if i < 0 {
		c.meta.Pending = append(c.meta.Pending, pendingRun{Run: run, Cutoff: c.activeCut})
		i = len(c.meta.Pending) - 1
	}
	c.meta.Pending[i].Failures++
	c.resave = true
	return c.meta.Pending[i].Failures
}

// runSettled forgets run as pending: its rows are queued, or it was given
// up on (giveUp: then it is not resumed after a restart either; a queued
// run stays current until its rows are committed).
func (c *checkpoint) runSettled(runID string, giveUp bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if giveUp && c.meta.Current != nil && c.meta.Current.RunID == runID {
		c.meta.Current = nil
	}
	if i := c.pendingIndex(runID); i >= 0 {
		c.meta.Pending = slices.Delete(c.meta.Pending, i, i+1)
		c.resave = true
	}
}

// pending returns the runs whose download failed, oldest failure first.
func (c *checkpoint) pending() []pendingRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.meta.Pending)
}

// pendingIndex is run runID's index in meta.Pending, or -1. Callers hold c.mu.
func (c *checkpoint) pendingIndex(runID string) int {
	return slices.IndexFunc(c.meta.Pending, func(p pendingRun) bool { return p.Run.RunID == runID })
}

// interrupted is the run being shipped when the checkpoint was last
// written, if it was not finished.
func (c *checkpoint) interrupted() *digicert.Run {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta.Current
}

// save writes a snapshot and empties the journal, if anything changed.
func (c *checkpoint) save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.compact()
}

// saveIfLarge saves in the middle of a long run once the journal is big, so
// a crash does not leave a huge journal to replay.
func (c *checkpoint) saveIfLarge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.jr.size > journalCompactBytes {
		c.compact()
	}
}

// close saves the checkpoint and closes (and unlocks) its files; later calls
// change nothing on disk.
func (c *checkpoint) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.compact()
	c.closed = true
	if cerr := c.jr.close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing journal: %w", cerr))
	}
	return err
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

// load reads the snapshot and replays the journal into the ledger.
func (c *checkpoint) load() error {
	jr, err := openJournal(c.cfg.StateFile + ".journal")
	if err != nil {
		return fmt.Errorf("state_file: %w", err)
	}
	snap, err := readSnapshot(c.cfg.StateFile, c.led.reserve, c.loadRow)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		jr.close()
		return fmt.Errorf("state_file: %w: fix or move it away (a fresh start re-ships the report's rows)", err)
	}
	other := snap.meta.ReportID // the report the file is bound to, if not this one
	if other == c.cfg.ReportID {
		other = ""
	}
	c.meta = snap.meta
	c.gen = snap.gen
	for _, d := range snap.meta.DoneRuns {
		c.runsDone[d.ID] = d.Date
	}
	c.meta.DoneRuns = nil
	if err := c.loadKey(snap.version); err != nil {
		jr.close()
		return fmt.Errorf("state_file: %w", err)
	}
	dropped, err := jr.load(snap.gen, func(typ byte, data []byte) error {
		return c.replay(typ, data, legacyRowFlag(uint32(jr.version)))
	})
	if err != nil {
		jr.close()
		return fmt.Errorf("state_file: %w", err)
	}
	c.jr = jr
	c.led.wm = max(c.led.wm, snap.meta.Watermark)
	for _, old := range c.old {
		if old != nil {
			c.led.wm = max(c.led.wm, old.wm)
		}
	}
	// An earlier format is rewritten in this one at once (below), so a
	// crash cannot leave a mix of formats behind: rows journaled from now
	// on have this format's identities.
	c.resave = c.resave || (snap.version != 0 && snap.version < snapshotVersion) || jr.version < journalVersion
	switch {
	case other != "" && !c.empty():
		jr.close()
		return fmt.Errorf("state_file: %s holds the checkpoint of report %s, not %s: give every report its own state_file", c.cfg.StateFile, other, c.cfg.ReportID)
	case other != "" || snap.meta.ReportID == "":
		// Nothing was ever committed under the old id (a start that failed
		// its check with a wrong report_id): the file is not the other
		// report's, so it is taken for this one.
		c.meta.ReportID = c.cfg.ReportID
		c.resave = c.resave || other != ""
	}
	if dropped > 0 {
		c.log.Warn("the checkpoint journal ended in a partly written record (the process stopped while writing it); that record is dropped, so up to one batch of rows may be sent again",
			"report_id", c.cfg.ReportID, "bytes", dropped)
	}
	if c.resave {
		// The key must be on disk before any row hashed with it is
		// journaled, and an upgraded checkpoint in the new format.
		if err := c.compact(); err != nil {
			jr.close()
			return fmt.Errorf("state_file: %w", err)
		}
		if snap.version != 0 && snap.version < snapshotVersion {
			c.log.Info("checkpoint upgraded to format version 4 (rows identified from their decoded JSON); rows it already held are recognised by their old hash until they are seen again or leave the dedup window",
				"report_id", c.cfg.ReportID, "state_file", c.cfg.StateFile, "from_version", snap.version, "legacy_rows", c.knownRows()-c.led.len())
		}
	}
	c.log.Info("checkpoint loaded", "report_id", c.cfg.ReportID, "state_file", c.cfg.StateFile,
		"known_rows", c.knownRows(), "watermark", formatSec(c.led.wm), "last_run_id", c.meta.LastRunID, "done_runs", len(c.runsDone), "mode", c.cfg.Mode)
	return nil
}

// empty reports whether nothing was ever committed or marked done: no
// row, no watermark, no run. Callers hold c.mu (or are loading).
func (c *checkpoint) empty() bool {
	return c.knownRows() == 0 && c.led.wm == 0 && len(c.runsDone) == 0 && len(c.markers) == 0 &&
		c.meta.LastRunID == "" && c.meta.Current == nil && len(c.meta.Pending) == 0
}

// loadKey takes the row-hash key from the loaded snapshot, or creates one
// for a new checkpoint or one upgraded from format version 2.
func (c *checkpoint) loadKey(version uint32) error {
	if c.meta.HashKey != "" {
		b, err := hex.DecodeString(c.meta.HashKey)
		if err != nil || len(b) != 16 {
			return fmt.Errorf("state file %s is %w: bad hash_key", c.cfg.StateFile, errCorrupt)
		}
		c.key = hashKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
		return nil
	}
	if version > legacyVersion {
		return fmt.Errorf("state file %s is %w: no hash_key", c.cfg.StateFile, errCorrupt)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("creating the row-hash key: %w", err)
	}
	c.key = hashKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
	c.meta.HashKey = hex.EncodeToString(b[:])
	c.resave = true
	return nil
}

// loadRow applies one row of the snapshot or the journal: to the ledger of
// its format (flagLegacyHash, flagBodyHash).
func (c *checkpoint) loadRow(m rowMeta) {
	for i, f := range legacyFormats {
		if m.flags&f.flag != 0 {
			if c.old[i] == nil {
				c.old[i] = newLedger()
			}
			m.flags &^= f.flag
			c.old[i].commit(m)
			return
		}
	}
	c.led.commit(m)
}

func (c *checkpoint) knownRows() int {
	n := c.led.len()
	for _, old := range c.old {
		if old != nil {
			n += old.len()
		}
	}
	return n
}

// replay applies one journal record; legacy is the flag of the format of
// its rows' hashes (see legacyRowFlag).
func (c *checkpoint) replay(typ byte, data []byte, legacy uint8) error {
	switch typ {
	case recRows:
		if len(data)%metaSize != 0 {
			return fmt.Errorf("row record of %d bytes", len(data))
		}
		for i := 0; i < len(data); i += metaSize {
			c.loadRow(withLegacyFlag(readMeta(data[i:]), legacy))
		}
	case recRunStart:
		var r digicert.Run
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("run record: %v", err)
		}
		c.meta.Current = &r
	case recRunDone:
		id, date, _ := strings.Cut(string(data), "\x00")
		c.markRunDone(id, date)
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

func (c *checkpoint) markRunDone(runID, date string) {
	c.meta.LastRunID = runID
	if c.cfg.Mode == ModeFollow {
		c.runsDone[runID] = date
	}
	if c.meta.Current != nil && c.meta.Current.RunID == runID {
		c.meta.Current = nil
	}
}

// journalRows appends released rows to the journal. Failures are logged, not
// fatal: the rows are in Fluent Bit, the in-memory ledger still counts them,
// and the next successful snapshot persists them; only a crash before that
// would repeat them.
func (c *checkpoint) journalRows(rows []rowMeta) {
	err := c.syncJournalGen()
	if err == nil {
		err = c.jr.appendRows(rows)
	}
	c.noteJournal(err)
}

// syncJournalGen re-creates the journal header if a reset after the last
// snapshot failed, so appended records are not mistaken for stale ones.
func (c *checkpoint) syncJournalGen() error {
	if c.jr.gen != c.gen {
		return c.jr.reset(c.gen)
	}
	return nil
}

func (c *checkpoint) noteJournal(err error) {
	if err != nil {
		c.m.Add(MetricCheckpointErrs, "", 1)
	}
	switch {
	case err != nil && !c.journalErr:
		c.journalErr = true
		c.log.Error("cannot write the checkpoint journal; delivery continues, but after a crash rows may be sent again: check free space and permissions of the state_file directory",
			"state_file", c.cfg.StateFile, "error", err)
	case err == nil && c.journalErr:
		c.journalErr = false
		c.log.Info("checkpoint journal writable again", "state_file", c.cfg.StateFile)
	}
}

// settleMarkers completes the runs whose rows are all committed.
func (c *checkpoint) settleMarkers() {
	for len(c.markers) > 0 && c.markers[0].seq <= c.committed {
		mk := c.markers[0]
		c.markers = c.markers[1:]
		if !c.closed {
			c.noteJournal(c.jr.append(recRunDone, []byte(mk.runID+"\x00"+mk.date)))
		}
		c.markRunDone(mk.runID, mk.date)
	}
}

// compact writes a snapshot of what is committed, prunes rows that fell out
// of the dedup window and empties the journal. Callers hold c.mu.
func (c *checkpoint) compact() error {
	if c.closed {
		return nil
	}
	if c.jr.size <= journalHeader && !c.journalErr && c.jr.gen == c.gen && c.gen > 0 && !c.resave {
		return nil // nothing happened since the last snapshot
	}
	floor := c.pruneFloor()
	pruned := c.led.prune(floor, c.activeGen)
	for i := range c.old {
		if old := c.old[i]; old != nil {
			if pruned += old.prune(floor, 0); old.len() == 0 {
				c.old[i] = nil
			}
		}
	}
	rows := func(fn func(rowMeta)) {
		c.led.durable(fn)
		for i, f := range legacyFormats {
			if old := c.old[i]; old != nil {
				old.durable(func(m rowMeta) {
					m.flags |= f.flag
					fn(m)
				})
			}
		}
	}
	count := 0
	rows(func(rowMeta) { count++ })
	meta := c.meta
	if c.empty() {
		// Bound to a report only once something is committed: a report_id
		// the start-up check refuses (a typo, or the API key pasted there)
		// is neither kept on disk nor locks the file to a wrong report.
		meta.ReportID = ""
	}
	meta.Watermark = c.led.wm
	meta.DoneRuns = doneList(c.runsDone)
	if err := writeSnapshot(c.cfg.StateFile, c.gen+1, meta, rows, count); err != nil {
		c.m.Add(MetricCheckpointErrs, "", 1)
		err = fmt.Errorf("saving checkpoint: %w: check free space and permissions of the state_file directory", err)
		if msg := err.Error(); msg != c.lastSnapErr {
			c.lastSnapErr = msg
			c.log.Error(msg, "state_file", c.cfg.StateFile)
		}
		return err
	}
	c.lastSnapErr = ""
	c.resave = false
	c.gen++
	c.noteJournal(c.jr.reset(c.gen))
	c.log.Debug("checkpoint saved", "report_id", c.cfg.ReportID, "rows", count, "pruned", pruned, "watermark", formatSec(c.led.wm))
	return nil
}

// adoptLastRun upgrades a checkpoint that has only the newest run done
// (format version 2, or one written in run mode): every run up to it in
// history order counts as done. Callers hold c.mu.
func (c *checkpoint) adoptLastRun(runs []digicert.Run) {
	if len(c.runsDone) > 0 || c.meta.LastRunID == "" {
		return
	}
	i := slices.IndexFunc(runs, func(r digicert.Run) bool { return r.RunID == c.meta.LastRunID })
	if i < 0 {
		return // no longer listed: every run is shipped again, the ledger drops what it knows
	}
	for _, r := range runs[:i+1] {
		c.runsDone[r.RunID] = runDate(r)
	}
}

// pruneDone forgets done runs that history no longer lists and that are
// older than DigiCert's retention (so they cannot come back), or have no
// readable date. The age is measured against the newest listed run, never
// the host clock. Callers hold c.mu.
func (c *checkpoint) pruneDone(runs []digicert.Run, newest time.Time) {
	if newest.IsZero() || len(c.runsDone) == 0 {
		return
	}
	listed := make(map[string]bool, len(runs))
	for _, r := range runs {
		listed[r.RunID] = true
	}
	for id, date := range c.runsDone {
		if listed[id] {
			continue
		}
		if t, ok := parseRunDate(date); !ok || newest.Sub(t) > retention {
			delete(c.runsDone, id)
		}
	}
}

// pruneFloor is the oldest event time the ledger must remember: the dedup
// window below the watermark, or the active run's or a pending run's cutoff
// if that is older (their rows are, or will be, counted against the ledger).
func (c *checkpoint) pruneFloor() uint32 {
	if c.led.wm == 0 {
		return 0
	}
	floor := int64(c.led.wm) - int64(c.cfg.DedupWindow/time.Second)
	if c.activeGen != 0 {
		floor = min(floor, int64(c.activeCut))
	}
	for _, p := range c.meta.Pending {
		floor = min(floor, int64(p.Cutoff))
	}
	return uint32(max(floor, 0))
}

// cutoff is the oldest event time a run starting now ships: the dedup window
// below the watermark, never before start_time. With no watermark yet (first
// run) it is start_time, or nothing.
func (c *checkpoint) cutoff() uint32 {
	var cut int64
	if !c.cfg.StartTime.IsZero() {
		cut = c.cfg.StartTime.Unix()
	}
	if c.led.wm != 0 {
		cut = max(cut, int64(c.led.wm)-int64(c.cfg.DedupWindow/time.Second))
	}
	return uint32(min(max(cut, 0), 0xFFFFFFFF))
}
