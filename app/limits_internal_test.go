package app

import (
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/config"
)

// TestMemoryLimitApplied: New sets MEMORY_LIMIT as Go's soft limit, unless GOMEMLIMIT is set.
func TestMemoryLimitApplied(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	log := slog.New(slog.DiscardHandler)
	applyMemoryLimit(config.Limits{MemoryLimit: 768 << 20}, log)
	require.EqualValues(t, 768<<20, debug.SetMemoryLimit(-1))
	applyMemoryLimit(config.Limits{MemoryLimit: 512 << 20, MemoryLimitFromGoEnv: true}, log)
	require.EqualValues(t, 768<<20, debug.SetMemoryLimit(-1), "GOMEMLIMIT wins")
	applyMemoryLimit(config.Limits{}, log)
	require.EqualValues(t, 768<<20, debug.SetMemoryLimit(-1), "MEMORY_LIMIT=off leaves it")
}
