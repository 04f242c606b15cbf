package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStatCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice, in 1/100 s
	busy, err := parseStatCPU("cpu  1000 20 300 999999 5000 4 6 70 500 0\n")
	require.NoError(t, err)
	require.Equal(t, 14*time.Second, busy, "user+nice+system+irq+softirq+steal; idle, iowait and guest (inside user) left out")

	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8"} {
		_, err := parseStatCPU(bad)
		require.Error(t, err, bad)
	}
}

func TestMachineCPUGrows(t *testing.T) {
	before, ok := machineCPU()
	if !ok {
		t.Skip("no /proc/stat")
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, ok := machineCPU()
	require.True(t, ok)
	require.GreaterOrEqual(t, after, before)
}
