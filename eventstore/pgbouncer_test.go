package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestThroughPgBouncer checks the run that make test-pgbouncer does: the store's pools really go
// through PgBouncer in transaction mode (the suites it selects then test the store through it),
// and appends committed through PgBouncer wake a reader whose notifier LISTENs on a direct
// connection, with no in-process OnCommit to help.
func TestThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pgtest.PgBouncerURL(t, pgtest.URL()) // skips without a PgBouncer
	url := pgtest.NewDatabase(t)
	pooled := pgtest.PgBouncerURL(t, url)
	es := newStore(t, eventstore.Options{})
	want, err := pgx.ParseConfig(pooled)
	require.NoError(t, err)
	require.Equal(t, want.Port, es.Pool().Config().ConnConfig.Port, "pgtest.Open goes through PgBouncer")
	require.Equal(t, want.Port, pgtest.Pool(t).Config().ConnConfig.Port, "pgtest.Pool goes through PgBouncer")
	p, err := database.ProbePooling(context.Background(), pooled)
	require.NoError(t, err)
	require.True(t, p.Transaction, p.Reason)
	t.Logf("exec mode %s: %s", pgtest.ExecMode(t), p.Reason)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer, err := eventstore.New(pgtest.Open(t, url), options(eventstore.Options{}))
	require.NoError(t, err)
	n := eventstore.NewNotifier(pgtest.OpenDirect(t, url), nil)
	wake, unsubscribe := n.Subscribe()
	defer unsubscribe()
	stopped := make(chan struct{})
	go func() { _ = n.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	select { // the first wake-up comes when LISTEN is in place
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("notifier did not start listening")
	}
	for i := range 3 {
		_, err := writer.Append(ctx, one(streamID("notify"), eventstore.Any(), events(1)...))
		require.NoError(t, err)
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("append %d through PgBouncer did not wake the reader", i)
		}
	}
}
