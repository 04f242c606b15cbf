package projections_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/projections"
)

var errInterrupt = errors.New("interrupted by the test")

// TestRebuildWhileServing: queries keep answering from version 1 while version 2 is built (and
// the build is interrupted and resumed, with commands appending all along); after the swap the
// runner follows version 2, which equals a from-scratch version 3.
func TestRebuildWhileServing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(10)
	rng := rand.New(rand.NewPCG(7, 7))
	for range 100 {
		require.NoError(t, randomOp(f.ctx, f.h, &w, rng))
	}
	f.caughtUp()

	// Readers all along: the board must never fail nor come back empty.
	var reads, failures atomic.Int64
	stopReaders := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stopReaders:
					return
				default:
				}
				board, err := f.q.Board(f.ctx, w.ws, w.project, 0)
				if err != nil || len(board) == 0 {
					failures.Add(1)
				}
				reads.Add(1)
			}
		})
	}
	// A writer all along.
	stopWriter := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		wrng := rand.New(rand.NewPCG(8, 8))
		for {
			select {
			case <-stopWriter:
				writerDone <- nil
				return
			default:
			}
			if err := randomOp(f.ctx, f.h, &w, wrng); err != nil {
				writerDone <- err
				return
			}
		}
	}()

	// Interrupted after a few batches: version 1 still serves, version 2 is being built.
	opts := projections.RebuildOptions{BatchEvents: 20, BulkEvents: 20}
	projections.SetAfterBatch(&opts, func(string, int64) error { return errInterrupt })
	_, err := projections.Rebuild(f.ctx, f.store, projections.All(), opts)
	require.ErrorIs(t, err, errInterrupt)
	sts, err := projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	for _, s := range sts {
		require.Equal(t, 1, s.ActiveVersion, s.Name)
		require.NotNil(t, s.BuildingVersion, s.Name)
		require.Equal(t, 2, *s.BuildingVersion, s.Name)
	}

	res, err := projections.Rebuild(f.ctx, f.store, projections.All(), projections.RebuildOptions{BatchEvents: 20, KeepOld: true})
	require.NoError(t, err)
	for _, r := range res {
		require.True(t, r.Resumed, r.Name)
		require.Equal(t, 2, r.Version, r.Name)
	}
	close(stopWriter)
	require.NoError(t, <-writerDone)
	f.caughtUp() // the runner followed the swap to version 2
	close(stopReaders)
	readers.Wait()
	require.Zero(t, failures.Load(), "of %d reads", reads.Load())
	t.Logf("%d reads during the rebuild, none failed", reads.Load())

	sts, err = projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	for _, s := range sts {
		require.Equal(t, 2, s.ActiveVersion, s.Name)
		require.Nil(t, s.BuildingVersion, s.Name)
	}
	// Version 2 (rebuilt, then fed live) equals a from-scratch version 3. Its progress: a total
	// counted beside the load ("?" until then) that never falls below what is applied, and at the
	// end every event of the log, applied.
	var (
		progressMu sync.Mutex
		reports    []projections.Progress
	)
	res, err = projections.Rebuild(f.ctx, f.store, projections.All(), projections.RebuildOptions{KeepOld: true,
		Progress: func(p projections.Progress) {
			progressMu.Lock()
			defer progressMu.Unlock()
			reports = append(reports, p)
		}})
	require.NoError(t, err)
	var events int64
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM events`).Scan(&events))
	require.NotEmpty(t, reports)
	for _, p := range reports {
		if p.Total == 0 {
			require.Equal(t, "?", p.TotalText(), "not counted yet: %+v", p)
			continue
		}
		require.GreaterOrEqual(t, p.Total, p.Done, "%+v", p)
		require.Equal(t, events, p.Total, "%+v", p)
	}
	last := reports[len(reports)-1]
	require.Equal(t, "done", last.Phase)
	require.Equal(t, events, last.Done)
	require.Equal(t, events, last.Total)
	require.Equal(t, fmt.Sprint(events), last.TotalText())
	for _, r := range res {
		p, err := projections.ByName(r.Name)
		require.NoError(t, err)
		for _, table := range p[0].Tables {
			require.Equal(t, f.checksum(fmt.Sprintf("%s_v2", table)), f.checksum(fmt.Sprintf("%s_v3", table)), table)
		}
	}
	// Without KeepOld the old tables go.
	_, err = projections.Rebuild(f.ctx, f.store, projections.All()[:1], projections.RebuildOptions{})
	require.NoError(t, err)
	var exists bool
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT to_regclass('rm_workspaces_v3') IS NOT NULL`).Scan(&exists))
	require.False(t, exists)
}
