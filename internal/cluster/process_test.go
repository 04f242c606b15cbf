package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"

	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/cluster"
)

// childEnv makes the test binary a worker process: it leases the consumers c0..c5 of the database
// at that URL, each committing in a loop like commitLoop, until SIGTERM.
const childEnv = "TASKFORGE_LEASE_TEST_CHILD_URL"

func runChild(url string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	h := &harness{url: url}
	w := &worker{id: uuid.New()}
	var consumers []cluster.Consumer
	for i := range 6 {
		name := fmt.Sprintf("c%d", i)
		consumers = append(consumers, cluster.Consumer{Name: name, Run: h.commitLoop(pool, w, name)})
	}
	l, err := cluster.NewLeaser(cluster.LeaserOptions{Node: w.id, Pool: pool, TTL: time.Second, Interval: 50 * time.Millisecond}, consumers)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reg := cluster.New(pool, w.id, "workers", 200*time.Millisecond, nil)
	go func() { _ = reg.Run(ctx) }()
	_ = l.Run(ctx)
	return 0
}

// Real processes: three workers share six consumers; one is killed with SIGKILL (its session
// closes with it: the others take its consumers within a check or two), another is frozen with
// SIGSTOP (its connections stay open: its leases are taken once they expire, after the TTL of 1s)
// and thawed, and its commits in flight are then refused by the token. Through all of it, no
// consumer commits under a token older than one that committed.
func TestLeasesAcrossProcesses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 6)
	children := map[int]*exec.Cmd{}
	spawn := func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+h.url)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		children[cmd.Process.Pid] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	for range 3 {
		spawn()
	}
	ctx := context.Background()
	// ownersByPid: consumer → OS pid of its live owner.
	ownersByPid := func() map[string]int {
		rows, err := h.admin.Query(ctx, `SELECT l.name, n.pid FROM consumer_leases l JOIN cluster_nodes n ON n.id = l.node_id
			WHERE l.expires_at >= now()
			  AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.session_pid AND a.backend_start = l.session_start)`)
		require.NoError(t, err)
		out := map[string]int{}
		for rows.Next() {
			var n string
			var pid int
			require.NoError(t, rows.Scan(&n, &pid))
			out[n] = pid
		}
		require.NoError(t, rows.Err())
		return out
	}
	// waitOwned waits until every consumer has a live owner among pids, and returns the time.
	waitOwned := func(pids ...int) time.Time {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			o := ownersByPid()
			ok := len(o) == len(h.names)
			per := map[int]int{}
			for _, pid := range o {
				per[pid]++
			}
			for pid := range per {
				ok = ok && slicesContains(pids, pid)
			}
			if ok && len(per) == len(pids) {
				return time.Now()
			}
			require.True(t, time.Now().Before(deadline), "owners %v, want them spread over %v", o, pids)
			time.Sleep(10 * time.Millisecond)
		}
	}
	pids := func(except ...int) []int {
		var out []int
		for pid := range children {
			if !slicesContains(except, pid) {
				out = append(out, pid)
			}
		}
		return out
	}
	waitOwned(pids()...)

	// SIGKILL the owner of c0.
	victim := ownersByPid()["c0"]
	killed := time.Now()
	require.NoError(t, children[victim].Process.Signal(syscall.SIGKILL))
	_ = children[victim].Wait()
	delete(children, victim)
	t.Logf("SIGKILL: every consumer owned again after %s", waitOwned(pids()...).Sub(killed).Round(time.Millisecond))

	// SIGSTOP the owner of c1: its connections stay open, so its leases go when they expire.
	spawn()
	waitOwned(pids()...)
	frozen := ownersByPid()["c1"]
	stopped := time.Now()
	require.NoError(t, children[frozen].Process.Signal(syscall.SIGSTOP))
	t.Logf("SIGSTOP: every consumer owned by the others after %s (TTL 1s)",
		waitOwned(pids(frozen)...).Sub(stopped).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // the new owners commit
	require.NoError(t, children[frozen].Process.Signal(syscall.SIGCONT))
	// Thawed, it finds its leases gone and rejoins; the consumers spread over all three again.
	waitOwned(pids()...)
	time.Sleep(300 * time.Millisecond)
	for _, cmd := range children {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for pid, cmd := range children {
		require.NoError(t, cmd.Wait(), "worker %d", pid)
	}
	h.checkLog()
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
