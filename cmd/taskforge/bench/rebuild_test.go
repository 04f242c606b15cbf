package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/cmd/taskforge/bench"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestRebuildKeepsItsLog: with a log database, the first run generates the log and keeps it, a
// second process-like run rebuilds from the same log without generating, and --runs reports each
// run and their median; the projections end on the version the last rebuild built.
func TestRebuildKeepsItsLog(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("tf_test_rebuildlog_%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = database.DropDatabase(context.Background(), pgtest.URL(), name) })
	run := func(runs int) map[string][]map[string]any {
		t.Helper()
		var out, progress bytes.Buffer
		err := bench.Rebuild(ctx, bench.ProjectionOptions{DatabaseURL: pgtest.URL(), LogDatabase: name, Events: 2000, Writers: 2,
			Runs: runs, Phases: true, JSON: true, Out: &out, Progress: &progress})
		require.NoError(t, err, progress.String())
		require.Contains(t, progress.String(), "rebuild phases", "--phases logs each projection's phases")
		lines := map[string][]map[string]any{}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &r), l)
			lines[r["name"].(string)] = append(lines[r["name"].(string)], r)
		}
		return lines
	}

	first := run(1)
	require.Len(t, first["generate"], 1)
	events := first["generate"][0]["events"]
	require.Len(t, first["rebuild_all"], 1)
	require.NotContains(t, first["rebuild_all"][0], "run", "one run: no run number")
	require.NotContains(t, first, "rebuild_all_median")

	second := run(2)
	require.NotContains(t, second, "generate", "the kept log is rebuilt, not generated again")
	require.Len(t, second["rebuild_all"], 2)
	for i, r := range second["rebuild_all"] {
		require.EqualValues(t, i+1, r["run"])
		require.Equal(t, events, r["events"])
		require.Greater(t, r["process_cpu_s"], 0.0, "each run states its CPU time")
		if _, err := os.Stat("/proc/stat"); err == nil {
			require.Greater(t, r["machine_cpu_s"], 0.0, "and the machine's")
			require.Greater(t, r["cpu_bound_events_per_sec"], 0.0)
		}
	}
	require.Len(t, second["rebuild_all_median"], 1)

	url, err := database.WithDatabaseName(pgtest.URL(), name)
	require.NoError(t, err)
	pool := pgtest.Open(t, url)
	var stored int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&stored))
	require.EqualValues(t, events, stored)
	rows, err := pool.Query(ctx, `SELECT DISTINCT active_version FROM projection_versions`)
	require.NoError(t, err)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{4}, versions, "three rebuilds: version 1 → 4")
}
