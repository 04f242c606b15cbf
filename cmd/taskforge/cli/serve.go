package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/internal/config"
)

// serveOptions are the flags of `taskforge serve`.
type serveOptions struct {
	skipMigrate bool
	role        string // all, api or workers
	demo        bool
}

func (o serveOptions) validate() (app.Role, error) {
	r, err := app.ParseRole(o.role)
	if err != nil {
		return "", fmt.Errorf("%w: --%v", errUsage, err)
	}
	return r, nil
}

// serve builds the service (package app) and runs the role's parts until ctx is cancelled.
func serve(ctx context.Context, cfg config.Config, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o serveOptions
	fs.BoolVar(&o.skipMigrate, "skip-migrate", false, "do not apply migrations at start-up")
	fs.StringVar(&o.role, "role", "all", "all: API and workers; api: GraphQL only; workers: projections and side effects only")
	fs.BoolVar(&o.demo, "demo", false, "seed a demo workspace (idempotent) and print a token for it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	role, err := o.validate()
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, app.Overrides{SkipMigrate: o.skipMigrate})
	if err != nil {
		return err
	}
	defer a.Close()
	if o.demo {
		if err := seedDemo(ctx, cfg, a.Commands(), a.Logger()); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return a.Run(ctx, role)
}
