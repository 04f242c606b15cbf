package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// An idle transaction holding an xid in another database of the cluster holds every reader of
// this one back: Horizon counts the committed events waiting behind it and names the backend, and
// Head (what readers see) stops below them. Once it ends, nothing is pending.
func TestHorizonNamesItsHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	es := newStore(t, eventstore.Options{})
	otherURL := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, otherURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	var pid int
	var db string
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_backend_pid(), current_database()`).Scan(&pid, &db))
	_, err = conn.Exec(ctx, `SET application_name = 'horizon-test'`)
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_current_xact_id()`) // takes an xid, then sits idle
	require.NoError(t, err)

	before, err := es.Head(ctx)
	require.NoError(t, err)
	for range 5 {
		_, err := es.Append(ctx, one(streamID("h"), eventstore.Any(), events(1)...))
		require.NoError(t, err)
	}
	var h eventstore.Horizon
	deadline := time.Now().Add(30 * time.Second)
	for { // other packages' short transactions may be older for a moment
		h, err = es.Horizon(ctx)
		require.NoError(t, err)
		if h.Holder != nil && h.Holder.PID == pid {
			break
		}
		require.True(t, time.Now().Before(deadline), "the idle transaction never showed as the holder: %+v", h.Holder)
		time.Sleep(20 * time.Millisecond)
	}
	require.EqualValues(t, 5, h.Pending)
	require.False(t, h.OldestPendingAt.IsZero())
	require.Equal(t, db, h.Holder.Database)
	require.Equal(t, "horizon-test", h.Holder.Application)
	require.Equal(t, "idle in transaction", h.Holder.State)
	require.Positive(t, h.Holder.Age)
	require.True(t, h.Stalled(0, time.Now()))
	require.False(t, h.Stalled(time.Hour, time.Now()))
	head, err := es.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, before, head, "readers see none of the pending events")

	require.NoError(t, tx.Commit(ctx))
	deadline = time.Now().Add(30 * time.Second)
	for {
		h, err = es.Horizon(ctx)
		require.NoError(t, err)
		if h.Pending == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "still pending: %+v", h)
		time.Sleep(20 * time.Millisecond)
	}
}
