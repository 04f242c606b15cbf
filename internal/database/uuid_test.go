package database_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestUUIDsScanDirectly: uuid.UUID results, alone, in arrays and behind pointers, in the binary
// and the text formats, come back as sent (a NULL as uuid.UUID's Scan leaves it); and a binary
// uuid scans into *uuid.UUID without allocating (not through sql.Scanner and the text form, which
// allocates for every value).
func TestUUIDsScanDirectly(t *testing.T) { // not parallel: AllocsPerRun
	ctx := context.Background()
	pool, err := database.Open(ctx, pgtest.NewDatabase(t), database.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	a, b := uuid.New(), uuid.New()

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		var one uuid.UUID
		var many []uuid.UUID
		var null *uuid.UUID
		require.NoError(t, pool.QueryRow(ctx, `SELECT $1::uuid, ARRAY[$1::uuid, $2::uuid], NULL::uuid`, mode, a, b).Scan(&one, &many, &null))
		require.Equal(t, a, one, mode)
		require.Equal(t, []uuid.UUID{a, b}, many, mode)
		require.Nil(t, null, mode)
		// NULL into a uuid.UUID leaves it as it was, as uuid.UUID's Scan does.
		require.NoError(t, pool.QueryRow(ctx, `SELECT NULL::uuid`, mode).Scan(&one))
		require.Equal(t, a, one, mode)
	}

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	var u uuid.UUID
	plan := conn.Conn().TypeMap().PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &u)
	allocs := testing.AllocsPerRun(100, func() {
		if err := plan.Scan(a[:], &u); err != nil {
			t.Fatal(err)
		}
	})
	require.Equal(t, a, u)
	require.Zero(t, allocs, "allocations per binary uuid scanned")
}
