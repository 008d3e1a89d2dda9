// Command fb-healthcheck asks Fluent Bit's HTTP server whether the pipeline
// is healthy, for container health checks: the Fluent Bit image is distroless
// (no shell, curl or wget). Exit code 0 when the URL answers 200, else 1.
//
//	fb-healthcheck [-url http://127.0.0.1:2020/api/v1/health] [-timeout 3s]
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:2020/api/v1/health", "health endpoint of Fluent Bit's HTTP server (needs http_server on and health_check on)")
	timeout := flag.Duration("timeout", 3*time.Second, "give up after this long")
	flag.Parse()
	if err := check(*url, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "fb-healthcheck:", err)
		os.Exit(1)
	}
}

func check(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, body)
	}
	return nil
}
