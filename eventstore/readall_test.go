package eventstore_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
)

// TestNaiveReaderSkipsWhatReadAllKeeps pins down, deterministically, why ReadAll orders by
// transaction and reads below the oldest running one. Transaction A takes a position, B takes a
// higher one and commits first. A "position > last" reader sees B, moves its checkpoint past A's
// position, and never sees A once A commits. ReadAll holds B back until A has finished.
func TestNaiveReaderSkipsWhatReadAllKeeps(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	ctx := context.Background()
	pool := es.Pool()

	txA, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer txA.Rollback(ctx)
	a, err := es.AppendTx(ctx, txA, one(streamID("a"), eventstore.Any(), events(1)...))
	require.NoError(t, err)
	b, err := es.Append(ctx, one(streamID("b"), eventstore.Any(), events(1)...))
	require.NoError(t, err)
	require.Less(t, a.LastPosition, b.LastPosition)

	naive := func(after int64) (out []int64) {
		rows, err := pool.Query(ctx, `SELECT position FROM events WHERE position > $1 ORDER BY position`, after)
		require.NoError(t, err)
		ps, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(t, err)
		return ps
	}
	seen := naive(0)
	require.Equal(t, []int64{b.LastPosition}, seen, "the naive reader sees B while A is open")
	got, err := es.ReadAll(ctx, eventstore.GlobalPosition{}, 100)
	require.NoError(t, err)
	require.Empty(t, got, "ReadAll waits for A to finish")

	require.NoError(t, txA.Commit(ctx))
	require.Empty(t, naive(seen[len(seen)-1]), "the naive reader has skipped A for good")
	got = readAllEventually(t, es, 2)
	require.Equal(t, a.LastPosition, got[0].Position)
	require.Equal(t, b.LastPosition, got[1].Position)
}

// TestReadAllNeverSkipsLateCommits runs writers whose transactions stay open for random times and
// commit out of order (some roll back) while a follower reads the global log from its checkpoint.
// The follower must see every committed event exactly once and no rolled-back one. A follower that
// reads "position > last" instead fails it: TestNaiveReaderSkipsWhatReadAllKeeps shows the
// interleaving, and the naive follower run alongside below counts how many events it lost.
func TestReadAllNeverSkipsLateCommits(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	ctx := context.Background()
	pool := es.Pool()
	const writers, txPerWriter = 20, 25

	var (
		mu        sync.Mutex
		committed = map[uuid.UUID]bool{}
		rolled    = map[uuid.UUID]bool{}
	)
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range txPerWriter {
				evs := events(1 + rng.IntN(3))
				rollback := rng.IntN(5) == 0
				hold := time.Duration(rng.IntN(15)) * time.Millisecond
				err := database.WithTx(ctx, pool, func(tx pgx.Tx) error {
					if _, err := es.AppendTx(ctx, tx, one(streamID("gap"), eventstore.Any(), evs...)); err != nil {
						return err
					}
					time.Sleep(hold) // keep the transaction open so that later ones commit first
					if rollback {
						return errRollback
					}
					return nil
				})
				mu.Lock()
				for _, e := range evs {
					if err == nil {
						committed[e.ID] = true
					} else {
						rolled[e.ID] = true
					}
				}
				mu.Unlock()
				if err != nil && err != errRollback {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}

	done := make(chan struct{})
	go func() { writersWG.Wait(); close(done) }()

	seen := map[uuid.UUID]int{}
	var last eventstore.GlobalPosition
	var naiveLast int64
	naiveSeen := map[uuid.UUID]bool{}
	follow := func() int {
		got, err := es.ReadAll(ctx, last, 50)
		require.NoError(t, err)
		for _, e := range got {
			require.True(t, last.Less(e.GlobalPosition()), "strictly increasing global order")
			last = e.GlobalPosition()
			seen[e.ID]++
		}
		// The naive follower, for comparison only.
		rows, err := pool.Query(ctx, `SELECT position, event_id FROM events WHERE position > $1 ORDER BY position LIMIT 50`, naiveLast)
		require.NoError(t, err)
		for rows.Next() {
			var id uuid.UUID
			require.NoError(t, rows.Scan(&naiveLast, &id))
			naiveSeen[id] = true
		}
		require.NoError(t, rows.Err())
		return len(got)
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			follow()
		}
	}
	// Drain. Transactions elsewhere on the server (other test packages) can hold the horizon back
	// for a while, so wait until the follower has caught up with every commit, then read once more.
	mu.Lock()
	defer mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < len(committed) && time.Now().Before(deadline) {
		if follow() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	follow()

	require.NotEmpty(t, rolled, "the test must include rollbacks")
	for id, n := range seen {
		require.Equal(t, 1, n, "event %s seen %d times", id, n)
		require.False(t, rolled[id], "rolled-back event %s was read", id)
	}
	for id := range committed {
		_, ok := seen[id]
		require.True(t, ok, "committed event %s skipped", id)
	}
	require.Len(t, seen, len(committed))
	missed := 0
	for id := range committed {
		if !naiveSeen[id] {
			missed++
		}
	}
	t.Logf("%d committed, %d rolled back; ReadAll missed 0, a naive position > last follower missed %d",
		len(committed), len(rolled), missed)
}

var errRollback = errRollbackT{}

type errRollbackT struct{}

func (errRollbackT) Error() string { return "rollback on purpose" }
