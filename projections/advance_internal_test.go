package projections

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestRefusedAdvanceCommitsNothing: when the checkpoint is not at the event's prev, both commit
// paths report the refusal without an error from PostgreSQL and the event's read-table writes do
// not commit; at prev, they commit with the checkpoint.
func TestRefusedAdvanceCommitsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var pgErrs PGErrorCounter
	pool, err := database.Open(ctx, pgtest.NewDatabase(t), database.PoolOptions{MaxConns: 4, Tracer: &pgErrs})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	p := &Projection{Name: "advance_test", Tables: []string{"rm_advance"}, Schema: `CREATE TABLE rm_advance{v} (event_id uuid PRIMARY KEY);`}
	require.NoError(t, Ensure(ctx, pool, []*Projection{p}))
	store, err := eventstore.New(pool, eventstore.Options{})
	require.NoError(t, err)
	r, err := NewRunner(store, RunnerOptions{Projections: []*Projection{p}})
	require.NoError(t, err)
	v, err := activeVersion(ctx, pool, p.Name)
	require.NoError(t, err)
	c := &consumer{r: r, p: p}
	c.version.Store(int64(v))
	_, err = pool.Exec(ctx, `UPDATE projection_checkpoints SET transaction_id = 7, position = 10 WHERE name = $1`, p.Name)
	require.NoError(t, err)

	at := func(pos int64) eventstore.GlobalPosition {
		return eventstore.GlobalPosition{TransactionID: 7, Position: pos}
	}
	event := func(pos int64) eventstore.RecordedEvent {
		return eventstore.RecordedEvent{ID: uuid.New(), Type: "test.event", TransactionID: 7, Position: pos, RecordedAt: time.Now()}
	}
	writes := func(re eventstore.RecordedEvent) *Writer {
		w := newWriter(v)
		w.Exec(`INSERT INTO rm_advance{v} (event_id) VALUES ($1)`, re.ID)
		return w
	}
	rows := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rm_advance_v`+itoa(v)).Scan(&n))
		return n
	}
	checkpoint := func() (pos, handled int64) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT position, events_handled FROM projection_checkpoints WHERE name = $1`,
			p.Name).Scan(&pos, &handled))
		return pos, handled
	}
	paths := map[string]func(re eventstore.RecordedEvent, prev eventstore.GlobalPosition) error{
		"fast": func(re eventstore.RecordedEvent, prev eventstore.GlobalPosition) error {
			return c.commitFast(ctx, v, re, prev, writes(re))
		},
		"slow": func(re eventstore.RecordedEvent, prev eventstore.GlobalPosition) error {
			return c.commit(ctx, v, re, prev, writes(re), nil, false)
		},
	}
	pos := int64(10)
	for name, commit := range paths {
		// Already applied (another worker was first): a duplicate, nothing written.
		require.ErrorIs(t, commit(event(pos), at(pos-1)), errDuplicate, name)
		// The checkpoint is behind prev (a gap): reposition, nothing written.
		require.ErrorIs(t, commit(event(pos+2), at(pos+1)), errReposition, name)
		require.Equal(t, 0, rows(), name)
		cp, handled := checkpoint()
		require.Equal(t, pos, cp, name)
		require.Zero(t, handled, name)
		// At prev: the writes and the checkpoint commit together.
		require.NoError(t, commit(event(pos+1), at(pos)), name)
		pos++
		require.Equal(t, 1, rows(), name)
		cp, handled = checkpoint()
		require.Equal(t, pos, cp, name)
		require.EqualValues(t, 1, handled, name)
		_, err := pool.Exec(ctx, `TRUNCATE rm_advance_v`+itoa(v))
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `UPDATE projection_checkpoints SET events_handled = 0 WHERE name = $1`, p.Name)
		require.NoError(t, err)
	}
	require.EqualValues(t, 4, r.Refusals())
	require.Zero(t, pgErrs.Count(), "a refusal must not be an error in PostgreSQL: %v", pgErrs.First())

	// The counter sees what the server refuses, in a batch too (else zero above would prove nothing).
	b := &pgx.Batch{}
	b.Queue(`SELECT 1`)
	b.Queue(`SELECT 1/0`)
	require.Error(t, pool.SendBatch(ctx, b).Close())
	require.Positive(t, pgErrs.Count())
}
