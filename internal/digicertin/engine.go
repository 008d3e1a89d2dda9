package digicertin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert"
	"github.com/digicert-secops/fluent-bit-digicert/internal/flb"
	"github.com/digicert-secops/fluent-bit-digicert/internal/metrics"
)

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
	m     metrics.Sink
	obs   *apiObserver // the DigiCert client's, reporting to m

	cp *checkpoint

	relMu sync.Mutex // serialises Release and commits, so batches commit in order
	// released holds batches Fluent Bit has taken but may not have stored
	// yet (guarded by relMu); see Release.
	released []releasedBatch

	statsMu   sync.Mutex
	malformed digicert.RowStats // rows repaired or skipped since start, for metrics

	startOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
	cancel    context.CancelFunc
	done      chan struct{}

	// Poller-only state (one goroutine).
	p pollerState
}

// New builds an engine: it creates the DigiCert client and loads the
// checkpoint (state_file and its journal), but makes no network request. A
// corrupt checkpoint, or one written for another report, is an error; a
// missing one is a fresh start.
func New(cfg Config, log flb.Logger) (*Engine, error) {
	if log == nil {
		return nil, errors.New("a logger is required")
	}
	obs := &apiObserver{m: metrics.Nop{}}
	opts := cfg.ClientOptions(slog.New(slogHandler(log)))
	opts.Observer = obs
	client, err := digicert.New(opts)
	if err != nil {
		return nil, err
	}
	e, err := newEngine(cfg, log, clientSource{client}, digicert.SystemClock)
	if err == nil {
		e.obs = obs
	}
	return e, err
}

func newEngine(cfg Config, log flb.Logger, src source, clk clock) (*Engine, error) {
	cp, err := openCheckpoint(cfg, log)
	if err != nil {
		return nil, err
	}
	cp.m = metrics.Nop{}
	return &Engine{
		cfg: cfg, log: log, src: src, clock: clk, cp: cp, m: metrics.Nop{},
		buf:  newBuffer(cfg.BufferSize, cfg.MaxBytesPerCollect),
		done: make(chan struct{}),
	}, nil
}

// MalformedRows counts the rows repaired or skipped as malformed since the
// engine started (every run read, finished or not).
func (e *Engine) MalformedRows() digicert.RowStats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
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
// max_bytes_per_collect bytes (a single larger record goes alone). The
// records stay valid, in memory the engine owns outside the Go heap (so the
// cgo layer passes them to Fluent Bit as they are), until Release(batch),
// which the caller calls once Fluent Bit has taken them (the cleanup
// callback). It never blocks on the network and returns nil, 0 when there is
// nothing to send, while paused, or after Stop.
func (e *Engine) Collect() (records []byte, batch uint64) {
	e.commitReleased()
	records, batch = e.buf.take()
	e.noteBuffered()
	return records, batch
}

// Release records that Fluent Bit has taken batch (its cleanup callback)
// and frees the batch's records, also after Stop. The rows are committed to
// the checkpoint (journaled and fsynced) at the next Collect, a second
// later, or at Stop, not here: a threaded Fluent Bit input
// puts the records in a ring buffer that its engine moves into a chunk (and,
// with filesystem storage, onto disk) only every 250 ms, so a kill -9 just
// after the cleanup callback loses them from Fluent Bit. Committing one
// callback later turns that loss into at most one hand-over sent again.
// Batches commit in order; releasing a later batch first holds its rows
// until the earlier ones are released.
func (e *Engine) Release(batch uint64) {
	e.relMu.Lock()
	defer e.relMu.Unlock()
	rows, seq := e.buf.release(batch)
	if seq == 0 {
		return
	}
	e.released = append(e.released, releasedBatch{rows: rows, seq: seq})
}

// releasedBatch is a batch Fluent Bit has taken: rows up to sequence seq.
type releasedBatch struct {
	rows []rowMeta
	seq  uint64
}

// commitReleased commits the batches released before now.
func (e *Engine) commitReleased() {
	e.relMu.Lock()
	defer e.relMu.Unlock()
	e.commitReleasedLocked()
}

func (e *Engine) commitReleasedLocked() {
	for _, b := range e.released {
		e.cp.commit(b.rows, b.seq)
		e.buf.recycleMetas(b.rows)
	}
	clear(e.released)
	e.released = e.released[:0]
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
				errs = append(errs, fmt.Errorf("report %s: the poller did not stop within %v; saving the checkpoint anyway", e.cfg.ReportID, timeout))
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
		// A Release in progress (its rows taken off the buffer, not yet
		// committed) finishes before the checkpoint is closed.
		// On a clean stop Fluent Bit moves what it took into its chunks
		// before the plugins exit, so released batches are committed now.
		e.relMu.Lock()
		e.commitReleasedLocked()
		if err := e.cp.close(); err != nil {
			errs = append(errs, err)
		}
		e.relMu.Unlock()
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

func formatSec(s uint32) string {
	if s == 0 {
		return "none"
	}
	return time.Unix(int64(s), 0).UTC().Format(time.RFC3339)
}
