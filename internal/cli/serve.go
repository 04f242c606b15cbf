package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/observability"
	"github.com/taskforge/taskforge/internal/server"
)

// serveOptions are the flags of `taskforge serve`.
type serveOptions struct {
	skipMigrate bool
}

func serve(ctx context.Context, cfg config.Config, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o serveOptions
	fs.BoolVar(&o.skipMigrate, "skip-migrate", false, "do not apply migrations at start-up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := cfg.Logger()

	pool, err := database.Open(ctx, cfg.DatabaseURL, database.PoolOptions{MaxConns: cfg.DBMaxConns})
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if !o.skipMigrate {
		// Under an advisory lock: instances starting together take turns.
		if _, err := database.Migrate(ctx, pool, log); err != nil {
			return err
		}
	}

	reg := observability.NewRegistry()
	reg.MustRegister(observability.NewPoolCollector(pool))
	notifier := eventstore.NewNotifier(pool, log)
	es, err := eventstore.New(pool, eventstore.Options{
		Metrics:  eventstore.NewMetrics(reg),
		OnCommit: notifier.Wake,
	})
	if err != nil {
		return err
	}
	if err := es.CheckTransactionIDs(ctx); err != nil {
		return err // a restored dump: appending now would hide new events from every reader
	}
	srv := server.New(cfg.HTTPAddr, log, pool, reg)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return notifier.Run(gctx) })
	g.Go(func() error { return srv.Run(gctx, cfg.ShutdownTimeout, nil) })
	err = g.Wait()
	log.Info("stopped", "err", err)
	return err
}
