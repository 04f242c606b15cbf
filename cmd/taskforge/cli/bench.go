package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/taskforge/taskforge/cmd/taskforge/bench"
	"github.com/taskforge/taskforge/internal/config"
)

func benchCmd(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: bench needs a workload: append, rebuild, lag, e2e, read, abuse, sync, failover, hotproject, seed", errUsage)
	}
	// The benchmarks run the service's parts in this process, so one profile shows where the
	// workload's Go time goes (go tool pprof).
	if path := os.Getenv("TASKFORGE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	switch args[0] {
	case "rebuild", "lag":
		return benchProjections(ctx, cfg, args, stdout, stderr)
	case "e2e":
		return benchE2E(ctx, cfg, args[1:], stdout, stderr)
	case "read":
		return benchRead(ctx, cfg, args[1:], stdout, stderr)
	case "abuse":
		return benchAbuse(ctx, cfg, args[1:], stdout, stderr)
	case "sync":
		return benchSync(ctx, cfg, args[1:], stdout, stderr)
	case "failover":
		return benchFailover(ctx, cfg, args[1:], stdout, stderr)
	case "hotproject":
		return benchHotProject(ctx, cfg, args[1:], stdout, stderr)
	case "seed":
		SetGCPercent(rebuildGCPercent)
		return benchSeed(ctx, cfg, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.Options{DatabaseURL: cfg.DatabaseURL, Out: stdout}
	fs.DurationVar(&o.Duration, "duration", 3*time.Second, "length of one measurement")
	fs.IntVar(&o.Rounds, "rounds", 5, "measurements per case, each next to its baseline; medians are reported")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	writers := fs.String("writers", "1,8,64", "comma-separated concurrency levels")
	groupCommit := "off"
	if cfg.EventstoreGroupCommit {
		groupCommit = "on"
	}
	fs.StringVar(&groupCommit, "group-commit", groupCommit, "on, off or both (default: EVENTSTORE_GROUP_COMMIT)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	for _, w := range strings.Split(*writers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil {
			return fmt.Errorf("%w: --writers: %q is not a number", errUsage, w)
		}
		o.Writers = append(o.Writers, n)
	}
	switch args[0] {
	case "append":
		return bench.Append(ctx, bench.AppendOptions{Options: o, GroupCommit: groupCommit})
	default:
		return fmt.Errorf("%w: unknown benchmark %q", errUsage, args[0])
	}
}

// benchE2E parses the flags of `taskforge bench e2e` and runs it.
func benchE2E(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.E2EOptions{DatabaseURL: cfg.DatabaseURL, Out: stdout}
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long mutations are sent")
	fs.IntVar(&o.Subscribers, "subscribers", 10, "websocket subscribers of taskChanged on the project")
	fs.IntVar(&o.Rate, "rate", 200, "mutations per second, in total")
	fs.IntVar(&o.Clients, "clients", 8, "concurrent mutation clients")
	fs.StringVar(&o.Seeded, "seeded", "", "run on a copy of this database made by `bench seed --database-name` (the large shape) instead of a new one")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.E2E(ctx, o)
}

// benchRead parses the flags of `taskforge bench read` and runs it.
func benchRead(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.ReadOptions{DatabaseURL: cfg.DatabaseURL, Out: stdout}
	fs.IntVar(&o.Tasks, "tasks", 200, "tasks on the board")
	fs.IntVar(&o.Clients, "clients", 8, "concurrent HTTP clients")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each measurement")
	fs.StringVar(&o.Seeded, "seeded", "", "read the huge board, list and a typical workspace of this database made by `bench seed --database-name`, on a copy of it")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	fs.BoolVar(&o.BoardOnly, "board-only", false, "measure the board lines only (cache off, on, on with a change every 100 ms)")
	fs.IntVar(&o.CacheMB, "cache-mb", config.DefaultReadCacheMB, "response cache of the cached lines, MB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.Read(ctx, o)
}

// benchAbuse parses the flags of `taskforge bench abuse` and runs it against the configuration's
// limits (MAX_COMPLEXITY, RATE_LIMIT, ...: the production ones unless the environment says otherwise).
func benchAbuse(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench abuse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.AbuseOptions{DatabaseURL: cfg.DatabaseURL, Limits: cfg.Limits, Out: stdout}
	fs.IntVar(&o.Tasks, "tasks", 200, "tasks on the board")
	fs.IntVar(&o.Clients, "clients", 200, "concurrent clients of the bursts")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.Abuse(ctx, o)
}

// benchSync parses the flags of `taskforge bench sync` and runs it.
func benchSync(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.SyncOptions{DatabaseURL: cfg.DatabaseURL, Out: stdout, Progress: stderr}
	fs.IntVar(&o.Events, "events", 100_000, "events in the seeded log")
	fs.IntVar(&o.Workspaces, "workspaces", 8, "workspaces the log is spread over")
	fs.IntVar(&o.Clients, "clients", 1000, "clients resuming from a random position")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "clients resuming at once")
	fs.IntVar(&o.Page, "page", 200, "first: of each changes page")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed of the log and of the clients' positions")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.Sync(ctx, o)
}

// benchFailover parses the flags of `taskforge bench failover` and runs it.
func benchFailover(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.FailoverOptions{DatabaseURL: cfg.DatabaseURL, Out: stdout, Progress: stderr}
	fs.StringVar(&o.PgBouncerURL, "pgbouncer-url", "", "send the processes' transactions through this PgBouncer (it must serve any database name)")
	fs.IntVar(&o.Workers, "workers", 3, "worker processes kept running")
	fs.IntVar(&o.Kills, "kills", 10, "workers SIGKILLed, one per interval")
	fs.DurationVar(&o.Interval, "interval", 3*time.Second, "time between kills")
	fs.IntVar(&o.Rate, "rate", 100, "mutations per second, in total")
	fs.IntVar(&o.Clients, "clients", 4, "concurrent mutation clients")
	fs.DurationVar(&o.Drain, "drain", 60*time.Second, "bound of the wait for consumers and deliveries to finish after the kills")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.Failover(ctx, o)
}

// benchHotProject parses the flags of `taskforge bench hotproject` and runs it.
func benchHotProject(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench hotproject", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.HotProjectOptions{DatabaseURL: cfg.DatabaseURL, Out: stdout}
	fs.IntVar(&o.Clients, "clients", 64, "concurrent creators, all in one project")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long creations are started")
	fs.IntVar(&o.Runtimes, "runtimes", 1, "command runtimes (one per API process) sharing the database; clients are spread over them")
	fs.DurationVar(&o.Timeout, "timeout", 15*time.Second, "bound of each creation (the API's GRAPHQL_TIMEOUT)")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.HotProject(ctx, o)
}

// benchSeed parses the flags of `taskforge bench seed` and runs it.
func benchSeed(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.SeedOptions{DatabaseURL: cfg.DatabaseURL, Out: stdout, Progress: stderr}
	fs.IntVar(&o.Workspaces, "workspaces", 10_000, "workspaces: one huge, four large, the others small")
	fs.IntVar(&o.Tasks, "tasks", 1_000_000, "tasks, about 5 events each (20% in the huge workspace, 5% in each large one)")
	fs.StringVar(&o.DatabaseName, "database-name", "", "keep the seeded database under this new name (its URL is printed); default: a scratch database, dropped")
	fs.IntVar(&o.Writers, "writers", 8, "concurrent appenders")
	fs.IntVar(&o.Batch, "batch", 40, "tasks per append")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed of the tasks' lives")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.Seed(ctx, o)
}
