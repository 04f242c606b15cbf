package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/pgtest"
)

// TestFailoverSmoke runs `taskforge bench failover` small, as its own OS process (the bench
// starts its workers and API from its own executable, so it must be the real binary, built here
// without the race detector), and checks the correctness targets: nothing acknowledged is
// lost, no event is applied twice, every webhook due arrives and repeats only for deliveries
// in flight at a kill, and the live read tables equal a rebuild. No figure of time is checked.
func TestFailoverSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("bench failover builds the binary and runs a cluster of processes for about 20 s: skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("bench failover needs the go tool to build the binary: ", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "taskforge")
	build := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/taskforge/taskforge/cmd/taskforge")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "bench", "failover", "--json", "--kills", "3", "--interval", "2s", "--rate", "50", "--drain", "45s")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pgtest.URL())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "bench failover: %s", stderr.String())
	t.Log(stderr.String())
	line := strings.TrimSpace(stdout.String())
	t.Log(line)

	var r struct {
		Kills                  int      `json:"kills"`
		Acknowledged           int      `json:"acknowledged"`
		Lost                   int      `json:"lost"`
		AppliedPerEvent        float64  `json:"applied_per_event"`
		ExpectedDeliveries     int      `json:"expected_deliveries"`
		LostDeliveries         int      `json:"lost_deliveries"`
		DuplicateDeliveries    int      `json:"duplicate_deliveries"`
		InFlightAtKills        int      `json:"in_flight_at_kills"`
		ReadTablesEqualRebuild bool     `json:"read_tables_equal_rebuild"`
		DrainMissing           []string `json:"drain_missing"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &r), line)
	for _, k := range []string{"failover_ms_p50", "failover_ms_p99", "failover_ms_max", "events", "duration_s", "mutations_per_sec"} {
		require.Contains(t, line, `"`+k+`":`)
	}
	require.Equal(t, 3, r.Kills)
	require.Positive(t, r.Acknowledged)
	require.Positive(t, r.ExpectedDeliveries)
	require.Empty(t, r.DrainMissing, "every consumer reached the head and every delivery finished")
	require.Zero(t, r.Lost, "acknowledged mutations missing from the log or rm_tasks")
	require.Zero(t, r.LostDeliveries, "webhooks due and never received")
	require.LessOrEqual(t, r.DuplicateDeliveries, r.InFlightAtKills, "a webhook repeats only when its delivery was in flight at a kill")
	require.LessOrEqual(t, r.AppliedPerEvent, 1.01, "events applied twice")
	require.True(t, r.ReadTablesEqualRebuild, "live read tables differ from a rebuild")
}
