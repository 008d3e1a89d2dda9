package digicertin

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
)

const (
	// maxRunFailures: a READY run whose download failed this many polls in
	// a row (e.g. a damaged file) is given up rather than retried for ever.
	maxRunFailures = 5
	// configBackoff is the least wait after a configuration error (bad key,
	// missing permission, unknown report): such errors need a person, and
	// retrying faster would only burn the key's rate limit.
	configBackoff = time.Hour
	// futureSlack: an event time further ahead of the collection time than
	// this is not trusted for the watermark (a wrong date must not make the
	// input skip every real row after it).
	futureSlack = time.Hour
)

// pollerState belongs to the poller goroutine alone.
type pollerState struct {
	clockWarned bool            // the host clock was found behind the watermark
	handled     map[string]bool // follow mode: runs queued by this process, done once their rows are committed
	gen         uint32          // run generation for per-run occurrence counts
	reportOK    bool            // report details checked
	resumed     bool            // run mode: the checkpoint's unfinished run was tried
	nextPoll    time.Time
	onPost      func(error) // the start-up check awaits the first POST …/run
	newestSent  uint32      // newest event time queued so far (Unix seconds), for the freshness gauge
	enc         RowEncoder
	ident       rowIdent
	rec         []byte
	encoded     int // rows encoded to msgpack (tests check that shipped rows are not)
	hashed      int // row identities computed (tests check that old rows need none)
}

// errConfig marks problems only a configuration change can fix.
var errConfig = errors.New("configuration")

func (e *Engine) loop(ctx context.Context) {
	defer close(e.done)
	for {
		next := e.safeCycle(ctx)
		if ctx.Err() != nil {
			return
		}
		e.buf.idle()
		select {
		case <-ctx.Done():
			return
		case <-e.clock.After(next):
		}
	}
}

// safeCycle runs one poll cycle; a panic is logged and retried at the next
// interval, never allowed to reach Fluent Bit.
func (e *Engine) safeCycle(ctx context.Context) (next time.Duration) {
	defer func() {
		if r := recover(); r != nil {
			e.cp.endRun()
			next = e.cfg.Interval
			e.log.Error("internal error in the poller; the run is abandoned and retried at the next poll (please report this with the stack)",
				"report_id", e.cfg.ReportID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	return e.cycle(ctx)
}

// cycle is one poll: check the report once, get the runs to ship (trigger
// one, or list new READY ones), ship them, save the checkpoint.
func (e *Engine) cycle(ctx context.Context) time.Duration {
	e.p.nextPoll = e.clock.Now().Add(e.cfg.Interval)
	err := e.checkReport(ctx)
	if err == nil {
		if e.cfg.Mode == ModeFollow {
			err = e.follow(ctx)
		} else {
			err = e.trigger(ctx)
		}
	}
	e.cp.save()
	if err != nil {
		return e.failed(err)
	}
	e.m.Set(MetricLastSuccess, "", float64(e.clock.Now().Unix()))
	// Polls start every interval, however long shipping took.
	return max(e.p.nextPoll.Sub(e.clock.Now()), 0)
}

// checkReport verifies once that the report exists, is visible to the key
// and produces JSON, so a wrong report_id gets a clear message.
func (e *Engine) checkReport(ctx context.Context) error {
	if e.p.reportOK {
		return nil
	}
	info, err := e.src.Report(ctx, e.cfg.ReportID)
	if err != nil {
		return fmt.Errorf("reading the report's details: %w", err)
	}
	if err := e.reportUnusable(info); err != nil {
		return err
	}
	e.p.reportOK = true
	return nil
}

// reportUnusable says why a report cannot be shipped: it must produce JSON
// (only the format chosen at creation can be downloaded) and be an
// audit-log report (other types have other rows and no event time).
func (e *Engine) reportUnusable(info digicert.ReportInfo) error {
	if len(info.Format) > 0 && !info.HasFormat("JSON") {
		return fmt.Errorf("%w: report %s produces %v, not JSON: change its format to JSON in Reports > Report Library (only the format chosen there can be downloaded)", errConfig, e.cfg.ReportID, info.Format)
	}
	if info.ReportType != "" && info.ReportType != "audit-logs" {
		return fmt.Errorf("%w: report %s is of type %s, not an audit-log report: set report_id to the UUID of an Audit log report (Reports > Report Library)", errConfig, e.cfg.ReportID, info.ReportType)
	}
	return nil
}

// follow ships every READY run not done yet, oldest first. Runs can turn
// READY out of order, so what is done is a set of run ids (persisted in the
// checkpoint), not the newest id. A run that fails does not hold back the
// others: it is retried at later polls (judged by the cutoff of its first
// attempt, so newer runs shipped meanwhile cannot make its rows look old),
// up to maxRunFailures attempts in a row. A 404 or an empty body counts as
// such a failure (a proxy's error page, a file not yet in place); only a run
// older than DigiCert's retention is skipped at once.
func (e *Engine) follow(ctx context.Context) error {
	runs, err := e.src.ReadyRuns(ctx, e.cfg.ReportID)
	if err != nil {
		return fmt.Errorf("listing READY runs: %w", err)
	}
	newest := newestRunTime(runs)
	var todo []digicert.Run
	for _, r := range e.cp.notDone(runs) {
		if !e.p.handled[r.RunID] {
			todo = append(todo, r)
		}
	}
	e.p.forgetHandled(runs)
	e.dropUnlisted(runs)
	if len(todo) == 0 {
		e.log.Debug("no new READY run", "report_id", e.cfg.ReportID, "listed", len(runs), "next_poll", e.p.nextPoll.UTC().Format(time.RFC3339))
	}
	var errs []error
	for _, r := range todo {
		err := e.shipRun(ctx, r)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return err
		case errors.Is(err, digicert.ErrRunNotFound) && pastRetention(r, newest):
			e.cp.runSettled(r.RunID, true)
			e.log.Error("run is older than DigiCert's 90-day retention and can no longer be downloaded; skipping it (rows only in it are missing unless later runs overlap it)",
				"report_id", e.cfg.ReportID, "run_id", r.RunID, "run_date", runDate(r), "newest_run_date", newest.Format(runDateLayout), "error", err.Error())
			e.runHandled(r)
		default:
			if err := e.attemptFailed(r, err); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// attemptFailed counts a failed download of READY run r: the error to
// report for the poll while r is still retried, nil once it is given up
// (after maxRunFailures attempts in a row: a damaged file must not be
// retried for ever).
func (e *Engine) attemptFailed(r digicert.Run, err error) error {
	if e.cp.runFailed(r) < maxRunFailures {
		return err
	}
	e.giveUp(r, maxRunFailures, err.Error())
	return nil
}

// giveUp stops retrying run r, at error level: its rows are missing unless
// another run overlaps them.
func (e *Engine) giveUp(r digicert.Run, attempts int, why string) {
	e.cp.runSettled(r.RunID, true)
	e.m.Add(MetricRuns, RunGivenUp, 1)
	e.log.Error("giving up on a run that failed at every poll; rows that appear only in it are missing (later runs overlap it, so usually none)",
		"report_id", e.cfg.ReportID, "run_id", r.RunID, "attempts", attempts, "error", why)
	if e.cfg.Mode == ModeFollow {
		e.runHandled(r)
	}
}

// dropUnlisted gives up on pending runs that history no longer lists
// (follow mode): they cannot be downloaded any more.
func (e *Engine) dropUnlisted(runs []digicert.Run) {
	for _, p := range e.cp.pending() {
		if !slices.ContainsFunc(runs, func(r digicert.Run) bool { return r.RunID == p.Run.RunID }) {
			e.giveUp(p.Run, p.Failures, "report history no longer lists the run")
		}
	}
}

// retention is how long DigiCert keeps report files.
const retention = 90 * 24 * time.Hour

// runDateLayout is how DigiCert writes run dates in report history.
const runDateLayout = "2006-01-02 15:04:05"

// runDate is the date DigiCert gives a run: its start, else its creation.
func runDate(r digicert.Run) string {
	if r.StartDate != "" {
		return r.StartDate
	}
	return r.CreatedDate
}

// parseRunDate reads a run date; ok is false for a date it cannot read. The
// zone is unknown, so such times are only compared with each other.
func parseRunDate(s string) (time.Time, bool) {
	for _, layout := range []string{runDateLayout, time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// newestRunTime is the latest run date in the listing (zero if none can be
// read): DigiCert's own clock, so retention is judged without the host's.
func newestRunTime(runs []digicert.Run) time.Time {
	var newest time.Time
	for _, r := range runs {
		if t, ok := parseRunDate(runDate(r)); ok && t.After(newest) {
			newest = t
		}
	}
	return newest
}

// pastRetention reports whether run r is older than DigiCert's retention,
// measured against the newest run DigiCert lists.
func pastRetention(r digicert.Run, newest time.Time) bool {
	t, ok := parseRunDate(runDate(r))
	return ok && !newest.IsZero() && newest.Sub(t) > retention
}

// trigger (run mode) first downloads again the READY runs whose download
// failed (DigiCert keeps run files 90 days) and the run a previous process
// was shipping, then starts a run and ships what becomes READY. A run that
// fails to download is retried at later polls, up to maxRunFailures
// attempts in a row, judged by the cutoff of its first attempt; it does not
// stop the new run.
func (e *Engine) trigger(ctx context.Context) error {
	var retry []digicert.Run
	for _, p := range e.cp.pending() {
		retry = append(retry, p.Run)
	}
	if !e.p.resumed {
		e.p.resumed = true
		if cur := e.cp.interrupted(); cur != nil && !slices.ContainsFunc(retry, func(r digicert.Run) bool { return r.RunID == cur.RunID }) {
			e.log.Info("resuming the run the last stop interrupted", "report_id", e.cfg.ReportID, "run_id", cur.RunID)
			retry = append(retry, *cur)
		}
	}
	var errs []error
	ship := func(r digicert.Run) error {
		err := e.shipRun(ctx, r)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if err := e.attemptFailed(r, err); err != nil {
			errs = append(errs, err)
		}
		return nil
	}
	if len(retry) > 0 && e.p.onPost != nil {
		// Runs to download come before the POST: the start-up check must
		// not hold Fluent Bit's start while they fill the buffer (nothing
		// drains it before init returns). A refusal of the POST shows at
		// this poll instead.
		e.p.onPost(errPostLater)
		e.p.onPost = nil
	}
	for _, r := range retry {
		if err := ship(r); err != nil {
			return err
		}
	}
	runs, err := e.src.RunReport(ctx, e.cfg.ReportID, digicert.WaitOptions{PollInterval: e.cfg.PollInterval, Timeout: e.cfg.WaitTimeout, OnPost: e.p.onPost})
	e.p.onPost = nil
	// RunReport returns the runs that became READY even when another failed.
	for _, r := range runs {
		if serr := ship(r); serr != nil {
			return serr
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("running the report: %w", err))
	}
	return errors.Join(errs...)
}

// runStats counts one run's rows for its log line.
type runStats struct {
	seen, emitted, shipped, old, untimed, future, malformed int
	rows                                                    digicert.RowStats // repaired or skipped by the client
	newest                                                  uint32            // newest event time queued (Unix seconds)
}

// shipRun downloads one READY run and queues every row not shipped before.
// On error the rows queued so far stay queued (they will be delivered and
// committed); nothing is marked done, so the run, or a later run covering the
// same rows, is read again and the ledger skips what was already queued.
func (e *Engine) shipRun(ctx context.Context, run digicert.Run) error {
	started := e.clock.Now()
	e.p.gen++
	gen := e.p.gen
	cutoff, wm, legacy := e.cp.beginRun(run, gen)
	defer e.cp.endRun()

	var st runStats
	err := e.readRun(ctx, run, gen, cutoff, wm, legacy, &st)
	e.statsMu.Lock()
	e.malformed.Add(st.rows)
	e.statsMu.Unlock()
	switch {
	case err == nil:
		e.runMetrics(&st, RunShipped)
	case ctx.Err() != nil:
		e.runMetrics(&st, "")
	default:
		e.runMetrics(&st, RunFailed)
	}
	e.noteBuffered()
	args := []any{"report_id", e.cfg.ReportID, "run_id", run.RunID, "rows", st.seen, "emitted", st.emitted,
		"skipped_shipped", st.shipped, "skipped_old", st.old, "unparseable_time", st.untimed}
	if st.future > 0 {
		args = append(args, "future_time", st.future)
	}
	if st.malformed > 0 {
		args = append(args, "malformed", st.malformed)
	}
	args = appendRowStats(args, st.rows)
	args = append(args, "parts", run.Parts(), "duration", e.clock.Now().Sub(started).Round(time.Millisecond))
	switch {
	case err != nil && ctx.Err() != nil:
		e.log.Info("stopping in the middle of a run; the next start picks it up again", args...)
		return fmt.Errorf("reading run %s: %w", run.RunID, err)
	case err != nil:
		e.log.Warn("run interrupted; rows queued so far are delivered, the rest is retried at the next poll",
			append(args, "error", err.Error())...)
		return fmt.Errorf("reading run %s: %w", run.RunID, err)
	}
	e.runHandled(run)
	e.cp.runSettled(run.RunID, false)
	e.log.Info("run shipped", append(args, "next_poll", e.p.nextPoll.UTC().Format(time.RFC3339))...)
	return nil
}

// runHandled records that every row of run is queued: the run is done once
// all of them are committed.
func (e *Engine) runHandled(run digicert.Run) {
	if e.cfg.Mode == ModeFollow {
		if e.p.handled == nil {
			e.p.handled = map[string]bool{}
		}
		e.p.handled[run.RunID] = true
	}
	e.cp.runQueued(run, e.buf.seq())
}

// forgetHandled drops runs that history no longer lists from the runs this
// process queued (those still listed are remembered by the checkpoint once
// committed; keeping them here too is cheap and covers the time before).
func (p *pollerState) forgetHandled(runs []digicert.Run) {
	if len(p.handled) == 0 {
		return
	}
	listed := make(map[string]bool, len(runs))
	for _, r := range runs {
		listed[r.RunID] = true
	}
	for id := range p.handled {
		if !listed[id] {
			delete(p.handled, id)
		}
	}
}

// readRun streams a run's rows through the row identity, the ledger and
// the buffer. A row is encoded to msgpack only when it is emitted, or while
// the checkpoint still knows rows by a hash of an earlier format (at most
// dedup_window after an upgrade, see checkpoint.observe): a row shipped
// before costs its identity and a ledger lookup.
func (e *Engine) readRun(ctx context.Context, run digicert.Run, gen, cutoff, wm uint32, legacy bool, st *runStats) error {
	rows, err := e.src.Open(ctx, run)
	if err != nil {
		return err
	}
	defer func() {
		st.rows = rows.Stats()
		rows.Close()
	}()
	var meta map[string]string
	if e.cfg.AddMetadata {
		meta = map[string]string{"report_id": e.cfg.ReportID, "run_id": run.RunID}
	}
	prefix := AppendRecordHeader(nil, time.Time{}, meta)
	e.p.enc.TimeKey = digicert.EventTimeField
	e.p.ident.key, e.p.ident.timeKey = e.cp.key, digicert.EventTimeField
	now, trusted, untimedSec := e.collectionTime(wm)
	var held heldRow
	// decide observes row r in the ledger and emits it if it is new. rec is
	// its record if it was encoded already; next is passed on to observe.
	decide := func(r *heldRow, rec []byte, next *rowHash) error {
		if !r.ok {
			if next != nil {
				e.cp.prefetch(next)
			}
			return nil
		}
		r.ok = false
		var body []byte
		if rec != nil {
			body = rec[len(prefix):]
		}
		d, count := e.cp.observe(body, r.m, gen, cutoff, r.untimedSec, next)
		r.emitting = d == emitRow
		switch d {
		case skipOld:
			st.old++
			return nil
		case skipShipped:
			st.shipped++
			return nil
		}
		if rec == nil {
			// The identity checked what the encoder needs, so this
			// cannot fail (and did not for the same row before).
			if rec = e.encodeRow(prefix, r, run, st); rec == nil {
				return nil
			}
		}
		t, m := r.t, r.m
		SetEventTime(rec, t)
		m.count = count
		if count > 1 {
			SetEventTime( // A later occurrence of an identical row gets count-1 extra
				// nanoseconds on its record time (DigiCert's times are whole
				// seconds), so a batch holding it never repeats the bytes of an
				// earlier batch holding the first occurrence: the output keys
				// objects by a hash of the batch and would take it for a retry.
				// The body stays as DigiCert sent it and the metadata stays
				// empty (Fluent Bit's s3 and gcs outputs turn metadata into an
				// extra key); a re-emit after a crash gets the same count, so
				// the same bytes.
				rec, t.Add(time.Duration(count-1)))
		}
		if _, err := e.buf.add(rec, m); err != nil {
			if errors.Is(err, errBatchMemory) {
				// Not queued: a later run must emit it again.
				e.cp.unpromise(m)
			}
			return err
		}
		st.emitted++
		if m.flags&flagUntimed == 0 {
			st.newest = max(st.newest, m.sec)
		}
		return nil
	}
	for rows.Next() {
		if st.seen&4095 == 0 {
			now, trusted, untimedSec = e.collectionTime(wm)
			if st.seen > 0 {
				e.cp.saveIfLarge()
			}
		}
		st.seen++
		tv, err := e.p.ident.read(rows.Row(), rows.Members(), rows.Keys())
		if err != nil {
			// The client's decoder accepted the row, so this cannot happen
			// with DigiCert's JSON; count it rather than stall the run.
			e.malformedRow(run, st, err)
			continue
		}
		var m rowMeta
		t, terr := eventTime(tv)
		switch {
		case terr != nil:
			if st.untimed++; st.untimed == 1 {
				e.log.Warn("row time unparseable; the row is shipped with the collection time (counted in unparseable_time)",
					"report_id", e.cfg.ReportID, "run_id", run.RunID, "error", terr.Error())
			}
			t, m.flags = now, flagUntimed
		case t.After(trusted.Add(futureSlack)):
			if st.future++; st.future == 1 {
				e.log.Warn("row time is in the future; the row is shipped as it is but does not advance the watermark",
					"report_id", e.cfg.ReportID, "run_id", run.RunID, "time", t.Format(time.RFC3339))
			}
			m.flags = flagUntimed
		}
		m.sec = unixSec(t)
		if m.flags&flagUntimed != 0 {
			m.sec = untimedSec
		}
		if belowCutoff(m.sec, m.flags, cutoff) {
			// Skipped before the lookup, as the ledger would skip it
			// (ledger.observe), so without a hash.
			st.old++
			continue
		}
		m.hash = e.p.ident.id()
		e.p.hashed++
		if !legacy {
			// Decided one row later (see heldRow): the row before is
			// observed now, while this row's place in the ledger is
			// fetched, and this one is held until the next.
			if err := decide(&held, nil, &m.hash); err != nil {
				return err
			}
			held.hold(rows, m, t, untimedSec)
			continue
		}
		// Rows of an earlier format are known by a hash of this body.
		cur := currentRow(rows, m, t, untimedSec)
		rec := e.encodeRow(prefix, &cur, run, st)
		if rec == nil {
			continue
		}
		if err := decide(&cur, rec, nil); err != nil {
			return err
		}
	}
	if err := decide(&held, nil, nil); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

// encodeRow encodes row r as a record after prefix (its time is set by the
// caller), or counts it as malformed and returns nil.
func (e *Engine) encodeRow(prefix []byte, r *heldRow, run digicert.Run, st *runStats) []byte {
	e.p.encoded++
	rec, _, err := e.p.enc.AppendMembers(append(e.p.rec[:0], prefix...), r.row, r.members, r.validKeys())
	e.p.rec = rec
	if err != nil {
		e.malformedRow(run, st, err)
		return nil
	}
	return rec
}

// malformedRow counts a row that could not be read, logging the first.
func (e *Engine) malformedRow(run digicert.Run, st *runStats, err error) {
	if st.malformed++; st.malformed == 1 {
		e.log.Error("a row could not be converted and is skipped", "report_id", e.cfg.ReportID, "run_id", run.RunID, "error", err.Error())
	}
}

// appendRowStats adds the non-zero counts of malformed rows to a run's
// log line.
func appendRowStats(args []any, rs digicert.RowStats) []any {
	for _, c := range []struct {
		key string
		n   int64
	}{
		{"repaired_utf8", rs.RepairedUTF8}, {"repaired_control", rs.RepairedControl},
		{"skipped_oversize", rs.SkippedOversize}, {"skipped_depth", rs.SkippedDepth},
		{"skipped_unparseable", rs.SkippedUnparseable},
	} {
		if c.n > 0 {
			args = append(args, c.key, c.n)
		}
	}
	return args
}

// collectionTime reads the host clock for one stretch of a run. The host
// clock must not decide what is old: set back by more than dedup_window, it
// would give rows seen now ledger times that the next prune (which counts
// from the watermark, an event time) treats as long gone, and they would be
// shipped again. So, given the watermark wm (unix s, 0 = none):
//
//   - trusted, the time a row may not be far ahead of, is never before wm: a
//     clock set back does not make every new row look "in the future";
//   - untimedSec, the ledger time of rows without a usable event time, is
//     the clock held within [wm, wm + dedup_window]: such rows stay known
//     while runs keep returning them, whatever the clock says.
//
// now itself is only the record time of untimed rows.
func (e *Engine) collectionTime(wm uint32) (now, trusted time.Time, untimedSec uint32) {
	now = e.clock.Now()
	if wm == 0 {
		return now, now, unixSec(now)
	}
	w := time.Unix(int64(wm), 0)
	if now.Before(w.Add(-futureSlack)) && !e.p.clockWarned {
		e.p.clockWarned = true
		e.log.Warn("the host clock is behind the newest event time already shipped; rows are judged by event times instead (check the host's time synchronisation)",
			"report_id", e.cfg.ReportID, "host_time", now.UTC().Format(time.RFC3339), "watermark", formatSec(wm))
	}
	trusted = now
	if now.Before(w) {
		trusted = w
	}
	window := int64(e.cfg.DedupWindow / time.Second)
	sec := min(max(now.Unix(), int64(wm)), int64(wm)+window)
	return now, trusted, uint32(min(sec, 0xFFFFFFFF))
}

func eventTime(tv []byte) (time.Time, error) {
	if tv == nil {
		return time.Time{}, digicert.ErrNoEventTime
	}
	return digicert.ParseEventTimeBytes(tv)
}

func unixSec(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), 0xFFFFFFFF))
}

// configMessage says what to fix for an error only a configuration change
// can fix; "" for any other error.
func (e *Engine) configMessage(err error) string {
	switch {
	case errors.Is(err, digicert.ErrInvalidKey):
		return "DigiCert rejected the API key: check api_key/api_key_file (CertCentral > Automation > API Keys) and that the key is not revoked"
	case errors.Is(err, digicert.ErrPermission) && e.cfg.Mode == ModeRun:
		return "the API key may not start report runs (a View Only key, or a user without the Administrator role): use an Administrator key, or set mode follow to ship the report's scheduled runs"
	case errors.Is(err, digicert.ErrPermission):
		return "the API key may not read this report: give its user access to the Report Library"
	case errors.Is(err, digicert.ErrReportNotFound):
		return "report not found: check report_id (Reports > Report Library) and that the key's user can see the report"
	case errors.Is(err, errConfig):
		return "the report cannot be shipped as configured"
	case plainHTTPAnswer(err):
		return fmt.Sprintf("api_base %s uses https:// but the server there answered in plain HTTP: point api_base at the server's HTTPS address, or use http:// for a plain-HTTP test server (loopback, or allow_insecure_http on)", e.cfg.APIBase)
	}
	return ""
}

// plainHTTPAnswer reports whether a TLS request got a plain-HTTP answer: a
// wrong api_base scheme, which no retry can fix. net/http has no sentinel
// error for it, only this message.
func plainHTTPAnswer(err error) bool {
	return err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// failed logs a failed poll with what to do about it and returns the wait
// before the next poll.
func (e *Engine) failed(err error) time.Duration {
	next := e.cfg.Interval
	var runFailed *digicert.RunFailedError
	config := true
	msg := e.configMessage(err)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, errBufferClosed):
		return next // stopping
	case msg != "":
	default:
		config = false
		switch {
		case errors.As(err, &runFailed):
			msg = "the report run FAILED in DigiCert; retrying at the next poll"
		case errors.Is(err, digicert.ErrWaitTimeout):
			msg = "the report run was not READY within wait_timeout; retrying at the next poll (raise wait_timeout if this report's runs take longer)"
		case errors.Is(err, errBatchMemory):
			msg = "no memory for the next batch of rows; the run is retried at the next poll and no row is skipped (lower max_bytes_per_collect, or give Fluent Bit more memory)"
		case errors.Is(err, digicert.ErrRateLimited):
			msg = "DigiCert kept rate-limiting requests (HTTP 429); retrying at the next poll"
		default:
			msg = "poll failed; retrying at the next poll (rows already delivered stay delivered, none is skipped)"
		}
	}
	if config {
		next = max(next, configBackoff)
	}
	args := []any{"report_id", e.cfg.ReportID, "error", err.Error(), "next_poll", e.clock.Now().Add(next).UTC().Format(time.RFC3339)}
	if config {
		e.log.Error(msg, args...)
	} else {
		e.log.Warn(msg, args...)
	}
	return next
}
