package digicert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// WaitOptions sets how runs are awaited.
type WaitOptions struct {
	PollInterval time.Duration // between history polls; default 10s
	Timeout      time.Duration // for a run to appear and become READY; default 10m
	// OnPost, if set, is called once with the outcome of the first
	// POST …/run (nil when DigiCert accepted it), e.g. for a start-up
	// check that the key may start runs.
	OnPost func(error)
}

// Defaults for WaitOptions (Google's collector waits only 300 s, which large
// audit reports can exceed).
const (
	DefaultPollInterval = 10 * time.Second
	DefaultWaitTimeout  = 10 * time.Minute
)

func (w WaitOptions) withDefaults() WaitOptions {
	if w.PollInterval <= 0 {
		w.PollInterval = DefaultPollInterval
	}
	if w.Timeout <= 0 {
		w.Timeout = DefaultWaitTimeout
	}
	return w
}

// StartedRun names the runs a StartRun call led to.
type StartedRun struct {
	ReportID string
	// RunIDs are the new runs: the id in DigiCert's answer when it sends
	// one, else every run of the report in history that was not there
	// before the POST (a scheduled run starting at the same moment is
	// included; row de-duplication makes that harmless). When DigiCert
	// refuses the POST with a 4xx while a run is generating, that run.
	RunIDs []string
}

// StartRun starts a run of the report (POST …/run with body {}) and
// identifies it by id, never by timestamps. When the answer carries no
// report_run_identifier, history is polled (default WaitOptions) until a
// run that was not there before appears.
//
// Retries: a 429, or a failure before the request was written, is resent.
// After a 5xx or a connection failure once the request was sent, DigiCert
// may have started the run, so history is read first and the POST is only
// resent when no new run shows up. That can still start two runs when a
// run appears in history late; both are then returned, and the engine's
// row de-duplication removes the overlap.
func (c *Client) StartRun(ctx context.Context, reportID string) (StartedRun, error) {
	if reportID == "" {
		return StartedRun{}, errors.New("digicert: report id is empty")
	}
	before, err := c.History(ctx, HistoryQuery{ReportID: reportID})
	if err != nil {
		return StartedRun{}, err
	}
	return c.startRun(ctx, reportID, before, WaitOptions{}.withDefaults())
}

func (c *Client) startRun(ctx context.Context, reportID string, before []Run, w WaitOptions) (StartedRun, error) {
	known := make(map[string]bool, len(before))
	for _, r := range before {
		known[r.RunID] = true
	}
	start := c.clock.Now()
	for attempt := 1; ; attempt++ {
		id, err := c.postRun(ctx, reportID)
		if w.OnPost != nil {
			w.OnPost(err)
			w.OnPost = nil
		}
		if err == nil {
			if id != "" {
				return StartedRun{ReportID: reportID, RunIDs: []string{id}}, nil
			}
			return c.awaitNewRuns(ctx, reportID, known, w)
		}
		var amb *ambiguousError
		var apiErr *APIError
		switch {
		case errors.As(err, &amb):
			ids, herr := c.newRuns(ctx, reportID, known, false)
			if herr != nil {
				return StartedRun{}, herr
			}
			if len(ids) > 0 {
				return StartedRun{ReportID: reportID, RunIDs: ids}, nil
			}
			delay := c.serverBackoff(attempt - 1)
			if attempt >= c.maxAttempts || c.clock.Now().Sub(start)+delay > c.maxRetryTime {
				return StartedRun{}, fmt.Errorf("%w (gave up after %d attempts)", amb.err, attempt)
			}
			c.log.Warn("digicert: starting a run failed and no new run is in history; retrying", "report_id", reportID, "attempt", attempt, "delay", delay, "reason", err.Error())
			if err := c.clock.Sleep(ctx, delay); err != nil {
				return StartedRun{}, fmt.Errorf("digicert: start run: %w", err)
			}
		case errors.As(err, &apiErr) && isRequestRejected(apiErr.Status):
			// Perhaps refused because a run is already generating.
			ids, herr := c.newRuns(ctx, reportID, known, true)
			if herr != nil {
				return StartedRun{}, errors.Join(err, herr)
			}
			if len(ids) > 0 {
				c.log.Info("digicert: start run refused, following the run in history instead", "report_id", reportID, "status", apiErr.Status, "code", apiErr.Code)
				return StartedRun{ReportID: reportID, RunIDs: ids}, nil
			}
			return StartedRun{}, err
		default:
			return StartedRun{}, err
		}
	}
}

// postRun sends POST …/run and returns the run id from the answer, if any.
func (c *Client) postRun(ctx context.Context, reportID string) (string, error) {
	var id string
	err := c.send(ctx, call{
		target: target{op: "start run", reportID: reportID, startRun: true},
		method: http.MethodPost,
		path:   "/report/" + url.PathEscape(reportID) + "/run",
		body:   []byte("{}"),
	}, func(resp *http.Response) error {
		// Any 2xx is success; the body is optional and may be anything.
		body, err := readAll(resp.Body, 1<<20)
		if err != nil {
			var bre *bodyReadError
			if errors.As(err, &bre) {
				return &ambiguousError{fmt.Errorf("digicert: start run: %w", err)}
			}
			return nil
		}
		var answer struct {
			RunID string `json:"report_run_identifier"`
		}
		if json.Unmarshal(body, &answer) == nil {
			id = answer.RunID
		}
		return nil
	})
	return id, err
}

// newRuns reads history once and returns the report's runs that are not in
// known; withGenerating adds known runs that are GENERATING.
func (c *Client) newRuns(ctx context.Context, reportID string, known map[string]bool, withGenerating bool) ([]string, error) {
	runs, err := c.History(ctx, HistoryQuery{ReportID: reportID})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, r := range runs {
		if !known[r.RunID] || (withGenerating && r.Status == StatusGenerating) {
			ids = append(ids, r.RunID)
		}
	}
	return ids, nil
}

// awaitNewRuns polls history until a run not in known appears.
func (c *Client) awaitNewRuns(ctx context.Context, reportID string, known map[string]bool, w WaitOptions) (StartedRun, error) {
	deadline := c.clock.Now().Add(w.Timeout)
	for {
		ids, err := c.newRuns(ctx, reportID, known, false)
		if err != nil {
			return StartedRun{}, err
		}
		if len(ids) > 0 {
			return StartedRun{ReportID: reportID, RunIDs: ids}, nil
		}
		if err := c.pollPause(ctx, w.PollInterval, deadline); err != nil {
			return StartedRun{}, fmt.Errorf("digicert: run of report %s was started but did not appear in history within %s: %w", reportID, w.Timeout, err)
		}
	}
}

// pollPause sleeps until the next poll; past the deadline it returns
// ErrWaitTimeout instead.
func (c *Client) pollPause(ctx context.Context, interval time.Duration, deadline time.Time) error {
	left := deadline.Sub(c.clock.Now())
	if left <= 0 {
		return ErrWaitTimeout
	}
	return c.clock.Sleep(ctx, min(interval, left))
}

// WaitRun polls history until the run is READY (returned), FAILED
// (*RunFailedError) or w.Timeout passes (an error wrapping ErrWaitTimeout).
// A run not yet in history is waited for as well.
func (c *Client) WaitRun(ctx context.Context, reportID, runID string, w WaitOptions) (Run, error) {
	w = w.withDefaults()
	return c.waitRun(ctx, reportID, runID, w.PollInterval, c.clock.Now().Add(w.Timeout))
}

func (c *Client) waitRun(ctx context.Context, reportID, runID string, interval time.Duration, deadline time.Time) (Run, error) {
	start := c.clock.Now()
	for {
		r, found, err := c.findRun(ctx, reportID, runID)
		if err != nil {
			return Run{}, err
		}
		state := "not yet in history"
		if found {
			switch r.Status {
			case StatusReady:
				return r, nil
			case StatusFailed:
				return r, &RunFailedError{ReportID: reportID, RunID: runID}
			}
			state = r.Status
		}
		if err := c.pollPause(ctx, interval, deadline); err != nil {
			return r, fmt.Errorf("digicert: run %s of report %s still %s after %s: %w", runID, reportID, state, c.clock.Now().Sub(start).Round(time.Second), err)
		}
	}
}

// RunReport produces fresh READY runs of the report. If a run of it is
// already GENERATING it waits for that run instead of starting a second one
// (a run it once gave up on is not waited for again); otherwise it calls
// StartRun and waits for every new run. Waiting for the runs found
// generating and waiting for the new runs are each bounded by w.Timeout.
//
// The READY runs are returned oldest first. When some runs failed or timed
// out, the error says so (*RunFailedError, ErrWaitTimeout) and the runs that
// did become READY are still returned alongside it.
func (c *Client) RunReport(ctx context.Context, reportID string, w WaitOptions) ([]Run, error) {
	if reportID == "" {
		return nil, errors.New("digicert: report id is empty")
	}
	w = w.withDefaults()
	before, err := c.History(ctx, HistoryQuery{ReportID: reportID})
	if err != nil {
		return nil, err
	}
	var generating []string
	c.mu.Lock()
	present := make(map[string]bool, len(before))
	for _, r := range before {
		present[r.RunID] = true
		if r.Status == StatusGenerating && !c.abandoned[r.RunID] {
			generating = append(generating, r.RunID)
		}
	}
	for id := range c.abandoned {
		if !present[id] {
			delete(c.abandoned, id) // aged out of history
		}
	}
	c.mu.Unlock()

	if len(generating) > 0 {
		c.log.Info("digicert: a run of the report is already generating; waiting for it instead of starting another", "report_id", reportID, "runs", generating)
		ready, err := c.waitAll(ctx, reportID, generating, w)
		if len(ready) > 0 || ctx.Err() != nil {
			return ready, err
		}
		c.log.Warn("digicert: the generating run did not become READY; starting a new run", "report_id", reportID, "reason", err.Error())
	}
	started, err := c.startRun(ctx, reportID, before, w)
	if err != nil {
		return nil, err
	}
	return c.waitAll(ctx, reportID, started.RunIDs, w)
}

// waitAll waits for each run under one shared deadline. Runs that time out
// are remembered so that RunReport does not wait for them again.
func (c *Client) waitAll(ctx context.Context, reportID string, runIDs []string, w WaitOptions) ([]Run, error) {
	deadline := c.clock.Now().Add(w.Timeout)
	var ready []Run
	var errs []error
	for _, id := range runIDs {
		r, err := c.waitRun(ctx, reportID, id, w.PollInterval, deadline)
		switch {
		case err == nil:
			ready = append(ready, r)
		case ctx.Err() != nil:
			return ready, err
		default:
			if errors.Is(err, ErrWaitTimeout) {
				c.mu.Lock()
				c.abandoned[id] = true
				c.mu.Unlock()
			}
			errs = append(errs, err)
		}
	}
	sortRuns(ready)
	return ready, errors.Join(errs...)
}

// ReadyRunsAfter returns the READY runs of the report that are newer than
// afterRunID, oldest first, without starting any run (for View Only keys
// and scheduled reports). Newer means later in history order (see History).
// With afterRunID "" every READY run is returned; when afterRunID is no
// longer in history (aged out after 90 days) all READY runs are returned too
// and the caller de-duplicates.
func (c *Client) ReadyRunsAfter(ctx context.Context, reportID, afterRunID string) ([]Run, error) {
	if reportID == "" {
		return nil, errors.New("digicert: report id is empty")
	}
	runs, err := c.History(ctx, HistoryQuery{ReportID: reportID, Statuses: []string{StatusReady}})
	if err != nil {
		return nil, err
	}
	if afterRunID == "" {
		return runs, nil
	}
	for i, r := range runs {
		if r.RunID == afterRunID {
			return runs[i+1:], nil
		}
	}
	c.log.Info("digicert: last processed run is no longer in history; returning every READY run", "report_id", reportID, "run_id", afterRunID)
	return runs, nil
}
