package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/server"
)

type fakeDB struct{ down atomic.Bool }

func (f *fakeDB) Ping(context.Context) error {
	if f.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func TestHealthReadinessAndGracefulShutdown(t *testing.T) {
	t.Parallel()
	db := &fakeDB{}
	srv := server.New("127.0.0.1:0", slog.New(slog.DiscardHandler), db)
	started, release := make(chan struct{}), make(chan struct{})
	srv.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, 10*time.Second, ready) }()
	base := "http://" + <-ready

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	code, _ = get("/readyz")
	require.Equal(t, http.StatusOK, code)
	db.down.Store(true)
	code, body := get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.NotContains(t, body, "refused", "no internal detail in the response")

	// A request in flight when shutdown starts still completes.
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-started
	cancel()
	close(release)
	require.Equal(t, "finished", <-slow)
	require.NoError(t, <-done)
}
