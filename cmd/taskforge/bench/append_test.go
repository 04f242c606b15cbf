package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/cmd/taskforge/bench"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestAppendSmoke runs bench append briefly with and without group commit: every case is
// reported, each append case against its baseline, with its events per WAL flush, and the appends
// per group only where groups run, within what its writers can fill (one append each).
func TestAppendSmoke(t *testing.T) {
	ctx := context.Background()
	const writers = 8
	for _, mode := range []string{"on", "off"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			err := bench.Append(ctx, bench.AppendOptions{GroupCommit: mode, Options: bench.Options{
				DatabaseURL: pgtest.URL(), Duration: 300 * time.Millisecond, Rounds: 1,
				Writers: []int{writers}, JSON: true, Out: &out}})
			require.NoError(t, err)
			lines := map[string]map[string]any{}
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var r map[string]any
				require.NoError(t, json.Unmarshal([]byte(l), &r), l)
				lines[r["name"].(string)] = r
			}
			require.Len(t, lines, 4)
			require.Equal(t, "baseline_insert", lines["append"]["baseline"])
			require.Equal(t, "baseline_insert_batch", lines["append_batch"]["baseline"])
			require.Greater(t, lines["append"]["events"], 0.0)
			// The server's flushes count other sessions' too (other packages' tests run meanwhile):
			// the figure is there, not its size.
			for _, name := range []string{"baseline_insert", "append", "baseline_insert_batch", "append_batch"} {
				require.Greater(t, lines[name]["events_per_flush"], 0.0, name)
				if _, err := os.Stat("/proc/stat"); err == nil {
					require.Contains(t, lines[name], "machine_cpu_us_per_event", name)
				}
			}
			group, ok := lines["append"]["group_mean"]
			if mode == "off" {
				require.False(t, ok, "no groups without group commit")
				return
			}
			if ok { // 8 writers for 300 ms form groups, but a test does not count on timing
				require.GreaterOrEqual(t, group, 1.0)
				require.LessOrEqual(t, group, float64(writers))
			}
			require.NotContains(t, lines["append_batch"], "group_mean", "batches run alone")
		})
	}
}
