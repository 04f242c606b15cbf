// Package cli owns the taskforge command line: one function per subcommand, each parsing its flags
// into an options struct that validates itself, then calling package app (serve), the operator
// APIs (projections, dead letters, events) or a workload of package bench. Configuration shared
// with the service comes from the environment (internal/config).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/internal/database"
)

const usage = `taskforge — event-sourced task tracker backend

Usage:
  taskforge serve [--role all|api|workers] [--demo] [--skip-migrate]
                                  migrate, then serve GraphQL, run projections and side effects
  taskforge migrate               apply pending database migrations and exit
  taskforge bench append [flags]  event store append throughput against a plain INSERT baseline
  taskforge bench rebuild [flags] full rebuild of every projection over a generated log (events/s)
  taskforge bench lag [flags]     commit → read-table-visible latency at a steady append rate
  taskforge bench e2e [flags]     mutation sent → websocket subscription message received (p50/p99/max)
  taskforge bench read [flags]    board, task list and workspace throughput, p99 and SQL statements per request
  taskforge bench sync [flags]    clients resuming through changes(since) over a seeded log: p50/p99, SQL per page, vs a full refetch
  taskforge bench abuse [--json]  amplification queries and bursts of clients against the production limits:
                                  served or refused, time to answer, peak Go heap
                                  (bench: TASKFORGE_CPUPROFILE=FILE writes a CPU profile of the run)
  taskforge projections status [--json]                 position, lag, state and last error of each projection
  taskforge projections rebuild NAME|all [--keep-old]   build the next version, catch up, swap (resumable)
  taskforge projections resume NAME                     restart a projection stopped on a poison event
  taskforge deadletters list [--json] [--limit N] [--after CURSOR]
                                  webhook deliveries and emails that ran out of attempts, newest first
  taskforge deadletters retry ID|--all
                                  requeue dead letters for immediate delivery (ID as listed: webhook-5, email-7)
  taskforge events export [--stream ID] [--type T,…] [--since T] [--until T]
                                  NDJSON export of the log, in commit order, verifiable offline
  taskforge events verify [--stream ID | --file EXPORT]
                                  recompute hash chains; exit code 1 on a broken chain
  taskforge nodes [--json]        the deployment's live processes: id, role, host, pid, version, heartbeat
  taskforge token --user ID [--email E] [--name N] [--ttl 24h]
                                  mint a development bearer token signed with JWT_SECRET
  taskforge help

Configuration comes from the environment: DATABASE_URL, HTTP_ADDR, DB_MAX_CONNS, LOG_LEVEL,
LOG_FORMAT, SHUTDOWN_TIMEOUT (see README.md).
`

// errUsage marks errors that should print the usage text.
var errUsage = errors.New("usage")

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "%v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintln(stderr, "taskforge:", err)
		return 1
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		return serve(ctx, cfg, args[1:], stderr)
	case "migrate":
		return migrate(ctx, cfg, stdout)
	case "deadletters":
		return deadLettersCmd(ctx, cfg, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, cfg, args[1:], stdout, stderr)
	case "projections":
		return projectionsCmd(ctx, cfg, args[1:], stdout, stderr)
	case "events":
		return eventsCmd(ctx, cfg, args[1:], stdout, stderr)
	case "nodes":
		return nodesCmd(ctx, cfg, args[1:], stdout, stderr)
	case "token":
		return tokenCmd(ctx, cfg, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}

// openPools opens the pool on DATABASE_URL in the configured exec mode and, when
// DATABASE_DIRECT_URL differs, the direct one for sessions (database.OpenPools).
func openPools(ctx context.Context, cfg config.Config, maxConns int32) (*database.Pools, error) {
	return database.OpenPools(ctx, database.PoolsOptions{URL: cfg.DatabaseURL, DirectURL: cfg.DatabaseDirectURL,
		ExecMode: cfg.DatabaseExecMode, MaxConns: maxConns, DirectMaxConns: maxConns})
}

func migrate(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	log := cfg.Logger()
	// goose's lock is a session advisory lock: migrations go to PostgreSQL directly.
	url := cfg.DatabaseDirectURL
	if url == "" {
		url = cfg.DatabaseURL
	}
	pool, err := database.Open(ctx, url, database.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	results, err := database.Migrate(ctx, pool, log)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, r := range results {
		fmt.Fprintf(stdout, "applied %s in %s\n", r.Source.Path, r.Duration.Round(time.Millisecond))
	}
	return nil
}
