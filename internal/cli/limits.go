package cli

import (
	"log/slog"
	"runtime/debug"

	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/internal/config"
)

// applyMemoryLimit sets Go's soft memory limit (MEMORY_LIMIT, on by default): near it the
// collector runs harder rather than let a burst of allocation (a large response, many at once)
// grow the heap until the kernel kills the process. GOMEMLIMIT, when set, was applied by the
// runtime and wins, as GOGC wins over the GC percent main sets.
func applyMemoryLimit(l config.Limits, log *slog.Logger) {
	if l.MemoryLimitFromGoEnv || l.MemoryLimit <= 0 {
		return
	}
	debug.SetMemoryLimit(l.MemoryLimit)
	log.Info("memory limit", "bytes", l.MemoryLimit)
}

// withLimits sets the API's limits from the configuration (zero values: the API's defaults).
func withLimits(o graph.Options, l config.Limits) graph.Options {
	o.MaxComplexity, o.MaxRows, o.MaxResponseBytes = l.MaxComplexity, l.MaxRows, l.MaxResponseBytes
	o.OperationTimeout = l.OperationTimeout
	o.RateLimits = graph.RateLimits{
		Disabled: !l.RateLimit,
		Requests: l.RequestsPerSecond, RequestBurst: l.RequestBurst,
		Cost: l.CostPerSecond, CostBurst: l.CostBurst,
		Anonymous: l.AnonymousPerSecond, AnonymousBurst: l.AnonymousBurst,
		TrustedProxies: l.TrustedProxies,
	}
	return o
}
