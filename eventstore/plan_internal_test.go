package eventstore

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// The global reads must walk events_global_order_idx in order, never sort the log: a sort is
// invisible on a small log and costs seconds per batch on a large one.
func TestGlobalReadsUseTheIndexOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"ReadAll":             {readAllSQL, []any{int64(0), int64(0), 100}},
		"Head":                {headSQL, nil},
		"Pending":             {pendingSQL, nil},
		"CheckTransactionIDs": {xidCheckSQL, nil},
	} {
		var plan strings.Builder
		err := database.WithTx(ctx, pgtest.Pool(t), func(tx pgx.Tx) error {
			// On a test-sized table the planner would rather sort a few rows: make every
			// alternative to an ordered index scan look expensive, so only a query that cannot
			// use the index order still sorts.
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `EXPLAIN `+q.sql, q.args...)
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			plan.WriteString(strings.Join(lines, "\n"))
			return err
		})
		require.NoError(t, err, name)
		require.Contains(t, plan.String(), "events_global_order_idx", "%s:\n%s", name, plan.String())
		require.NotContains(t, plan.String(), "Sort", "%s:\n%s", name, plan.String())
	}
}
