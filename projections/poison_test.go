package projections_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
)

// poisonProjection records every event id, and fails with an SQL error on comments.
func poisonProjection() *projections.Projection {
	return &projections.Projection{
		Name:   "poison_test",
		Tables: []string{"rm_poison"},
		Schema: `CREATE TABLE rm_poison{v} (event_id uuid PRIMARY KEY);`,
		Apply: func(w *projections.Writer, e *projections.Event) error {
			if _, ok := e.Payload.(domain.TaskCommentAdded); ok {
				w.Exec(`INSERT INTO rm_poison{v} (event_id) VALUES ($1::text::uuid)`, "not a uuid")
				return nil
			}
			w.Exec(`INSERT INTO rm_poison{v} (event_id) VALUES ($1)`, e.ID)
			return nil
		},
	}
}

func TestPoisonEventStopsProjection(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{Projections: []*projections.Projection{poisonProjection()}, MaxRetries: 2, RetryInterval: time.Millisecond})
	w := f.world(1)
	comment, err := f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: member, TaskID: w.tasks[0], Body: "boom"})
	require.NoError(t, err)
	_, err = f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: member, TaskID: w.tasks[0], Body: "after"})
	require.NoError(t, err)

	var st projections.Status
	f.waitFor(10*time.Second, func() bool {
		sts, err := projections.Statuses(f.ctx, f.pool)
		require.NoError(t, err)
		require.Len(t, sts, 1)
		st = sts[0]
		// Lag counts readable events only: the second comment may still wait below the horizon.
		return st.State == projections.StateFailed && st.LagEvents == 2
	}, "the projection to fail with both comments left")
	require.Contains(t, st.LastError, "invalid input syntax for type uuid")
	require.NotNil(t, st.FailedEventID)
	events, err := f.store.ReadStream(f.ctx, domain.TaskStream(w.tasks[0]), comment.Version, 1)
	require.NoError(t, err)
	require.Equal(t, events[0].ID, *st.FailedEventID)
	// It stopped before the poison event: never skipped silently.
	require.True(t, st.Position.Less(events[0].GlobalPosition()))
	var n int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM rm_poison`).Scan(&n))
	require.Equal(t, int(st.EventsHandled), n)
}

func TestPoisonEventParked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{Projections: []*projections.Projection{poisonProjection()}, MaxRetries: 1,
		RetryInterval: time.Millisecond, Park: true})
	w := f.world(1)
	_, err := f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: member, TaskID: w.tasks[0], Body: "boom"})
	require.NoError(t, err)
	_, err = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: w.tasks[0], Status: "in_progress"})
	require.NoError(t, err)
	f.caughtUp()
	sts, err := projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	require.Equal(t, projections.StateRunning, sts[0].State)
	require.Equal(t, int64(1), sts[0].Parked)
	var typ, msg string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT event_type, error FROM parked_events WHERE name = 'poison_test'`).Scan(&typ, &msg))
	require.Equal(t, domain.EventTaskCommentAdded, typ)
	require.Contains(t, msg, "invalid input syntax for type uuid")
}
