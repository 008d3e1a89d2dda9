package digicertin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StartCheckTimeout bounds the start-up check, so that Fluent Bit's start
// is never held up for long by a slow or unreachable DigiCert.
const StartCheckTimeout = 12 * time.Second

// errPostLater tells the start-up check that the first poll downloads
// earlier runs before its POST …/run, so there is nothing to wait for.
var errPostLater = errors.New("the first poll resumes earlier runs before starting one")

// StartChecked makes one cheap authenticated request (the report's
// details), starts the poller, and in run mode waits for its first
// POST …/run, which the poller sends at once anyway: a key DigiCert
// rejects, a report that does not exist, is not visible to the key, is not
// an audit-log JSON report, or (run mode) a key that may not start runs
// is an error saying what to fix, and the engine is stopped. A network
// failure, a 5xx or no answer within timeout is only a warning: the poller
// retries. Permission to start runs cannot be learnt without starting one,
// so when the first POST does not come within timeout (the poller first
// resumes an interrupted run, or waits for one already generating), the
// check passes (at once, when the poller says so) and a refusal shows at
// that first poll instead.
func (e *Engine) StartChecked(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	info, err := e.src.Report(ctx, e.cfg.ReportID)
	if err == nil {
		err = e.reportUnusable(info)
	}
	checked := err == nil
	switch msg := e.configMessage(err); {
	case msg != "":
		_ = e.Stop(time.Second)
		return fmt.Errorf("%s (start-up check: %v)", msg, err)
	case err != nil:
		e.log.Warn("start-up check could not reach DigiCert; starting anyway, the poller retries (check api_base, http_proxy and the network if this persists)",
			"report_id", e.cfg.ReportID, "error", err.Error())
	default:
		e.p.reportOK = true // the poller goroutine starts after this write
	}
	posted := make(chan error, 1)
	if checked && e.cfg.Mode == ModeRun {
		e.p.onPost = func(err error) { posted <- err }
	}
	e.Start()
	if !checked || e.cfg.Mode != ModeRun {
		return nil
	}
	select {
	case err := <-posted:
		if errors.Is(err, errPostLater) {
			e.log.Debug("start-up check: the first poll resumes earlier runs before starting one; a refusal to start runs will show at that poll", "report_id", e.cfg.ReportID)
			return nil
		}
		if msg := e.configMessage(err); msg != "" && !errors.Is(err, errConfig) {
			_ = e.Stop(time.Second)
			return fmt.Errorf("%s (start-up check: %v)", msg, err)
		}
	case <-ctx.Done():
		e.log.Debug("start-up check did not see the first run start in time; a refusal will show at the first poll", "report_id", e.cfg.ReportID)
	}
	return nil
}
