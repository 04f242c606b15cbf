package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/server"
)

// run serves srv until the test ends and returns its base URL.
func run(t *testing.T, srv *server.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, 5*time.Second, ready) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
		return ""
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsOnTheirOwnListener: /metrics is served by the operational listener only; the public
// one answers 404 (its health endpoints stay).
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "taskforge_test_hits_total", Help: "test"})
	reg.MustRegister(hits)
	hits.Inc()
	public := run(t, server.New("127.0.0.1:0", log, &fakeDB{}))
	metrics := run(t, server.NewMetrics("127.0.0.1:0", log, reg))

	code, _ := get(t, public+"/metrics")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = get(t, public+"/healthz")
	require.Equal(t, http.StatusOK, code)

	code, body := get(t, metrics+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "taskforge_test_hits_total 1")
	code, _ = get(t, metrics+"/healthz")
	require.Equal(t, http.StatusNotFound, code, "the operational listener serves metrics only")
}
