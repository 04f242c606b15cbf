package cli

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSetGCPercent: a command's GOGC (here the rebuilding commands'), unless the environment sets one.
func TestSetGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(400) // as main sets
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	t.Setenv("GOGC", "250") // restored after the test, also once unset below
	SetGCPercent(rebuildGCPercent)
	require.Equal(t, 400, debug.SetGCPercent(400), "GOGC in the environment wins")

	require.NoError(t, os.Unsetenv("GOGC"))
	SetGCPercent(rebuildGCPercent)
	require.Equal(t, rebuildGCPercent, debug.SetGCPercent(400))
}
