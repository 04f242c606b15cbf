package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice, in 1/100 s
	busy, cores, err := parseStat("cpu  1000 20 300 999999 5000 4 6 70 500 0\n" +
		"cpu0 500 10 150 500000 2500 2 3 35 250 0\ncpu1 500 10 150 499999 2500 2 3 35 250 0\n" +
		"intr 12345 0 0\nctxt 999\n")
	require.NoError(t, err)
	require.Equal(t, 14*time.Second, busy, "user+nice+system+irq+softirq+steal; idle, iowait and guest (inside user) left out")
	require.Equal(t, 2, cores)

	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8",
		"cpu 1 2 3 4 5 6 7 8\nintr 1"} {
		_, _, err := parseStat(bad)
		require.Error(t, err, bad)
	}
}

// TestMachineCPUGrows: 50 ms of this test's own busy loop shows in the machine's busy time (a
// reading of idle or iowait, or a constant, would not grow).
func TestMachineCPUGrows(t *testing.T) {
	before, cores, ok := machineCPU()
	if !ok {
		t.Skip("no /proc/stat")
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	require.Positive(t, cores)
	after, _, ok := machineCPU()
	require.True(t, ok)
	require.Greater(t, after, before)
}
