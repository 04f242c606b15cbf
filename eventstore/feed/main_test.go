package feed_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "feed")) }

// fixture is a database of its own (the global log and NOTIFY are per database) and a store whose
// commits wake this process's readers.
type fixture struct {
	ctx      context.Context
	pool     *pgxpool.Pool
	store    *eventstore.Store
	notifier *eventstore.Notifier
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool := pgtest.Open(t, pgtest.NewDatabase(t))
	notifier := eventstore.NewNotifier(pool, nil)
	done := make(chan struct{})
	go func() { defer close(done); _ = notifier.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	store, err := eventstore.New(pool, eventstore.Options{OnCommit: notifier.Wake})
	require.NoError(t, err)
	return &fixture{ctx: ctx, pool: pool, store: store, notifier: notifier}
}
