package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/audit"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/observability"
	"github.com/taskforge/taskforge/internal/server"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// serveOptions are the flags of `taskforge serve`.
type serveOptions struct {
	skipMigrate bool
	role        string // all, api or workers
	demo        bool
}

func (o serveOptions) validate() error {
	switch o.role {
	case "all", "api", "workers":
		return nil
	}
	return fmt.Errorf("%w: --role must be all, api or workers, got %q", errUsage, o.role)
}

func (o serveOptions) api() bool     { return o.role != "workers" }
func (o serveOptions) workers() bool { return o.role != "api" }

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
	if err := o.validate(); err != nil {
		return err
	}
	log := cfg.Logger()
	applyMemoryLimit(cfg.Limits, log)

	pool, err := database.Open(ctx, cfg.DatabaseURL, database.PoolOptions{
		MaxConns: cfg.DBMaxConns,
		Tracer:   observability.StatementTracer{}, // SQL statements per GraphQL request
	})
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

	if len(cfg.WebhookSecretKey) == 0 {
		// No default: one written in the source would encrypt every deployment's secrets with a
		// key the world knows. `make run` makes one per checkout.
		return errors.New("WEBHOOK_SECRET_KEY is required: 32 random bytes as hex or base64 (e.g. `openssl rand -hex 32`); it encrypts webhook signing secrets")
	}
	secrets, err := webhooksecrets.New(pool, cfg.WebhookSecretKey)
	if err != nil {
		return err
	}

	reg := observability.NewRegistry()
	reg.MustRegister(observability.NewPoolCollector(pool))
	notifier := eventstore.NewNotifier(pool, log)
	es, err := eventstore.New(pool, eventstore.Options{
		Upcasters: commands.Upcasters(),
		Metrics:   eventstore.NewMetrics(reg),
		OnCommit:  notifier.Wake,
		Redact:    domain.RedactStored,
	})
	if err != nil {
		return err
	}
	if err := es.CheckTransactionIDs(ctx); err != nil {
		return err // a restored dump: appending now would hide new events from every reader
	}
	seOpts := sideeffects.OptionsFrom(cfg.SideEffects)
	seOpts.Log, seOpts.Metrics, seOpts.Notifier = log, reg, notifier
	seOpts.Webhooks.Secrets = secrets
	sideEffects, err := sideeffects.NewRunner(pool, es, domain.NewRegistry(), seOpts)
	if err != nil {
		return err
	}
	readModels, err := projections.NewRunner(es, projections.RunnerOptions{
		Notifier: notifier, Metrics: projections.NewMetrics(reg), Logger: log,
	})
	if err != nil {
		return err
	}
	handlers, err := newCommands(log, es, reg, secrets, seOpts.Webhooks.AllowPrivateNetworks)
	if err != nil {
		return err
	}
	if o.demo {
		if err := seedDemo(ctx, cfg, handlers, log); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	srv := server.New(cfg.HTTPAddr, log, pool)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return notifier.Run(gctx) })
	if cfg.MetricsAddr != "" {
		// Off the public port: metrics describe every tenant's traffic.
		if host, _, err := net.SplitHostPort(cfg.MetricsAddr); err != nil || !loopback(host) {
			log.Warn("metrics served beyond loopback: keep METRICS_ADDR off the public network", "addr", cfg.MetricsAddr)
		}
		metrics := server.NewMetrics(cfg.MetricsAddr, log, reg)
		g.Go(func() error { return metrics.Run(gctx, cfg.ShutdownTimeout, nil) })
	} else {
		log.Info("metrics disabled (METRICS_ADDR is empty)")
	}
	if o.workers() {
		g.Go(func() error { return sideEffects.Run(gctx) })
		g.Go(func() error { return readModels.Run(gctx) })
	}
	if o.api() {
		// Live updates: this process's hub tails the log from its head (see graph/live).
		hub, err := live.NewHub(es, notifier, projections.NewQueries(es.Pool()), live.HubOptions{Logger: log, Metrics: reg})
		if err != nil {
			return err
		}
		api, err := newAPI(cfg, log, es, reg, hub, handlers, secrets)
		if err != nil {
			return err
		}
		srv.Handle("/", api)
		if cfg.GraphQLPlayground {
			log.Info("GraphQL playground", "url", "http://"+displayAddr(cfg.HTTPAddr)+"/")
		}
		g.Go(func() error { return hub.Run(gctx) })
	}
	log.Info("serving", "role", o.role)
	g.Go(func() error { return srv.Run(gctx, cfg.ShutdownTimeout, nil) })
	err = g.Wait()
	log.Info("stopped", "err", err)
	return err
}

// newCommands builds the command handlers, instrumented once.
func newCommands(log *slog.Logger, es *eventstore.Store, reg *prometheus.Registry, secrets commands.WebhookSecrets,
	allowPrivateWebhooks bool) (*commands.Handlers, error) {
	cmdMetrics, err := commands.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	rt, err := commands.NewRuntime(es, domain.NewRegistry(), commands.Options{Logger: log, Metrics: cmdMetrics,
		WebhookSecrets: secrets, AllowPrivateWebhooks: allowPrivateWebhooks})
	if err != nil {
		return nil, err
	}
	return commands.NewHandlers(rt, log, cmdMetrics)
}

// newAPI builds the GraphQL API over the command handlers and the read side.
func newAPI(cfg config.Config, log *slog.Logger, es *eventstore.Store, reg *prometheus.Registry, hub *live.Hub,
	handlers *commands.Handlers, secrets *webhooksecrets.Store) (http.Handler, error) {
	verifier, err := auth.NewVerifier(auth.Config{
		HS256Secret: []byte(cfg.JWTSecret),
		JWKSURL:     cfg.JWKSURL,
		Issuer:      cfg.JWTIssuer,
		Audience:    cfg.JWTAudience,
		Leeway:      30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	auditor, err := audit.New(es, domain.NewRegistry())
	if err != nil {
		return nil, err
	}
	inspector, err := sideeffects.NewInspector(es.Pool())
	if err != nil {
		return nil, err
	}
	resolver := &graph.Resolver{Commands: handlers, Audit: auditor, Queries: projections.NewQueries(es.Pool()),
		Inspector: inspector, Statuses: func(ctx context.Context) ([]projections.Status, error) {
			return projections.Statuses(ctx, es.Pool())
		}, Hub: hub, Operators: cfg.Operators, WebhookSecrets: secrets}
	return graph.NewHandler(resolver, withLimits(graph.Options{
		Verifier:         verifier,
		Logger:           log,
		Introspection:    cfg.GraphQLIntrospection,
		Playground:       cfg.GraphQLPlayground,
		Metrics:          reg,
		StatementHeader:  cfg.DebugSQLHeader, // debugging only: it describes the queries behind the API
		WebsocketOrigins: cfg.WebsocketOrigins,
	}, cfg.Limits))
}

// loopback reports whether a listen host reaches this machine only.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// displayAddr turns a listen address such as ":8080" into one a browser can open.
func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "localhost" + addr
	}
	return addr
}
