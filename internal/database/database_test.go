package database_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "database")) }

// Instances starting together migrate one at a time: every caller succeeds and the schema is
// applied once.
func TestConcurrentMigrationsTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t) // already migrated from the template: reset to empty first
	pool := pgtest.Open(t, url)
	_, err := pool.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make([]error, 6)
	applied := make([]int, 6)
	for i := range errs {
		wg.Go(func() {
			p, err := database.Open(ctx, url, database.PoolOptions{MaxConns: 2})
			if err != nil {
				errs[i] = err
				return
			}
			defer p.Close()
			res, err := database.Migrate(ctx, p, nil)
			errs[i], applied[i] = err, len(res)
		})
	}
	wg.Wait()
	total := 0
	for i := range errs {
		require.NoError(t, errs[i])
		total += applied[i]
	}
	var files int
	entries, _ := os.ReadDir("../../migrations")
	for _, e := range entries {
		if len(e.Name()) > 4 && e.Name()[len(e.Name())-4:] == ".sql" {
			files++
		}
	}
	require.Equal(t, files, total, "each migration applied exactly once across all instances")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n))
}

func TestWithTxRollsBackOnErrorAndCancellation(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS tx_probe (v text PRIMARY KEY)`)
	require.NoError(t, err)

	boom := errors.New("boom")
	err = database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tx_probe VALUES ('err')`)
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)

	cctx, cancel := context.WithCancel(ctx)
	err = database.WithTx(cctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(cctx, `INSERT INTO tx_probe VALUES ('cancelled')`)
		require.NoError(t, err)
		cancel()
		return cctx.Err()
	})
	require.ErrorIs(t, err, context.Canceled)

	require.NoError(t, database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tx_probe VALUES ('ok')`)
		return err
	}))
	var vals []string
	rows, err := pool.Query(ctx, `SELECT v FROM tx_probe ORDER BY v`)
	require.NoError(t, err)
	vals, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"ok"}, vals)
	// No connection was left idle in a transaction.
	stat := pool.Stat()
	require.Zero(t, stat.AcquiredConns())
}
