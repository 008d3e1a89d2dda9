// Package digicertin is the engine of the in_digicert Fluent Bit input, in pure Go
// (the cgo layer in plugin/in_digicert only forwards the callbacks).
//
// # API
//
//	cfg, err := digicertin.LoadConfig(getter) // every key validated; errors name the key
//	e, err := digicertin.New(cfg, logger)     // loads the checkpoint; no network
//	e.Start()                                 // background poller
//	recs, batch := e.Collect()                // 1-s callback: ≤ max_bytes_per_collect, never blocks
//	e.Release(batch)                          // cleanup callback: the batch is in Fluent Bit
//	e.Pause(); e.Resume()                     // backpressure
//	err = e.Stop(timeout)                     // cancel, wait, save the checkpoint
//
// The poller encodes records straight into the memory of the batch Collect
// hands out (an anonymous mapping, outside the Go heap), valid until the
// batch's Release: Fluent Bit copies it from there, and Go copies nothing.
// Config.APIKey has type digicert.Secret (a string that prints as [REDACTED]), and
// AppendRecord (encode.go) takes the row as []byte, which a digicert.Row converts to
// implicitly.
//
// # Exactly once
//
// A report run re-exports the report's whole date window, so consecutive runs
// overlap, and rows have no id; identical events do occur. The engine
// therefore identifies a row by content (a 128-bit keyed hash of its msgpack
// body under a random key kept in the checkpoint, so that outsiders who
// control text in rows cannot forge another row's identity; see hash.go) and
// counts occurrences: the c-th occurrence of a row
// within a run is emitted only if more than c-1 occurrences were emitted
// before. Rows older than the run's cutoff (watermark at the start of the
// run minus dedup_window, never before start_time) are skipped without a
// lookup; the ledger remembers rows down to that cutoff and forgets older
// ones when it saves a snapshot. Cutoffs and pruning count from event times
// (the watermark), never from the host clock, so a clock jump cannot repeat
// or skip rows. A later occurrence of a row gets occurrence-1 extra
// nanoseconds on its record time, so a batch never repeats an earlier
// batch's bytes (the secops_s3 output's object key) unless it is the same
// batch re-sent after a crash.
//
// Nothing is checkpointed when a row is queued, only when Fluent Bit has it,
// and that is one callback after it took it: a threaded Fluent Bit input
// moves taken records into its chunks only every 250 ms, so a batch released
// by the cleanup callback (Release) is committed at the next Collect, or at
// a clean Stop. Committing journals (write + fsync) the batch's hashes and
// counts, and a run is recorded as done only after all its rows are
// committed. Failures (FAILED or stuck runs, 429s, 5xx, truncated or
// unreadable files, in follow mode also a 404 or an empty body on a listed
// READY run) abandon the run without marking it done; the next poll
// reads it (or a newer run covering the same rows) again and the ledger skips
// what was already queued. So no row is lost, and repeats are bounded:
//
// Duplicate bound: after a crash (or kill -9), the rows that can be sent a
// second time are those of the last batch Collect handed to Fluent Bit,
// which the next Collect would have committed: at most one batch, at most
// max_bytes_per_collect bytes. A clean Stop repeats none: it waits (up to a
// second, within its timeout) for a batch taken just before it to be
// released, and commits every released batch. Rows still in the Go-side
// buffer were never handed over; they are simply shipped after the restart.
//
// The checkpoint is state_file (a snapshot, replaced atomically) plus
// state_file.journal (appended per committed batch), kept by the checkpoint type;
// see checkpoint.go, snapshot.go and journal.go.
// A missing checkpoint is a fresh start; a corrupt one is an error at New,
// never a silent reset (which would re-ship everything).
package digicertin
