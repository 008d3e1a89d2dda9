// Command digicert-sim serves the simulated DigiCert Reports API
// (package digicertsim) for the local docker-compose stack. Its clock runs
// with wall time (times -speed). Point the input's base URL at it; the
// accepted key comes from DIGICERT_SIM_API_KEY, -api-key-file or -api-key.
// Every flag can also be set as DIGICERT_SIM_<FLAG>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/digicert-secops/fluent-bit-digicert/digicert/digicertsim"
)

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "digicert-sim:", err)
		os.Exit(2)
	}
	if o.healthcheck {
		os.Exit(healthcheck(o.listen))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(o, log); err != nil {
		log.Error("digicert-sim stopped", "err", err)
		os.Exit(1)
	}
}

func run(o *options, log *slog.Logger) error {
	o.cfg.Logger = log
	sim := digicertsim.New(o.cfg)
	for _, f := range o.parsedFaults {
		sim.Inject(f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{Addr: o.listen, Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.listen, err)
	}
	c := o.cfg
	// The key itself is never logged.
	log.Info("digicert-sim listening", "addr", ln.Addr().String(), "reports", c.Reports,
		"view_only_keys", len(c.ViewOnlyKeys), "seed", c.Seed, "start", sim.Now().Format(time.RFC3339),
		"speed", c.Speed, "events_per_hour", c.EventsPerHour, "window", c.Window, "backlog", c.Backlog,
		"date_format", c.DateFormat, "generate_delay", c.GenerateDelay, "return_run_id", c.ReturnRunIDOnPost,
		"zip_threshold", c.ZipThreshold, "split_rows", c.SplitRows, "schedule_every", o.scheduleEvery, "faults", o.faults)
	if o.scheduleEvery > 0 {
		go scheduleLoop(ctx, sim, c.Reports, o.scheduleEvery, log)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// scheduleLoop starts a scheduled run of every report each time the
// simulated clock passes another multiple of every (follow mode).
func scheduleLoop(ctx context.Context, sim *digicertsim.Server, reports []string, every time.Duration, log *slog.Logger) {
	next := sim.Now().Add(every)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for !sim.Now().Before(next) {
			for _, id := range reports {
				log.Info("scheduled run", "report", id, "run", sim.Schedule(id))
			}
			next = next.Add(every)
		}
	}
}

// healthcheck probes /healthz on the listen address; the exit code is 0
// when it answers 200.
func healthcheck(listen string) int {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}
