package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/cmd/taskforge/bench"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "bench")) }

// TestSyncSmoke runs the sync benchmark small: every line has the fields, every resume
// ends, and the first page of a resume costs the same statements after a short gap as after a
// long one (correctness only: no figure of time is checked).
func TestSyncSmoke(t *testing.T) {
	var out, progress bytes.Buffer
	err := bench.Sync(context.Background(), bench.SyncOptions{DatabaseURL: pgtest.URL(), Events: 2000, Workspaces: 2,
		Clients: 40, Concurrency: 4, JSON: true, Out: &out, Progress: &progress})
	require.NoError(t, err, progress.String())
	t.Log(out.String())

	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &r), l)
		for _, k := range []string{"name", "p50_ms", "p99_ms", "sql_per_resume", "samples"} {
			require.Contains(t, r, k, l)
		}
		lines[r["name"].(string)] = r
	}
	for _, name := range []string{"resume_first_page", "resume_full", "refetch_full", "sync_http_revalidate", "resume_gap_lt_1k", "resume_gap_1k_10k"} {
		require.Contains(t, lines, name, out.String())
	}
	first, full := lines["resume_first_page"], lines["resume_full"]
	require.EqualValues(t, 40, first["samples"])
	require.Positive(t, first["sql_per_resume"].(float64))
	require.Positive(t, full["records_p99"].(float64))
	require.GreaterOrEqual(t, full["pages_p99"].(float64), 1.0)
	require.Positive(t, full["vs_refetch"].(float64))
	require.Positive(t, lines["refetch_full"]["sql_total_p50"].(float64))
	require.EqualValues(t, 40, lines["sync_http_revalidate"]["not_modified"], "every revalidation answers 304")

	// A page's statements do not grow with the gap: besides one per entity kind the page holds
	// (six at most), every page after a gap of under 1,000 events costs what a page after a
	// longer one does.
	short, long := lines["resume_gap_lt_1k"], lines["resume_gap_1k_10k"]
	require.Positive(t, short["sql_fixed_max"].(float64))
	require.Equal(t, short["sql_fixed_max"], long["sql_fixed_max"], out.String())
	require.Equal(t, first["sql_fixed_max"], full["sql_fixed_max"], out.String())
	for _, l := range []map[string]any{first, full, short, long} {
		require.LessOrEqual(t, l["sql_per_resume"].(float64), l["sql_fixed_max"].(float64)+6, "a page's statements are bounded")
	}
}
