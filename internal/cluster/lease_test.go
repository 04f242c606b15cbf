package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// Fast settings: a check every 20 ms, leases of half a second.
const (
	testInterval = 20 * time.Millisecond
	testTTL      = 500 * time.Millisecond
	testBeat     = 100 * time.Millisecond
)

var errFenced = errors.New("fenced")

// worker is one in-process cluster member: its own pools, registration and leaser. dead makes its
// pool refuse new connections, so that a killed lease session stays gone.
type worker struct {
	id     uuid.UUID
	leaser *cluster.Leaser
	cancel context.CancelFunc
	done   chan struct{}
	dead   atomic.Bool
}

type harness struct {
	t     *testing.T
	url   string
	admin *pgxpool.Pool
	names []string
	// run is every consumer's body; nil: a consumer that commits in a loop (commitLoop).
	run func(w *worker, name string) func(context.Context, int64) error
}

func newHarness(t *testing.T, consumers int) *harness {
	url := pgtest.NewDatabase(t)
	h := &harness{t: t, url: url, admin: pgtest.Open(t, url)}
	for i := range consumers {
		h.names = append(h.names, fmt.Sprintf("c%d", i))
	}
	_, err := h.admin.Exec(context.Background(), `CREATE TABLE lease_log (seq bigserial PRIMARY KEY, name text NOT NULL,
		token bigint NOT NULL, node uuid NOT NULL)`)
	require.NoError(t, err)
	return h
}

// commitLoop commits one row per few milliseconds, each fenced by the lease's token the way the
// consumers' commits are: the lease row locked FOR SHARE and its token checked in the same
// transaction.
func (h *harness) commitLoop(pool *pgxpool.Pool, w *worker, name string) func(context.Context, int64) error {
	return func(ctx context.Context, token int64) error {
		for ctx.Err() == nil {
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				// As the consumers do: a frozen process cannot hold its locks for ever.
				if _, err := tx.Exec(ctx, `SET LOCAL idle_in_transaction_session_timeout = '1s'`); err != nil {
					return err
				}
				var one int
				if err := tx.QueryRow(ctx, `SELECT 1 FROM consumer_leases WHERE name = $1 AND token = $2 FOR KEY SHARE`,
					name, token).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
					return errFenced
				} else if err != nil {
					return err
				}
				// A pause between the check and the commit, as a slow handler's.
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				_, err := tx.Exec(ctx, `INSERT INTO lease_log (name, token, node) VALUES ($1, $2, $3)`, name, token, w.id)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func (h *harness) start(pins ...string) *worker { return h.startAs("", pins...) }

// startAs starts a worker that connects as role (empty: the test's own).
func (h *harness) startAs(role string, pins ...string) *worker {
	t := h.t
	cfg, err := pgxpool.ParseConfig(h.url)
	require.NoError(t, err)
	if role != "" {
		cfg.ConnConfig.User = role
	}
	w := &worker{id: uuid.New(), done: make(chan struct{})}
	cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
		if w.dead.Load() {
			return errors.New("worker is dead")
		}
		return nil
	}
	// A connection dialled before the death and opened after kill's last look would bring the
	// dead worker back (seen on a loaded machine): refused once open, before the worker gets it.
	cfg.AfterConnect = func(context.Context, *pgx.Conn) error {
		if w.dead.Load() {
			return errors.New("worker is dead")
		}
		return nil
	}
	cfg.MaxConns = int32(len(h.names) + 4)
	cfg.ConnConfig.RuntimeParams["application_name"] = "lease-test-" + w.id.String()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	var consumers []cluster.Consumer
	for _, n := range h.names {
		run := h.commitLoop(pool, w, n)
		if h.run != nil {
			run = h.run(w, n)
		}
		consumers = append(consumers, cluster.Consumer{Name: n, Run: run})
	}
	w.leaser, err = cluster.NewLeaser(cluster.LeaserOptions{Node: w.id, Pool: pool, TTL: testTTL, Interval: testInterval,
		Pinned: pins}, consumers)
	require.NoError(t, err)
	reg := cluster.New(pool, w.id, "workers", testBeat, nil)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = reg.Run(ctx) }()
	go func() { defer wg.Done(); _ = w.leaser.Run(ctx) }()
	go func() { wg.Wait(); pool.Close(); close(w.done) }()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// stop is a clean stop: leases released.
func (w *worker) stop() { w.cancel(); <-w.done }

// kill ends every connection of the worker from the server side and keeps it from connecting
// again: what the others see of a process killed with SIGKILL, or of pg_terminate_backend on its
// connections.
func (h *harness) kill(w *worker) {
	w.dead.Store(true)
	// Again until none is left: a connection being opened when dead was set arrives later.
	for quiet := 0; quiet < 3; {
		var n int
		err := h.admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1`, "lease-test-"+w.id.String()).Scan(&n)
		require.NoError(h.t, err)
		if quiet++; n > 0 {
			quiet = 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// owners is who owns each consumer now, by the rows (live owners only).
func (h *harness) owners() map[string]uuid.UUID {
	rows, err := h.admin.Query(context.Background(), `SELECT l.name, l.node_id FROM consumer_leases l
		WHERE l.node_id IS NOT NULL AND l.expires_at >= now()
		  AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.session_pid AND a.backend_start = l.session_start)`)
	require.NoError(h.t, err)
	out := map[string]uuid.UUID{}
	for rows.Next() {
		var n string
		var id uuid.UUID
		require.NoError(h.t, rows.Scan(&n, &id))
		out[n] = id
	}
	require.NoError(h.t, rows.Err())
	return out
}

// waitSpread waits until the live workers own every consumer, each running exactly what the rows
// say it owns, and each holding its share: want[i] consumers for workers[i] (-1: any count).
func (h *harness) waitSpread(workers []*worker, check func(held map[uuid.UUID][]string) bool) map[uuid.UUID][]string {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		owners := h.owners()
		held := map[uuid.UUID][]string{}
		consistent := len(owners) == len(h.names)
		for _, w := range workers {
			held[w.id] = w.leaser.Held()
			for _, n := range held[w.id] {
				consistent = consistent && owners[n] == w.id
			}
		}
		total := 0
		for _, hs := range held {
			total += len(hs)
		}
		if consistent && total == len(h.names) && check(held) {
			return held
		}
		require.True(h.t, time.Now().Before(deadline), "not spread: rows %v, held %v", owners, held)
		time.Sleep(testInterval)
	}
}

func counts(held map[uuid.UUID][]string) []int {
	var out []int
	for _, hs := range held {
		out = append(out, len(hs))
	}
	slices.Sort(out)
	return out
}

// Workers join, leave cleanly, and die; the consumers follow: all of them owned, each worker
// holding its share (ceil(consumers / workers), so never more than share + 1), and a pinned worker
// runs exactly its pins.
func TestLeasesRebalanceOnJoinLeaveAndDeath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	a := h.start()
	h.waitSpread([]*worker{a}, func(m map[uuid.UUID][]string) bool { return len(m[a.id]) == 8 })

	b := h.start()
	h.waitSpread([]*worker{a, b}, func(m map[uuid.UUID][]string) bool { return slices.Equal(counts(m), []int{4, 4}) })

	c := h.start()
	h.waitSpread([]*worker{a, b, c}, func(m map[uuid.UUID][]string) bool { return slices.Equal(counts(m), []int{2, 3, 3}) })

	b.stop() // a clean stop releases at once
	h.waitSpread([]*worker{a, c}, func(m map[uuid.UUID][]string) bool { return slices.Equal(counts(m), []int{4, 4}) })

	killed := time.Now()
	h.kill(c) // a death: its session vanishes, its leases are taken without waiting for their expiry
	h.waitSpread([]*worker{a}, func(m map[uuid.UUID][]string) bool { return len(m[a.id]) == 8 })
	t.Logf("all 8 consumers owned again %s after the death", time.Since(killed).Round(time.Millisecond))

	// A worker pinned to c5 takes it, and only it.
	d := h.start("c5")
	held := h.waitSpread([]*worker{a, d}, func(m map[uuid.UUID][]string) bool { return slices.Equal(m[d.id], []string{"c5"}) })
	require.Len(t, held[a.id], 7)

	// The registry lists what each node owns (taskforge nodes, clusterNodes).
	nodes, err := cluster.Live(context.Background(), h.admin, testBeat)
	require.NoError(t, err)
	listed := map[uuid.UUID][]string{}
	for _, n := range nodes {
		for _, c := range n.Consumers {
			require.Positive(t, c.Token)
			require.False(t, c.AcquiredAt.IsZero())
			listed[n.ID] = append(listed[n.ID], c.Name)
		}
	}
	require.Equal(t, map[uuid.UUID][]string{a.id: held[a.id], d.id: {"c5"}}, listed)
}

// Workers that connect as different roles, none of them allowed to read the other's sessions in
// pg_stat_activity (their backend_start is NULL there), still see each other alive: they share
// the consumers, and each takes over when the other dies. Before, each took the other's leases
// for ownerless: the unprivileged worker ran every consumer and the other none.
func TestLeasesAcrossRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 4)
	ctx := context.Background()
	role := "tf_test_worker_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := h.admin.Exec(ctx, `CREATE ROLE `+role+` LOGIN NOSUPERUSER`); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			t.Skipf("the test's role may not create roles: %v", err)
		}
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		_, _ = h.admin.Exec(context.Background(), `DROP OWNED BY `+role)
		_, _ = h.admin.Exec(context.Background(), `DROP ROLE `+role)
	})
	_, err := h.admin.Exec(ctx, `GRANT USAGE ON SCHEMA public TO `+role+`;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO `+role+`;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO `+role)
	require.NoError(t, err)
	var hidden bool
	require.NoError(t, h.admin.QueryRow(ctx, `SELECT NOT pg_has_role($1, 'pg_read_all_stats', 'USAGE')`, role).Scan(&hidden))
	require.True(t, hidden, "the role must not read other roles' sessions")

	a := h.start()
	b := h.startAs(role)
	even := func(m map[uuid.UUID][]string) bool { return slices.Equal(counts(m), []int{2, 2}) }
	h.waitSpread([]*worker{a, b}, even)
	// And it stays so (a renewal late on a loaded machine may move a lease, which comes back).
	time.Sleep(20 * testInterval)
	h.waitSpread([]*worker{a, b}, even)

	h.kill(a) // the unprivileged worker sees a's session gone and takes its leases
	h.waitSpread([]*worker{b}, func(m map[uuid.UUID][]string) bool { return len(m[b.id]) == 4 })
	c := h.start()
	h.waitSpread([]*worker{b, c}, even)
	h.kill(b) // and the other way round
	h.waitSpread([]*worker{c}, func(m map[uuid.UUID][]string) bool { return len(m[c.id]) == 4 })
}

// Under churn — joins, clean stops, sessions terminated — no consumer ever commits under a token
// older than one that already committed: once a lease moved on, its former owner's commits are
// refused by the token check, whatever it was doing. Tokens are never shared by two nodes.
func TestLeasesExclusiveUnderContention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 6)
	live := []*worker{h.start(), h.start(), h.start()}
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(4 * time.Second)
	actions := map[string]int{}
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		switch i := rng.IntN(len(live)); {
		case len(live) < 2 || (len(live) < 4 && rng.IntN(3) == 0):
			live = append(live, h.start())
			actions["join"]++
		case rng.IntN(2) == 0:
			live[i].stop()
			live = slices.Delete(live, i, i+1)
			actions["stop"]++
		default:
			h.kill(live[i])
			live = slices.Delete(live, i, i+1)
			actions["kill"]++
		}
	}
	// Settles: every consumer owned by the live workers, none above its share.
	share := (len(h.names) + len(live) - 1) / len(live)
	h.waitSpread(live, func(m map[uuid.UUID][]string) bool { return slices.Max(counts(m)) <= share })
	for _, w := range live {
		w.stop()
	}

	commits, handovers := h.checkLog()
	t.Logf("%d commits, %d handovers, actions %v", commits, handovers, actions)
	require.Greater(t, handovers, len(h.names), "the churn moved leases")
}

// A paused owner — its consumer in the middle of a transaction, its lease session gone — is
// replaced, and its late commit is refused by the token check.
func TestLeaseFencesAPausedOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	ctx := context.Background()
	paused := make(chan struct{})
	resume := make(chan struct{})
	late := make(chan error, 1)
	var first atomic.Bool
	h.run = func(w *worker, name string) func(context.Context, int64) error {
		return func(ctx context.Context, token int64) error {
			if !first.CompareAndSwap(false, true) {
				<-ctx.Done() // the new owner: nothing to do
				return nil
			}
			// The first owner reads its token, then pauses before its commit.
			close(paused)
			<-resume
			conn, err := pgx.Connect(context.WithoutCancel(ctx), h.url)
			if err != nil {
				late <- err
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			err = pgx.BeginFunc(context.WithoutCancel(ctx), conn, func(tx pgx.Tx) error {
				var one int
				err := tx.QueryRow(context.WithoutCancel(ctx), `SELECT 1 FROM consumer_leases WHERE name = $1 AND token = $2 FOR KEY SHARE`,
					name, token).Scan(&one)
				if errors.Is(err, pgx.ErrNoRows) {
					return errFenced
				}
				return err
			})
			late <- err
			return err
		}
	}
	a := h.start()
	<-paused
	tokenA := tokenOf(t, h.admin, "c0")
	h.kill(a) // its session ends while its consumer is paused
	b := h.start()
	h.waitSpread([]*worker{b}, func(m map[uuid.UUID][]string) bool { return len(m[b.id]) == 1 })
	require.Greater(t, tokenOf(t, h.admin, "c0"), tokenA)
	close(resume)
	require.ErrorIs(t, <-late, errFenced, "the paused owner's late commit must be refused")

	// The same through the projections' checkpoint function: the stale token is refused with no change.
	var refusal *string
	require.NoError(t, h.admin.QueryRow(ctx, `SELECT refusal FROM taskforge_projection_try_advance('c0', 1, 0, 0, 1, 1, now(), $1)`,
		tokenA).Scan(&refusal))
	require.NotNil(t, refusal)
	require.Equal(t, "fenced", *refusal)
}

func tokenOf(t *testing.T, pool *pgxpool.Pool, name string) int64 {
	var token int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT token FROM consumer_leases WHERE name = $1`, name).Scan(&token))
	return token
}

// checkLog checks lease_log: per consumer, tokens never go back in commit order (a former owner
// never commits after the next one did), and a token belongs to one node.
func (h *harness) checkLog() (commits, handovers int) {
	h.t.Helper()
	ctx := context.Background()
	rows, err := h.admin.Query(ctx, `SELECT name, token, node FROM lease_log ORDER BY seq`)
	require.NoError(h.t, err)
	last := map[string]int64{}
	nodeOf := map[string]uuid.UUID{}

	for rows.Next() {
		var n string
		var token int64
		var node uuid.UUID
		require.NoError(h.t, rows.Scan(&n, &token, &node))
		commits++
		require.GreaterOrEqual(h.t, token, last[n], "%s committed under token %d after token %d had", n, token, last[n])
		if token > last[n] {
			handovers++
		}
		last[n] = token
		key := fmt.Sprintf("%s/%d", n, token)
		if prev, ok := nodeOf[key]; ok {
			require.Equal(h.t, prev, node, "token %s held by two nodes", key)
		}
		nodeOf[key] = node
	}
	require.NoError(h.t, rows.Err())
	return commits, handovers
}
