package digicert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// Bounds on bodies read into memory (everything but report downloads).
const (
	maxAPIBody   = 32 << 20
	maxErrorBody = 64 << 10
)

// call describes one API request.
type call struct {
	target
	method     string
	path       string // below the base URL, already escaped, e.g. "/report/history"
	query      url.Values
	body       []byte
	idempotent bool // may be resent after it may have reached DigiCert
	stream     bool // handle reads the body at length: idle timeout per read instead of a total one
}

// outcome of one attempt.
type outcome struct {
	err         error
	retry       bool
	rateLimited bool
	retryAfter  time.Duration // from a numeric Retry-After; 0 when absent
}

// send performs cl with rate limiting and retries. handle consumes a 2xx
// answer; errors it returns are final unless they are body read errors or
// marked retryable. Retries are bounded by MaxAttempts and MaxRetryTime;
// ctx cancels at once, including during waits.
func (c *Client) send(ctx context.Context, cl call, handle func(*http.Response) error) error {
	start := c.clock.Now()
	var serverRetries, rateRetries int
	for attempt := 1; ; attempt++ {
		waited, err := c.lim.wait(ctx)
		if err != nil {
			return fmt.Errorf("digicert: %s: waiting for client-side rate limit: %w", cl.op, err)
		}
		if waited > 0 {
			c.obs.RateLimitWait(waited)
		}
		if waited >= time.Second {
			c.log.Info("digicert: delayed by client-side rate limit", "op", cl.op, "waited", waited)
		}
		res := c.attempt(ctx, cl, handle)
		if res.err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("digicert: %s: %w", cl.op, ctx.Err())
		}
		if !res.retry {
			return res.err
		}
		var delay time.Duration
		switch {
		case res.retryAfter > 0:
			delay = res.retryAfter
			rateRetries++
		case res.rateLimited:
			delay = c.rateBackoff(rateRetries)
			rateRetries++
		default:
			delay = c.serverBackoff(serverRetries)
			serverRetries++
		}
		elapsed := c.clock.Now().Sub(start)
		if attempt >= c.maxAttempts || elapsed+delay > c.maxRetryTime {
			return fmt.Errorf("%w (gave up after %d attempts in %s)", res.err, attempt, elapsed.Round(time.Millisecond))
		}
		if res.rateLimited {
			c.obs.RateLimitWait(delay)
			// Other calls sharing the limiter hold off too.
			c.lim.pause(c.clock.Now().Add(delay))
		}
		c.log.Warn("digicert: retrying request", "op", cl.op, "attempt", attempt, "max_attempts", c.maxAttempts, "delay", delay, "reason", res.err.Error())
		if err := c.clock.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("digicert: %s: %w (while waiting to retry after: %v)", cl.op, err, res.err)
		}
	}
}

// attempt sends cl once.
func (c *Client) attempt(ctx context.Context, cl call, handle func(*http.Response) error) outcome {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The request timeout runs on the real clock: it guards against a
	// stalled network, which a fake clock cannot simulate.
	var timedOut atomic.Bool
	timer := time.AfterFunc(c.timeout, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()

	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, body)
	if err != nil {
		return outcome{err: fmt.Errorf("digicert: %s: %w", cl.op, err)}
	}
	req.Header.Set("X-DC-DEVKEY", string(c.key))
	req.Header.Set("Content-Type", "application/json") // DigiCert's examples send it on every call
	req.Header.Set("Accept", "application/json, application/zip;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", c.ua)

	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.obs.Response(0)
		}
		return c.transportOutcome(ctx, cl, err, wrote.Load(), timedOut.Load())
	}
	defer resp.Body.Close()
	c.obs.Response(resp.StatusCode)

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		resp.Body = &trackedBody{r: resp.Body, timer: timer, timeout: c.timeout, idle: cl.stream}
		err := handle(resp)
		if err == nil {
			return outcome{}
		}
		if ctx.Err() != nil {
			return outcome{err: err}
		}
		var bre *bodyReadError
		if errors.As(err, &bre) {
			if timedOut.Load() {
				err = fmt.Errorf("digicert: %s: no data for %s (request_timeout): %w", cl.op, c.timeout, err)
			}
			return outcome{err: err, retry: cl.idempotent}
		}
		var re *retryableError
		return outcome{err: err, retry: errors.As(err, &re) && cl.idempotent}
	}

	errBody, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	apiErr := newAPIError(cl.target, resp.StatusCode, errBody, c.key)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		// DigiCert refused the request before acting on it: safe to resend
		// even a POST.
		ra, _ := parseRetryAfter(resp.Header.Get("Retry-After"))
		return outcome{err: apiErr, retry: true, rateLimited: true, retryAfter: ra}
	case resp.StatusCode >= 500 && cl.idempotent:
		return outcome{err: apiErr, retry: true}
	case resp.StatusCode >= 500:
		return outcome{err: &ambiguousError{apiErr}}
	default:
		return outcome{err: apiErr}
	}
}

func (c *Client) transportOutcome(ctx context.Context, cl call, err error, wrote, timedOut bool) outcome {
	if ctx.Err() != nil {
		return outcome{err: fmt.Errorf("digicert: %s: %w", cl.op, ctx.Err())}
	}
	if tlsErr := tlsConfigError(cl.op, err); tlsErr != nil {
		return outcome{err: tlsErr}
	}
	var netErr net.Error
	if timedOut || (errors.As(err, &netErr) && netErr.Timeout()) {
		err = fmt.Errorf("digicert: %s: no answer within %s (request_timeout): %w", cl.op, c.timeout, err)
	} else {
		err = fmt.Errorf("digicert: %s: %w", cl.op, err)
	}
	if cl.idempotent || !wrote {
		// A request that was never fully written cannot have been acted on.
		return outcome{err: err, retry: true}
	}
	return outcome{err: &ambiguousError{err}}
}

// trackedBody tags read errors as bodyReadError and, for streamed bodies,
// pushes the request timeout back after every read that made progress.
type trackedBody struct {
	r       io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	idle    bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 && b.idle {
		b.timer.Reset(b.timeout)
	}
	if err != nil && err != io.EOF {
		err = &bodyReadError{err}
	}
	return n, err
}

func (b *trackedBody) Close() error { return b.r.Close() }

// getJSON GETs cl and decodes the answer into v.
func (c *Client) getJSON(ctx context.Context, cl call, v any) error {
	cl.method, cl.idempotent = http.MethodGet, true
	return c.send(ctx, cl, func(resp *http.Response) error {
		body, err := readAll(resp.Body, maxAPIBody)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("digicert: %s: answer is not the expected JSON (Content-Type %q): %v", cl.op, mediaType(resp), err)
		}
		return nil
	})
}

// readAll reads at most limit bytes; a longer body is an error.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, nil
}

func mediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return resp.Header.Get("Content-Type")
	}
	return mt
}
