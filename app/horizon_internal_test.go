package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/internal/server"
)

// An idle transaction in another database of the cluster holds this one's readers back: /readyz
// turns 503 past the threshold and names the backend, and turns ready again once it ends.
func TestReadyzNamesAStalledHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Open(t, pgtest.NewDatabase(t))
	store, err := eventstore.New(pool, eventstore.Options{})
	require.NoError(t, err)
	srv := server.New("127.0.0.1:0", slog.New(slog.DiscardHandler), pool)
	srv.AddCheck("read_horizon", horizonCheck(store, 0))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	readyz := func() (int, map[string]string) {
		res, err := http.Get(hs.URL + "/readyz")
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		var body map[string]string
		require.NoError(t, json.Unmarshal(b, &body), "%s", b)
		return res.StatusCode, body
	}

	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	var pid int
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	_, err = store.Append(ctx, eventstore.StreamAppend{StreamID: "test-" + uuid.NewString(), StreamType: "test",
		Expected: eventstore.Any(), Events: []eventstore.EventData{{ID: uuid.New(), Type: "Tested", SchemaVersion: 1,
			Data: json.RawMessage(`{}`), Metadata: eventstore.Metadata{CorrelationID: uuid.New(), CausationID: uuid.New()}}}})
	require.NoError(t, err)

	deadline := time.Now().Add(30 * time.Second)
	for { // another package's transaction may be the oldest for a moment
		code, body := readyz()
		if code == http.StatusServiceUnavailable && containsPID(body["read_horizon"], pid) {
			require.Equal(t, "degraded", body["status"])
			require.Equal(t, "ok", body["database"])
			break
		}
		require.True(t, time.Now().Before(deadline), "never named pid %d: %d %v", pid, code, body)
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, tx.Commit(ctx))
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, body := readyz()
		if code == http.StatusOK {
			require.Equal(t, "ok", body["read_horizon"])
			break
		}
		require.True(t, time.Now().Before(deadline), "still degraded: %v", body)
		time.Sleep(20 * time.Millisecond)
	}
}

func containsPID(s string, pid int) bool {
	return strings.Contains(s, "pid "+strconv.Itoa(pid)+",")
}
