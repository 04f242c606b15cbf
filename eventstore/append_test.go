package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jackc/pgx/v5"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestExpectedVersionModes(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()

	type step struct {
		exp      eventstore.ExpectedVersion
		conflict bool  // expect a conflict…
		current  int64 // …reporting this current version
	}
	cases := map[string]struct {
		existing int // events already in the stream
		steps    []step
	}{
		"no stream on new":          {0, []step{{exp: eventstore.NoStream()}}},
		"no stream on existing":     {2, []step{{exp: eventstore.NoStream(), conflict: true, current: 2}}},
		"stream exists on new":      {0, []step{{exp: eventstore.StreamExists(), conflict: true, current: 0}}},
		"stream exists on existing": {1, []step{{exp: eventstore.StreamExists()}}},
		"exact 0 on new":            {0, []step{{exp: eventstore.Exact(0)}}},
		"exact 0 on existing":       {1, []step{{exp: eventstore.Exact(0), conflict: true, current: 1}}},
		"exact matching":            {3, []step{{exp: eventstore.Exact(3)}, {exp: eventstore.Exact(4)}}},
		"exact behind":              {3, []step{{exp: eventstore.Exact(2), conflict: true, current: 3}}},
		"exact ahead":               {3, []step{{exp: eventstore.Exact(7), conflict: true, current: 3}}},
		"exact ahead on new":        {0, []step{{exp: eventstore.Exact(1), conflict: true, current: 0}}},
		"any on new":                {0, []step{{exp: eventstore.Any()}, {exp: eventstore.Any()}}},
		"any on existing":           {2, []step{{exp: eventstore.Any()}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := streamID("modes")
			if tc.existing > 0 {
				_, err := es.Append(ctx, one(id, eventstore.NoStream(), events(tc.existing)...))
				require.NoError(t, err)
			}
			version := int64(tc.existing)
			for _, st := range tc.steps {
				res, err := es.Append(ctx, one(id, st.exp, events(1)...))
				if st.conflict {
					var ce *eventstore.ConflictError
					require.ErrorAs(t, err, &ce)
					require.ErrorIs(t, err, eventstore.ErrConcurrency)
					require.Equal(t, id, ce.StreamID)
					require.Equal(t, st.current, ce.Current)
					require.Equal(t, st.exp, ce.Expected)
					continue
				}
				require.NoError(t, err)
				version++
				require.Equal(t, version, res.Streams[id])
				require.Len(t, res.Events, 1)
				require.Equal(t, version, res.Events[0].StreamVersion)
			}
			got, err := es.ReadStream(ctx, id, 1, 0)
			require.NoError(t, err)
			require.Len(t, got, int(version), "a conflict must append nothing")
		})
	}
}

func TestMultiStreamAppendIsAtomic(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	a, b, c := streamID("a"), streamID("b"), streamID("c")
	_, err := es.Append(ctx, one(b, eventstore.NoStream(), events(2)...))
	require.NoError(t, err)

	// b is at 2, not 1: the whole append fails, a and c stay empty.
	_, err = es.Append(ctx,
		one(a, eventstore.NoStream(), events(3)...),
		one(b, eventstore.Exact(1), events(1)...),
		one(c, eventstore.Any(), events(1)...),
	)
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, b, ce.StreamID)
	require.EqualValues(t, 2, ce.Current)
	for _, id := range []string{a, c} {
		_, err := es.StreamVersion(ctx, id)
		require.ErrorIs(t, err, eventstore.ErrNotFound)
		got, err := es.ReadStream(ctx, id, 1, 0)
		require.NoError(t, err)
		require.Empty(t, got)
	}

	// All right: every stream advances in one transaction, events keep their given order.
	evA, evB := events(3), events(1)
	res, err := es.Append(ctx,
		one(c, eventstore.Any(), event("c.one", 1)),
		one(a, eventstore.NoStream(), evA...),
		one(b, eventstore.Exact(2), evB...),
	)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{a: 3, b: 3, c: 1}, res.Streams)
	require.Len(t, res.Events, 5)
	require.Equal(t, c, res.Events[0].StreamID)
	require.Equal(t, evA[0].ID, res.Events[1].ID)
	require.Equal(t, evB[0].ID, res.Events[4].ID)
	require.EqualValues(t, 3, res.Events[4].StreamVersion)
	for _, e := range res.Events {
		require.LessOrEqual(t, e.Position, res.LastPosition)
	}
}

func TestVersionCheckWithoutEvents(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	ws, task := streamID("ws"), streamID("task")
	_, err := es.Append(ctx, one(ws, eventstore.NoStream(), events(2)...))
	require.NoError(t, err)

	// Asserting a stream we do not write: passes at the right version…
	res, err := es.Append(ctx, one(ws, eventstore.Exact(2)), one(task, eventstore.NoStream(), events(1)...))
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Streams[ws])
	v, err := es.StreamVersion(ctx, ws)
	require.NoError(t, err)
	require.EqualValues(t, 2, v, "a checked stream is not written")

	// …and aborts the append at a stale one.
	_, err = es.Append(ctx, one(ws, eventstore.Exact(1)), one(task, eventstore.Exact(1), events(1)...))
	require.ErrorIs(t, err, eventstore.ErrConcurrency)
	v, err = es.StreamVersion(ctx, task)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
}

func TestIdempotentReappend(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	id := streamID("idem")
	evs := events(3)
	first, err := es.Append(ctx, one(id, eventstore.NoStream(), evs...))
	require.NoError(t, err)
	require.False(t, first.Replayed)

	// The same ids again, even with an expectation that no longer holds: the original result.
	again, err := es.Append(ctx, one(id, eventstore.NoStream(), evs...))
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.Events, again.Events)
	require.Equal(t, first.Streams, again.Streams)
	require.Equal(t, first.Head(), again.Head())
	got, err := es.ReadStream(ctx, id, 1, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)

	// Reusing some ids, or ids of another stream, is a client bug and is refused.
	_, err = es.Append(ctx, one(id, eventstore.Any(), evs[0], event("test.new", 9)))
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
	_, err = es.Append(ctx, one(streamID("other"), eventstore.Any(), evs...))
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
	got, err = es.ReadStream(ctx, id, 1, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
}

func TestIdempotentReappendUnderConcurrency(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	for _, exp := range []eventstore.ExpectedVersion{eventstore.Any(), eventstore.NoStream()} {
		id := streamID("idem-race")
		evs := events(2)
		const n = 16
		results := make([]eventstore.AppendResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = es.Append(ctx, one(id, exp, evs...))
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "expected %s", exp)
			require.Equal(t, results[0].Events, results[i].Events)
		}
		got, err := es.ReadStream(ctx, id, 1, 0)
		require.NoError(t, err)
		require.Len(t, got, 2)
	}
}

func TestConcurrentWritersOneWinnerPerVersion(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	id := streamID("race")
	const writers, rounds = 16, 25
	for v := int64(0); v < rounds; v++ {
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			wins      int
			conflicts int
		)
		start := make(chan struct{})
		for range writers {
			wg.Go(func() {
				<-start
				_, err := es.Append(ctx, one(id, eventstore.Exact(v), events(1)...))
				mu.Lock()
				defer mu.Unlock()
				var ce *eventstore.ConflictError
				switch {
				case err == nil:
					wins++
				case errors.As(err, &ce):
					require.Equal(t, v+1, ce.Current, "a loser sees the winner's version")
					conflicts++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, 1, wins, "version %d", v)
		require.Equal(t, writers-1, conflicts)
	}
	got, err := es.ReadStream(ctx, id, 1, 0)
	require.NoError(t, err)
	require.Len(t, got, rounds)
	for i, e := range got {
		require.EqualValues(t, i+1, e.StreamVersion, "no holes, no duplicates")
	}
}

func TestReadStreamForwardBackwardAndLimits(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	id := streamID("read")
	evs := events(10)
	_, err := es.Append(ctx, one(id, eventstore.NoStream(), evs...))
	require.NoError(t, err)

	versions := func(got []eventstore.RecordedEvent) (out []int64) {
		for _, e := range got {
			out = append(out, e.StreamVersion)
		}
		return out
	}
	got, err := es.ReadStream(ctx, id, 4, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{4, 5, 6}, versions(got))
	got, err = es.ReadStream(ctx, id, 9, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{9, 10}, versions(got))
	got, err = es.ReadStream(ctx, id, 11, 100)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = es.ReadStreamBackward(ctx, id, -1, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{10, 9, 8}, versions(got))
	got, err = es.ReadStreamBackward(ctx, id, 2, 5)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 1}, versions(got))
	got, err = es.ReadStream(ctx, streamID("missing"), 1, 10)
	require.NoError(t, err)
	require.Empty(t, got)

	// Every field round-trips.
	got, err = es.ReadStream(ctx, id, 1, 1)
	require.NoError(t, err)
	e := got[0]
	require.Equal(t, evs[0].ID, e.ID)
	require.Equal(t, evs[0].Type, e.Type)
	require.Equal(t, "test", e.StreamType)
	require.Equal(t, 1, e.SchemaVersion)
	require.JSONEq(t, string(evs[0].Data), string(e.Data))
	require.Equal(t, evs[0].Metadata, e.Metadata)
	require.NotZero(t, e.TransactionID)
	require.False(t, e.RecordedAt.IsZero())
	require.Len(t, e.Hash, 32)
	require.Empty(t, e.PrevHash, "the first event chains from the empty genesis")
	require.Equal(t, got[0].Hash, mustRead(t, es, id, 2).PrevHash)
}

func mustRead(t *testing.T, es *eventstore.Store, id string, v int64) eventstore.RecordedEvent {
	t.Helper()
	got, err := es.ReadStream(context.Background(), id, v, 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	return got[0]
}

func TestInvalidAppendsChangeNothing(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	id := streamID("bad")
	_, err := es.Append(ctx, one(id, eventstore.NoStream(), events(1)...))
	require.NoError(t, err)
	noID := event("x", 1)
	noID.ID = uuid.Nil
	noType := event("", 1)
	badJSON := event("x", 1)
	badJSON.Data = json.RawMessage(`{"unterminated"`)
	cases := map[string][]eventstore.StreamAppend{
		"no streams":         nil,
		"no stream id":       {one("", eventstore.Any(), events(1)...)},
		"same stream twice":  {one(id, eventstore.Any(), events(1)...), one(id, eventstore.Any(), events(1)...)},
		"event without id":   {one(id, eventstore.Any(), noID)},
		"event without type": {one(id, eventstore.Any(), noType)},
		"data not json":      {one(id, eventstore.Any(), badJSON)},
		"negative expected":  {one(id, eventstore.Exact(-1), events(1)...)},
		"other stream type":  {{StreamID: id, StreamType: "other", Expected: eventstore.Any(), Events: events(1)}},
	}
	for name, appends := range cases {
		_, err := es.Append(ctx, appends...)
		require.ErrorIs(t, err, eventstore.ErrInvalidAppend, name)
	}
	v, err := es.StreamVersion(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
}

func TestAppendTxCommitsAndRollsBackWithTheCaller(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	id := streamID("tx")
	errBoom := errors.New("boom")
	err := database.WithTx(ctx, pgtest.Pool(t), func(tx pgx.Tx) error {
		_, err := es.AppendTx(ctx, tx, one(id, eventstore.NoStream(), events(2)...))
		require.NoError(t, err)
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)
	_, err = es.StreamVersion(ctx, id)
	require.ErrorIs(t, err, eventstore.ErrNotFound)

	err = database.WithTx(ctx, pgtest.Pool(t), func(tx pgx.Tx) error {
		if _, err := es.AppendTx(ctx, tx, one(id, eventstore.NoStream(), events(2)...)); err != nil {
			return err
		}
		_, err := es.AppendTx(ctx, tx, one(id, eventstore.Exact(2), events(1)...))
		return err
	})
	require.NoError(t, err)
	v, err := es.StreamVersion(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 3, v)
}

// Two processes (two stores, two head caches) writing one stream: each one's cache goes stale and
// the conflict still reports the current version.
func TestTwoStoresOnOneStream(t *testing.T) {
	t.Parallel()
	a, b := setup(t), setup(t)
	ctx := context.Background()
	id := streamID("two")
	_, err := a.Append(ctx, one(id, eventstore.NoStream(), events(1)...))
	require.NoError(t, err)
	_, err = b.ReadStream(ctx, id, 1, 0) // b now knows version 1
	require.NoError(t, err)
	_, err = a.Append(ctx, one(id, eventstore.Exact(1), events(1)...)) // a moves to 2
	require.NoError(t, err)

	_, err = b.Append(ctx, one(id, eventstore.Exact(1), events(1)...))
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce)
	require.EqualValues(t, 2, ce.Current)
	for v := int64(2); v < 12; v++ { // alternate writers, each appending at the version it was told
		w := a
		if v%2 == 0 {
			w = b
		}
		_, err := w.Append(ctx, one(id, eventstore.Exact(v), events(1)...))
		require.NoError(t, err)
	}
	r, err := a.Verify(ctx, id)
	require.NoError(t, err)
	require.Nil(t, r.Break)
	require.EqualValues(t, 12, r.Events)
}

// A version assertion (a stream checked without events) holds until its transaction ends: a
// writer of that stream waits for it, whichever append path it takes.
func TestVersionAssertionHoldsUntilCommit(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	ws, task := streamID("ws"), streamID("task")
	_, err := es.Append(ctx, one(ws, eventstore.NoStream(), events(1)...))
	require.NoError(t, err)

	tx, err := es.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = es.AppendTx(ctx, tx, one(ws, eventstore.Exact(1)), one(task, eventstore.NoStream(), events(1)...))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		// The store knows ws's hash at version 1: this is the fast path.
		_, err := es.Append(ctx, one(ws, eventstore.Exact(1), event("ws.renamed", 2)))
		done <- err
	}()
	// Wait until the writer is blocked on the stream's advisory lock, then commit.
	require.Eventually(t, func() bool {
		var waiting bool
		_ = es.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory')`).Scan(&waiting)
		return waiting
	}, 10*time.Second, 5*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the writer did not wait for the assertion: %v", err)
	default:
	}
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)
	v, err := es.StreamVersion(ctx, ws)
	require.NoError(t, err)
	require.EqualValues(t, 2, v)
}
