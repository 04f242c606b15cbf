package cli

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUseRebuildGC: the rebuild commands' GOGC, unless the environment sets one.
func TestUseRebuildGC(t *testing.T) {
	prev := debug.SetGCPercent(400) // as main sets
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	t.Setenv("GOGC", "250") // restored after the test, also once unset below
	useRebuildGC()
	require.Equal(t, 400, debug.SetGCPercent(400), "GOGC in the environment wins")

	require.NoError(t, os.Unsetenv("GOGC"))
	useRebuildGC()
	require.Equal(t, rebuildGCPercent, debug.SetGCPercent(400))
}
