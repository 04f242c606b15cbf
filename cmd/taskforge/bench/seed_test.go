package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/cmd/taskforge/bench"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestSeedSmoke seeds a small database of the large shape, kept under a name, and checks what
// the read tables hold after the rebuild: every task of the shape, numbered 1..N without a gap in
// each project although a project's appends come from several writers, the skew (a fifth of the
// tasks in the huge workspace), and one event count in the log and in the output.
func TestSeedSmoke(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("tf_test_seed_%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = database.DropDatabase(context.Background(), pgtest.URL(), name) })
	var out, progress bytes.Buffer
	err := bench.Seed(ctx, bench.SeedOptions{DatabaseURL: pgtest.URL(), DatabaseName: name, Workspaces: 12, Tasks: 1000,
		Writers: 4, Batch: 7, JSON: true, Out: &out, Progress: &progress})
	require.NoError(t, err, progress.String())
	require.Contains(t, progress.String(), "seeded database kept: ")
	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &r), l)
		lines[r["name"].(string)] = r
	}
	require.Contains(t, lines, "seed")
	require.Contains(t, lines, "rebuild_all")

	url, err := database.WithDatabaseName(pgtest.URL(), name)
	require.NoError(t, err)
	pool := pgtest.Open(t, url)
	var events int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events))
	require.EqualValues(t, events, lines["seed"]["events"])
	var workspaces, tasks, projects, gapless, huge int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rm_workspaces), (SELECT count(*) FROM rm_tasks),
		(SELECT count(*) FROM rm_projects),
		(SELECT count(*) FROM (SELECT project_id FROM rm_tasks GROUP BY project_id
			HAVING count(DISTINCT number) = count(*) AND min(number) = 1 AND max(number) = count(*)) AS p),
		(SELECT max(n) FROM (SELECT count(*) AS n FROM rm_tasks GROUP BY workspace_id) AS w)`).
		Scan(&workspaces, &tasks, &projects, &gapless, &huge))
	require.Equal(t, 12, workspaces)
	require.Equal(t, 1000, tasks)
	require.Equal(t, projects, gapless, "every project's tasks are numbered 1..N")
	require.Equal(t, 200, huge, "a fifth of the tasks in the huge workspace")
	require.Greater(t, float64(events), 4.0*1000, "about 5 events per task")
	var olga int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rm_members WHERE user_id = 'olga'`).Scan(&olga))
	require.Equal(t, 5, olga, "olga is a member of the huge and the large workspaces")
}
