package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskforge/taskforge/cmd/taskforge/bench"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/projections"
)

// projectionsOptions are the flags of `taskforge projections`.
type projectionsOptions struct {
	action  string // status, rebuild, resume
	names   []string
	json    bool
	batch   int
	keepOld bool
}

func (o *projectionsOptions) validate() error {
	switch o.action {
	case "status":
		return nil
	case "rebuild", "resume":
		if len(o.names) == 0 {
			return fmt.Errorf("%w: projections %s needs a projection name (%s, or all)", errUsage, o.action, strings.Join(projections.Names(), ", "))
		}
		_, err := projections.ByName(o.names...)
		return err
	default:
		return fmt.Errorf("%w: projections needs status, rebuild or resume", errUsage)
	}
}

func projectionsCmd(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: projections needs status, rebuild or resume", errUsage)
	}
	o := projectionsOptions{action: args[0]}
	fs := flag.NewFlagSet("projections "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.json, "json", false, "status: print JSON")
	fs.IntVar(&o.batch, "batch", 5000, "rebuild: events per transaction")
	fs.BoolVar(&o.keepOld, "keep-old", false, "rebuild: keep the previous version's tables after the swap")
	// Names and flags in any order: "rebuild all --keep-old".
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		o.names = append(o.names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.action == "rebuild" {
		SetGCPercent(rebuildGCPercent)
	}
	pools, err := openPools(ctx, cfg, 16)
	if err != nil {
		return err
	}
	defer pools.Close()
	pool := pools.Pool
	switch o.action {
	case "status":
		sts, err := projections.Statuses(ctx, pool)
		if err != nil {
			return err
		}
		if len(sts) == 0 && !o.json {
			fmt.Fprintln(stderr, "no projection installed yet: `taskforge serve` or `projections rebuild` installs them")
		}
		store, err := eventstore.New(pool, eventstore.Options{})
		if err != nil {
			return err
		}
		h, err := store.Horizon(ctx)
		if err != nil {
			return err
		}
		return printStatus(stdout, sts, h, o.json)
	case "resume":
		for _, n := range o.names {
			if err := projections.Resume(ctx, pool, n); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s resumed\n", n)
		}
		return nil
	}
	ps, _ := projections.ByName(o.names...)
	store, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters()})
	if err != nil {
		return err
	}
	bar := progressBar(stderr)
	res, err := projections.Rebuild(ctx, store, ps, projections.RebuildOptions{
		BatchEvents: o.batch, KeepOld: o.keepOld, Logger: cfg.Logger(), Progress: bar,
		LockPool: pools.Direct, // the rebuild lock is a session advisory lock
	})
	fmt.Fprintln(stderr)
	if err != nil {
		return fmt.Errorf("rebuild (run it again to resume): %w", err)
	}
	for _, r := range res {
		resumed := ""
		if r.Resumed {
			resumed = " (resumed)"
		}
		fmt.Fprintf(stdout, "%s: version %d → %d active, %d events applied%s\n", r.Name, r.FromVersion, r.Version, r.Events, resumed)
	}
	return nil
}

func printStatus(w io.Writer, sts []projections.Status, h eventstore.Horizon, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, s := range sts {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return enc.Encode(map[string]any{"read_horizon": h})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPOSITION\tLAG EVENTS\tLAG SECONDS\tSTATE\tPARKED\tLAST ERROR")
	for _, s := range sts {
		version := fmt.Sprint(s.ActiveVersion)
		if s.BuildingVersion != nil {
			version += fmt.Sprintf(" (building %d)", *s.BuildingVersion)
		}
		lastErr := s.LastError
		if s.FailedEventID != nil {
			lastErr = "event " + s.FailedEventID.String() + ": " + lastErr
		}
		lag := fmt.Sprint(s.LagEvents)
		if s.PendingEvents > 0 {
			lag += fmt.Sprintf(" (%d held)", s.PendingEvents)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%d\t%s\n", s.Name, version, s.Position,
			lag, s.LagSeconds, s.State, s.Parked, lastErr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case h.Pending == 0:
		fmt.Fprintln(w, "read horizon: clear")
	case h.Holder != nil:
		hd := h.Holder
		fmt.Fprintf(w, "read horizon: %d committed events held for %s by pid %d (database %s, user %s, application %q, %s, open %s)\n",
			h.Pending, time.Since(h.OldestPendingAt).Round(time.Second), hd.PID, hd.Database, hd.User, hd.Application,
			hd.State, hd.Age.Round(time.Second))
		if hd.Prepared != "" {
			fmt.Fprintf(w, "  a prepared transaction (%s): COMMIT PREPARED or ROLLBACK PREPARED it\n", hd.Prepared)
		}
	default:
		fmt.Fprintf(w, "read horizon: %d committed events not yet readable\n", h.Pending)
	}
	return nil
}

// progressBar draws the rebuild's progress on one terminal line.
func progressBar(w io.Writer) func(projections.Progress) {
	return func(p projections.Progress) {
		const width = 30
		frac := 0.0
		if p.Total > 0 {
			frac = min(float64(p.Done)/float64(p.Total), 1)
		}
		filled := int(frac * width)
		fmt.Fprintf(w, "\r%-8s [%s%s] %d/%s events %6.0f/s ETA %s   ", p.Phase, strings.Repeat("#", filled),
			strings.Repeat(".", width-filled), p.Done, p.TotalText(), p.Rate, p.ETA.Round(time.Second))
	}
}

// benchProjections runs `taskforge bench rebuild` and `taskforge bench lag`.
func benchProjections(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.ProjectionOptions{DatabaseURL: cfg.DatabaseURL, Out: stdout, Progress: stderr}
	fs.IntVar(&o.Events, "events", 1_000_000, "rebuild: events to generate")
	fs.IntVar(&o.Writers, "writers", 8, "rebuild: concurrent writers generating the log")
	fs.IntVar(&o.Batch, "batch", 5000, "rebuild: events per rebuild transaction")
	fs.BoolVar(&o.Verify, "verify", false, "rebuild: then rebuild again with the live statements (slow) and check both versions hold the same rows")
	fs.IntVar(&o.Runs, "runs", 1, "rebuild: rebuilds over the same generated log, each timed, then their median")
	fs.StringVar(&o.LogDatabase, "log-database", "", "rebuild: generate the log into this database and keep it; if it holds one, rebuild from it without generating")
	fs.BoolVar(&o.Phases, "phases", false, "rebuild: log each projection's phase timings to stderr")
	fs.IntVar(&o.Rate, "rate", 500, "lag: events appended per second")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "lag: how long to append")
	fs.StringVar(&o.PgBouncerURL, "pgbouncer-url", "", "lag: also measure through this PgBouncer (transaction mode, in front of DATABASE_URL's server) with two leased workers; scripts/pgbouncer.sh start prints one")
	fs.StringVar(&o.Seeded, "seeded", "", "lag: run on a copy of this database made by `bench seed --database-name` (the large shape) instead of a new one")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "rebuild" {
		SetGCPercent(rebuildGCPercent)
		return bench.Rebuild(ctx, o)
	}
	return bench.Lag(ctx, o)
}
