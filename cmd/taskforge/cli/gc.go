package cli

import (
	"os"
	"runtime/debug"
)

// rebuildGCPercent is GOGC for the commands that rebuild projections (projections rebuild, bench
// rebuild and seed), in place of main's 400 for serving. A rebuild keeps hundreds of megabytes
// live (decoded batches in flight, the folders' state), so at 400 its heap grew to 1.35–1.58 GB,
// and each fresh page of it costs a fault, dear on this virtual machine: a process's first rebuild
// spent about 5 CPU-seconds more than its second, mostly in the kernel and in zeroing memory
// (perf). Measured here, 1M events, one rebuild per process (what `projections rebuild` is),
// alternated 7 times: 100 against 400, median 45.9k against 41.9k events/s (better in 5 pairs),
// machine CPU 41.1 against 45.2 s, RSS 0.82–0.88 against 1.35–1.58 GB. GOGC in the environment
// still wins.
const rebuildGCPercent = 100

// SetGCPercent sets Go's GOGC to p, unless GOGC is set in the environment, which wins.
func SetGCPercent(p int) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(p)
	}
}
