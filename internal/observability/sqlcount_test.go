package observability_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/observability"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "observability")) }

func TestStatementTracerCountsPerContext(t *testing.T) {
	pool, err := database.Open(context.Background(), pgtest.URL(), database.PoolOptions{Tracer: observability.StatementTracer{}})
	require.NoError(t, err)
	defer pool.Close()

	ctx, c := observability.WithStatementCount(context.Background())
	other, o := observability.WithStatementCount(context.Background())
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT 1`).Scan(&n))
	_, err = pool.Exec(ctx, `SELECT 2`)
	require.NoError(t, err)
	b := &pgx.Batch{}
	b.Queue(`SELECT 3`)
	b.Queue(`SELECT 4`)
	require.NoError(t, pool.SendBatch(ctx, b).Close())
	require.NoError(t, database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT 5`)
		return err
	}))
	_, err = pool.Exec(other, `SELECT 6`)
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `SELECT 7`) // not counted anywhere
	require.NoError(t, err)

	// 1 + 1 + 2 (batch) + begin + 1 + commit
	require.EqualValues(t, 7, c.Load())
	require.EqualValues(t, 1, o.Load())
}
