package cluster_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "cluster")) }

// Nodes register, stay listed while they beat, leave the list when they stop, and a node that
// died without saying so (no heartbeat) is dropped from the list and then from the table.
func TestNodesRegisterBeatAndLeave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Open(t, pgtest.NewDatabase(t))
	const beat = 50 * time.Millisecond
	api := cluster.New(pool, uuid.Nil, "api", beat, nil)
	workers := cluster.New(pool, uuid.Nil, "workers", beat, nil)
	actx, stopAPI := context.WithCancel(ctx)
	wctx, stopWorkers := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- api.Run(actx) }()
	go func() { done <- workers.Run(wctx) }()
	t.Cleanup(func() { stopAPI(); stopWorkers() })

	roles := func() map[string]string {
		nodes, err := cluster.Live(ctx, pool, beat)
		require.NoError(t, err)
		out := map[string]string{}
		for _, n := range nodes {
			require.Equal(t, os.Getpid(), n.PID)
			require.NotEmpty(t, n.Host)
			require.NotEmpty(t, n.Version)
			require.False(t, n.HeartbeatAt.Before(n.StartedAt))
			out[n.ID.String()] = n.Role
		}
		return out
	}
	waitFor := func(want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := roles()
			if len(got) == len(want) {
				same := true
				for k, v := range want {
					same = same && got[k] == v
				}
				if same {
					return
				}
			}
			require.True(t, time.Now().Before(deadline), "nodes %v, want %v", got, want)
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(map[string]string{api.ID().String(): "api", workers.ID().String(): "workers"})
	// Still listed after many heartbeat intervals.
	time.Sleep(10 * beat)
	waitFor(map[string]string{api.ID().String(): "api", workers.ID().String(): "workers"})

	// A clean stop deregisters at once.
	stopWorkers()
	require.NoError(t, <-done)
	waitFor(map[string]string{api.ID().String(): "api"})

	// A node that dies without a word: its row stays until its heartbeat is old, then it is not
	// listed, and the next heartbeat of a live node deletes it.
	_, err := pool.Exec(ctx, `INSERT INTO cluster_nodes (id, role, host, pid, version, heartbeat_at)
		VALUES (gen_random_uuid(), 'workers', 'gone', 1, 'x', now() - interval '1 hour')`)
	require.NoError(t, err)
	waitFor(map[string]string{api.ID().String(): "api"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM cluster_nodes WHERE host = 'gone'`).Scan(&n))
		if n == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the dead node's row was never removed")
		time.Sleep(10 * time.Millisecond)
	}
	stopAPI()
	require.NoError(t, <-done)
	waitFor(map[string]string{})
}
