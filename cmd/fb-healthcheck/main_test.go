package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte("error"))
	}))
	defer srv.Close()
	if err := check(srv.URL, time.Second); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	status = http.StatusInternalServerError
	if err := check(srv.URL, time.Second); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("unhealthy server: %v", err)
	}
	srv.Close()
	if err := check(srv.URL, time.Second); err == nil {
		t.Error("no server: no error")
	}
}
