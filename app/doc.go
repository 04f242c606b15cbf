// Package app is the composition root: the one place where the service is built. Production
// (`taskforge serve`), the tests (app/apptest) and the benchmarks (cmd/taskforge/bench) all call
// New, so none of them can drift from what the others run.
//
// New builds every part once, whatever the role; Run starts the parts the role runs:
//
//	config.Config + Overrides
//	        │
//	        ▼
//	New ── pool (StatementTracer) ── migrations, read-model tables ── memory limit
//	     ├─ registry (metrics) ── notifier ── event store (upcasters, OnCommit → notifier)
//	     ├─ webhook secrets ── command handlers
//	     ├─ projection runner ── side-effect runner
//	     ├─ live hub ── verifier, audit, inspector, queries → resolver → GraphQL handler (limits)
//	     └─ HTTP server (/healthz, /readyz, /) ── metrics server
//
//	Run(role)       all   api   workers
//	  notifier       ✓     ✓      ✓
//	  metrics        ✓     ✓      ✓     (when METRICS_ADDR is set)
//	  projections    ✓            ✓
//	  side effects   ✓            ✓     (unless Overrides.WithoutSideEffects)
//	  live hub       ✓     ✓
//	  HTTP server    ✓     ✓            (when HTTP_ADDR is set; tests serve Handler themselves)
//
// Overrides hold the few things tests and benchmarks legitimately change; everything else comes
// from the configuration, as in production.
package app
