package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/projections"
)

// workerEnv makes the test binary a projection worker on the database it names (crash test).
const workerEnv = "TASKFORGE_PROJECTION_WORKER_URL"

// runWorker runs every projection until killed.
func runWorker() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := database.Open(ctx, os.Getenv(workerEnv), database.PoolOptions{MaxConns: 8})
	if err != nil {
		return 3
	}
	defer pool.Close()
	notifier := eventstore.NewNotifier(pool, nil)
	go func() { _ = notifier.Run(ctx) }()
	store, err := eventstore.New(pool, eventstore.Options{})
	if err != nil {
		return 3
	}
	r, err := projections.NewRunner(store, projections.RunnerOptions{Notifier: notifier})
	if err != nil {
		return 3
	}
	if err := r.Run(ctx); err != nil {
		return 1
	}
	return 0
}

// TestCrashRecovery: a worker process is SIGKILLed at random moments while commands keep
// appending; once a last worker has caught up, every read table equals a from-scratch rebuild.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, projections.Ensure(f.ctx, f.pool, projections.All()))
	w := f.world(5)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))

	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	var ops atomic.Int64
	go func() {
		wrng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
		for {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			if err := randomOp(f.ctx, f.h, &w, wrng); err != nil {
				writerDone <- err
				return
			}
			ops.Add(1)
		}
	}()
	exe, err := os.Executable()
	require.NoError(t, err)
	worker := func() *exec.Cmd {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), workerEnv+"="+f.url)
		require.NoError(t, cmd.Start())
		return cmd
	}
	const kills = 12
	for range kills {
		cmd := worker()
		// A random moment to kill at (the point of the test, not synchronisation).
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
	}
	// A loaded machine appends slowly: make sure the log is long enough to mean something.
	f.waitFor(60*time.Second, func() bool { return ops.Load() >= 150 }, "150 commands appended")
	close(stop)
	require.NoError(t, <-writerDone)

	cmd := worker()
	f.caughtUp()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()
	sts, err := projections.Statuses(f.ctx, f.pool)
	require.NoError(t, err)
	for _, s := range sts {
		require.Equal(t, projections.StateRunning, s.State, s.Name)
		require.Greater(t, s.EventsHandled, int64(100), s.Name)
	}

	f.sameAsRebuild(projections.RebuildOptions{BatchEvents: 100}, fmt.Sprintf("after %d kills", kills))
}

// checksum is the md5 of a table's rows in a stable order, and its row count.
func (f *fixture) checksum(table string) string {
	f.t.Helper()
	var sum string
	var n int64
	require.NoError(f.t, f.pool.QueryRow(f.ctx, `SELECT md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')), count(*) FROM `+
		table+` t`).Scan(&sum, &n))
	return fmt.Sprintf("%s (%d rows)", sum, n)
}
