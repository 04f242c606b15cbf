package database_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// Directly, every connection has a session of its own: statements stay cached.
func TestProbeSeesNoPoolerDirectly(t *testing.T) {
	t.Parallel()
	mode, p, err := database.ChooseExecMode(context.Background(), pgtest.URL(), database.ExecModeAuto)
	require.NoError(t, err)
	require.False(t, p.Transaction, p.Reason)
	require.Contains(t, p.Reason, "own address", "one connection tells a direct server")
	require.Equal(t, database.ExecModeCacheStatement, mode)

	ps, err := database.OpenPools(context.Background(), database.PoolsOptions{URL: pgtest.URL(), ExecMode: database.ExecModeAuto})
	require.NoError(t, err)
	defer ps.Close()
	require.Same(t, ps.Pool, ps.Direct, "one URL, one pool")
	require.Equal(t, "cache_statement", ps.ExecMode)

	// A setting other than auto is taken as it is, without a probe.
	mode, _, err = database.ChooseExecMode(context.Background(), pgtest.URL(), database.ExecModeCacheDescribe)
	require.NoError(t, err)
	require.Equal(t, database.ExecModeCacheDescribe, mode)
}

// Through PgBouncer in transaction mode the probe sees the pooler, and its verdict on prepared
// statements matches the version PgBouncer's admin console reports (1.21 carries them when
// max_prepared_statements is on, which scripts/pgbouncer.sh sets there).
func TestProbeSeesPgBouncer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.PgBouncerURL(t, pgtest.URL())
	mode, p, err := database.ChooseExecMode(ctx, url, database.ExecModeAuto)
	require.NoError(t, err)
	require.True(t, p.Transaction, p.Reason)
	t.Logf("%s: %s", mode, p.Reason)

	admin, err := database.WithDatabaseName(url, "pgbouncer")
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, admin+" default_query_exec_mode=simple_protocol")
	require.NoError(t, err)
	defer conn.Close(ctx)
	var version string
	require.NoError(t, conn.QueryRow(ctx, `SHOW VERSION`).Scan(&version)) // "PgBouncer 1.18.0"
	var major, minor int
	_, err = fmt.Sscanf(strings.TrimPrefix(version, "PgBouncer "), "%d.%d", &major, &minor)
	require.NoError(t, err, version)
	carries := major > 1 || minor >= 21
	require.Equal(t, carries, p.PreparedStatements, "%s: %s", version, p.Reason)
	if carries {
		require.Equal(t, database.ExecModeCacheStatement, mode)
	} else {
		require.Equal(t, database.ExecModeCacheDescribe, mode)
	}

	// The chosen mode works under concurrency, jsonb from []byte included (the exec and
	// simple_protocol modes would send bytea).
	pool, err := database.Open(ctx, url, database.PoolOptions{MaxConns: 8, ExecMode: mode})
	require.NoError(t, err)
	defer pool.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				doc, _ := json.Marshal(map[string]int{"g": g, "i": i})
				var n int
				if err := pool.QueryRow(ctx, `SELECT ($1::jsonb ->> 'i')::int + $2`, doc, g).Scan(&n); err != nil {
					t.Error(err)
					return
				}
				if n != i+g {
					t.Errorf("got %d, want %d", n, i+g)
					return
				}
			}
		})
	}
	wg.Wait()

	// Probes while other clients keep taking server sessions (the processes of a cluster starting
	// together): each still sees the pooler as it is. Between a probe's statements, another
	// client may get the session the probe was on: a probe that took the session of its pid query
	// for its prepared statement's once took PgBouncer 1.18 for one carrying statements. Two
	// probes at a time, each holding at most 3 sessions, leave sessions to the busy clients.
	done := make(chan struct{})
	var busy sync.WaitGroup
	for range 4 {
		busy.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := pool.Exec(ctx, `SELECT 1`); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var probes sync.WaitGroup
	for range 2 {
		probes.Go(func() {
			for range 60 {
				p, err := database.ProbePooling(ctx, url)
				if err != nil {
					t.Error(err)
					return
				}
				if !p.Transaction || p.PreparedStatements != carries {
					t.Errorf("%s: a probe among busy clients saw %+v", version, p)
				}
			}
		})
	}
	probes.Wait()
	close(done)
	busy.Wait()
}

// A transaction pooler where a session is needed is refused, with the setting to change named.
func TestOpenPoolsRefusesAPoolerForSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pooled := pgtest.PgBouncerURL(t, pgtest.URL())
	_, err := database.OpenPools(ctx, database.PoolsOptions{URL: pooled, ExecMode: database.ExecModeAuto})
	require.ErrorIs(t, err, database.ErrPoolerNeedsDirectURL)
	_, err = database.OpenPools(ctx, database.PoolsOptions{URL: pgtest.URL(), DirectURL: pooled, ExecMode: database.ExecModeAuto})
	require.ErrorIs(t, err, database.ErrDirectURLPooled)

	ps, err := database.OpenPools(ctx, database.PoolsOptions{URL: pooled, DirectURL: pgtest.URL(), ExecMode: database.ExecModeAuto})
	require.NoError(t, err)
	defer ps.Close()
	require.NotSame(t, ps.Pool, ps.Direct)
	require.True(t, ps.Pooling.Transaction)
	// Migrations run on the direct pool: goose's session lock holds there.
	_, err = database.Migrate(ctx, ps.Direct, nil)
	require.NoError(t, err)
}

// DATABASE_EXEC_MODE accepts exactly the modes this package knows.
func TestConfigTakesEveryExecMode(t *testing.T) {
	for _, m := range database.ExecModes {
		t.Setenv("DATABASE_EXEC_MODE", m)
		c, err := config.FromEnv()
		require.NoError(t, err)
		require.Equal(t, m, c.DatabaseExecMode)
	}
	for _, m := range []string{"exec", "simple_protocol"} {
		_, err := database.ParseExecMode(m)
		require.Error(t, err)
		t.Setenv("DATABASE_EXEC_MODE", m)
		_, err = config.FromEnv()
		require.ErrorContains(t, err, "DATABASE_EXEC_MODE")
	}
}
