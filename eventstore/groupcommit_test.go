package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// holdLeader fills es with appends that wait: as many as run alone at once, and then one that leads
// a group (of one), each on a stream share-locked by an open transaction's version assertion.
// Appends made until release queue for the next group. release commits that transaction and
// returns the waiting appends' first error. es keeps to one group in flight (HoldSecondGroups).
func holdLeader(t *testing.T, es *eventstore.Store) (release func() error) {
	t.Helper()
	es.HoldSecondGroups()
	ctx := context.Background()
	n := eventstore.GroupSoloMax + 1
	streams := make([]string, n)
	asserts := make([]eventstore.StreamAppend, n)
	for i := range streams {
		streams[i] = streamID("held")
		_, err := es.Append(ctx, one(streams[i], eventstore.NoStream(), events(1)...)) // es knows its head
		require.NoError(t, err)
		asserts[i] = one(streams[i], eventstore.Exact(1))
	}
	tx, err := es.Pool().Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	_, err = es.AppendTx(ctx, tx, asserts...)
	require.NoError(t, err)

	// Watched from a direct connection: through PgBouncer the waiting appends hold every server
	// connection of its pool.
	watch := pgtest.OpenDirect(t, pgtest.URL())
	db := es.Pool().Config().ConnConfig.Database
	errs := make(chan error, n)
	for i := range streams {
		go func() {
			_, err := es.Append(ctx, one(streams[i], eventstore.Exact(1), events(1)...))
			errs <- err
		}()
		require.Eventually(t, func() bool {
			var waiting int
			_ = watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory'`, db).Scan(&waiting)
			return waiting == i+1
		}, 10*time.Second, 5*time.Millisecond)
	}
	queued, leaders := es.GroupState()
	require.Equal(t, 0, queued)
	require.Equal(t, 1, leaders, "the last one leads")
	return func() error {
		require.NoError(t, tx.Commit(ctx))
		var first error
		for range n {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// waitQueued waits until n appends wait for the next group behind the one running leader.
func waitQueued(t *testing.T, es *eventstore.Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		q, leaders := es.GroupState()
		return q == n && leaders == 1
	}, 10*time.Second, time.Millisecond)
}

// Appends (of one event: the ones that group commit combines) that conflict, that replay and that
// succeed are queued together and run as one group:
// the successful ones commit in one transaction, each conflict fails only its own append with the
// stream's current version and writes nothing, a replay returns the original result.
func TestGroupCommitConflictsAndSuccessesShareAGroup(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	if !es.GroupCommit() {
		t.Skip("group commit is off")
	}
	other := newStoreOn(t, es) // a second process on the same database
	ctx := context.Background()

	// es knows the conflict streams at version 1; the other store moves them to 2.
	const n = 3
	conflictStreams := make([]string, n)
	for i := range conflictStreams {
		conflictStreams[i] = streamID("conflict")
		_, err := es.Append(ctx, one(conflictStreams[i], eventstore.NoStream(), events(1)...))
		require.NoError(t, err)
		_, err = other.Append(ctx, one(conflictStreams[i], eventstore.Exact(1), events(1)...))
		require.NoError(t, err)
	}
	replayStream, replayEvents := streamID("replay"), events(1)
	original, err := es.Append(ctx, one(replayStream, eventstore.NoStream(), replayEvents...))
	require.NoError(t, err)

	release := holdLeader(t, es)

	type outcome struct {
		res eventstore.AppendResult
		err error
	}
	var (
		wg        sync.WaitGroup
		queued    int
		okStreams = make([]string, n)
		okRes     = make([]outcome, n)
		conflicts = make([]outcome, n)
		lost      = make([]eventstore.EventData, n)
		replay    outcome
	)
	enqueue := func(f func()) {
		wg.Go(f)
		queued++
		waitQueued(t, es, queued)
	}
	for i := range n {
		lost[i] = event("test.lost", i)
		enqueue(func() {
			conflicts[i].res, conflicts[i].err = es.Append(ctx, one(conflictStreams[i], eventstore.Exact(1), lost[i]))
		})
		okStreams[i] = streamID("ok")
		enqueue(func() {
			okRes[i].res, okRes[i].err = es.Append(ctx, one(okStreams[i], eventstore.NoStream(), events(1)...))
		})
	}
	enqueue(func() {
		replay.res, replay.err = es.Append(ctx, one(replayStream, eventstore.NoStream(), replayEvents...))
	})

	require.NoError(t, release())
	wg.Wait()

	// One group: every successful append committed in the same transaction, each with its own
	// versions and positions.
	positions := map[int64]bool{}
	for i, o := range okRes {
		require.NoError(t, o.err)
		require.Equal(t, okRes[0].res.TransactionID, o.res.TransactionID, "one transaction for the group")
		require.Equal(t, map[string]int64{okStreams[i]: 1}, o.res.Streams)
		require.Len(t, o.res.Events, 1)
		for _, e := range o.res.Events {
			require.False(t, positions[e.Position])
			positions[e.Position] = true
		}
		// The result says where the event is stored.
		stored, err := es.ReadStream(ctx, okStreams[i], 1, 0)
		require.NoError(t, err)
		require.Len(t, stored, 1)
		require.Equal(t, stored[0].Position, o.res.Events[0].Position)
		require.Equal(t, stored[0].TransactionID, o.res.TransactionID)
		r, err := es.Verify(ctx, okStreams[i])
		require.NoError(t, err)
		require.Nil(t, r.Break)
		require.EqualValues(t, 1, r.Events)
	}
	for i, o := range conflicts {
		var ce *eventstore.ConflictError
		require.ErrorAs(t, o.err, &ce)
		require.Equal(t, conflictStreams[i], ce.StreamID)
		require.EqualValues(t, 2, ce.Current)
		got, err := es.ReadStream(ctx, conflictStreams[i], 1, 0)
		require.NoError(t, err)
		require.Len(t, got, 2, "a conflict writes nothing")
		for _, e := range got {
			require.NotEqual(t, lost[i].ID, e.ID)
		}
	}
	var stored int
	require.NoError(t, es.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE event_id = ANY ($1)`,
		[]uuid.UUID{lost[0].ID, lost[1].ID, lost[2].ID}).Scan(&stored))
	require.Zero(t, stored)
	require.NoError(t, replay.err)
	require.True(t, replay.res.Replayed)
	require.Equal(t, original.Events, replay.res.Events)
	require.Equal(t, original.Head(), replay.res.Head())
}

// A queued append whose context ends withdraws without writing; the appends queued with it run.
func TestGroupCommitCancelledAppendWithdraws(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	if !es.GroupCommit() {
		t.Skip("group commit is off")
	}
	ctx := context.Background()
	release := holdLeader(t, es)

	cctx, cancel := context.WithCancel(ctx)
	gone, kept := streamID("gone"), []string{streamID("kept"), streamID("kept")}
	var wg sync.WaitGroup
	var goneErr error
	keptErr := make([]error, len(kept))
	wg.Go(func() { _, keptErr[0] = es.Append(ctx, one(kept[0], eventstore.NoStream(), events(1)...)) })
	waitQueued(t, es, 1)
	wg.Go(func() { _, goneErr = es.Append(cctx, one(gone, eventstore.NoStream(), events(1)...)) })
	waitQueued(t, es, 2)
	wg.Go(func() { _, keptErr[1] = es.Append(ctx, one(kept[1], eventstore.NoStream(), events(1)...)) })
	waitQueued(t, es, 3)
	cancel()
	waitQueued(t, es, 2)

	require.NoError(t, release())
	wg.Wait()
	require.True(t, errors.Is(goneErr, context.Canceled), "%v", goneErr)
	_, err := es.StreamVersion(ctx, gone)
	require.ErrorIs(t, err, eventstore.ErrNotFound)
	for i, id := range kept {
		require.NoError(t, keptErr[i])
		v, err := es.StreamVersion(ctx, id)
		require.NoError(t, err)
		require.EqualValues(t, 1, v)
	}
}

// newStoreOn returns a second store on es's database: another process, with a head cache of its own.
func newStoreOn(t *testing.T, es *eventstore.Store) *eventstore.Store {
	t.Helper()
	s, err := eventstore.New(es.Pool(), options(eventstore.Options{}))
	require.NoError(t, err)
	return s
}

// Every append that the committer counts as on its way (one stream, one event) is uncounted
// whichever way it ends: grouped, alone, invalid, on the general path, in conflict or cancelled. A
// count left behind would make every later leader wait out groupFillWait for nothing.
func TestGroupCommitUncountsEveryAppend(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	if !es.GroupCommit() {
		t.Skip("group commit is off")
	}
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	kinds := []func() error{
		func() error { // grouped or alone, on the fast path
			_, err := es.Append(ctx, one(streamID("fast"), eventstore.NoStream(), events(1)...))
			return err
		},
		func() error { // invalid: no event type
			ev := events(1)
			ev[0].Type = ""
			_, err := es.Append(ctx, one(streamID("invalid"), eventstore.NoStream(), ev...))
			return expect(err, eventstore.ErrInvalidAppend)
		},
		func() error { // general path: no exact expected version
			_, err := es.Append(ctx, one(streamID("any"), eventstore.Any(), events(1)...))
			return err
		},
		func() error { // conflict: the stream exists
			id := streamID("twice")
			if _, err := es.Append(ctx, one(id, eventstore.NoStream(), events(1)...)); err != nil {
				return err
			}
			_, err := es.Append(ctx, one(id, eventstore.NoStream(), events(1)...))
			return expect(err, eventstore.ErrConcurrency)
		},
		func() error { // cancelled before it starts
			_, err := es.Append(cancelled, one(streamID("cancelled"), eventstore.NoStream(), events(1)...))
			if err == nil {
				return nil // it ran alone before looking at its context
			}
			return expect(err, context.Canceled)
		},
		func() error { // several events: never counted
			_, err := es.Append(ctx, one(streamID("batch"), eventstore.NoStream(), events(3)...))
			return err
		},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16*len(kinds))
	for w := range 16 {
		wg.Go(func() {
			for i := range 3 * len(kinds) {
				if err := kinds[(w+i)%len(kinds)](); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	require.Zero(t, es.GroupPreparing())
	queued, leaders := es.GroupState()
	require.Zero(t, queued)
	require.Zero(t, leaders)
}

func expect(err, want error) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("want %v, got %v", want, err)
	}
	return nil
}
