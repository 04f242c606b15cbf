package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/audit"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/observability"
	"github.com/taskforge/taskforge/internal/server"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// directMaxConns bounds the direct pool: the notifier's connection (taken out of the pool),
// migrations' lock and one rebuild lock per projection at a start that rebuilds them all.
const directMaxConns = 8

// TokenLeeway is the clock skew allowed on a token's exp, nbf and iat: a token is accepted
// until TokenLeeway after its expiry.
const TokenLeeway = 30 * time.Second

// Role is what one process runs: a scaled-out deployment runs API instances and worker
// instances over one database.
type Role string

const (
	RoleAll     Role = "all"     // the API and the workers
	RoleAPI     Role = "api"     // GraphQL and live updates only
	RoleWorkers Role = "workers" // projections and side effects only
)

// ParseRole checks a role's name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAll, RoleAPI, RoleWorkers:
		return r, nil
	}
	return "", fmt.Errorf("role must be all, api or workers, got %q", s)
}

func (r Role) api() bool     { return r != RoleWorkers }
func (r Role) workers() bool { return r != RoleAPI }

// Overrides are what tests and benchmarks change in the service New builds. The zero value
// builds what production runs.
type Overrides struct {
	// Pool replaces the pool New would open on cfg.DatabaseURL (a benchmark's scratch database);
	// the caller keeps it open until Run returns and closes it.
	Pool *pgxpool.Pool
	// DirectPool is the pool for sessions (LISTEN, session locks, migrations) beside Pool; nil:
	// Pool itself. Only with Pool.
	DirectPool *pgxpool.Pool
	// SkipMigrate leaves the schema as it is (`serve --skip-migrate`, a migrated test database).
	SkipMigrate bool
	// Logger replaces cfg.Logger().
	Logger *slog.Logger
	// Hub tunes the live hub (its Logger and Metrics are the App's); its zero settings take the
	// configuration's (config.Live).
	Hub live.HubOptions
	// WithoutSideEffects runs no webhook deliveries or emails in the workers: for tests and
	// benchmarks of the API and the read side.
	WithoutSideEffects bool
	// Resolver adjusts the resolver before the handler is built (a test's consistency wait).
	Resolver func(*graph.Resolver)
	// Graph adjusts the API's options after the configuration's limits are applied.
	Graph func(*graph.Options)
}

// App is the service, built once. Run it once, then Close it.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	pool     *pgxpool.Pool   // every transaction: DATABASE_URL, possibly through PgBouncer
	direct   *pgxpool.Pool   // sessions: DATABASE_DIRECT_URL (pool itself when the URLs are the same)
	pools    *database.Pools // nil: the pools came in Overrides
	reg      *prometheus.Registry
	notifier *eventstore.Notifier
	store    *eventstore.Store
	commands *commands.Handlers
	hub      *live.Hub
	applied  *live.Applied // wakes workspaceChanged subscriptions
	readSide *projections.Runner
	effects  *sideeffects.Runner // nil: Overrides.WithoutSideEffects
	// nodeID is this process in cluster_nodes; its consumer leases and delivery claims name it.
	nodeID       uuid.UUID
	leaseMetrics *cluster.LeaseMetrics
	// schemaLeft: New skipped migrations (and the read tables' creation), so the workers ensure
	// the read tables before their consumers start.
	schemaLeft bool
	handler    http.Handler   // the GraphQL API; nil when noAPI is set
	noAPI      error          // why the API cannot run (no token verification configured)
	server     *server.Server // /healthz, /readyz and the API
	metrics    *server.Server // nil: no METRICS_ADDR
}

// New builds the service from the configuration: everything `taskforge serve` runs, whatever
// the role (Run starts a role's parts). It opens the pool, applies migrations and checks the
// log's transaction ids; on error it releases what it opened.
func New(ctx context.Context, cfg config.Config, o Overrides) (_ *App, err error) {
	a := &App{cfg: cfg, log: o.Logger, pool: o.Pool, direct: o.DirectPool, schemaLeft: o.SkipMigrate}
	if a.log == nil {
		a.log = cfg.Logger()
	}
	if len(cfg.WebhookSecretKey) == 0 {
		// No default: one written in the source would encrypt every deployment's secrets with a
		// key the world knows. `make run` makes one per checkout.
		return nil, errors.New("WEBHOOK_SECRET_KEY is required: 32 random bytes as hex or base64 (e.g. `openssl rand -hex 32`); it encrypts webhook signing secrets")
	}
	applyMemoryLimit(cfg.Limits, a.log)
	if a.pool == nil {
		a.pools, err = database.OpenPools(ctx, database.PoolsOptions{
			URL:            cfg.DatabaseURL,
			DirectURL:      cfg.DatabaseDirectURL,
			ExecMode:       cfg.DatabaseExecMode,
			MaxConns:       cfg.DBMaxConns,
			DirectMaxConns: directMaxConns,
			Tracer:         observability.StatementTracer{}, // SQL statements per GraphQL request
			Logger:         a.log,
		})
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		a.pool, a.direct = a.pools.Pool, a.pools.Direct
		defer func() {
			if err != nil {
				a.pools.Close()
			}
		}()
	}
	if a.direct == nil {
		a.direct = a.pool
	}
	if !o.SkipMigrate {
		// Under a session advisory lock (so on the direct pool): instances starting together take
		// turns.
		if _, err := database.Migrate(ctx, a.direct, a.log); err != nil {
			return nil, err
		}
		// The read models' tables too (the projection runner would create them when it starts):
		// an API instance started before any worker answers rather than failing on a missing table.
		if err := projections.Ensure(ctx, a.pool, projections.All()); err != nil {
			return nil, err
		}
	}
	secrets, err := webhooksecrets.New(a.pool, cfg.WebhookSecretKey)
	if err != nil {
		return nil, err
	}

	a.reg = observability.NewRegistry()
	a.reg.MustRegister(observability.NewPoolCollector(a.pool, "main"))
	if a.direct != a.pool {
		a.reg.MustRegister(observability.NewPoolCollector(a.direct, "direct"))
	}
	a.leaseMetrics = cluster.NewLeaseMetrics(a.reg)
	a.nodeID = uuid.New()
	a.notifier = eventstore.NewNotifier(a.direct, a.log) // LISTEN needs a session
	a.store, err = eventstore.New(a.pool, eventstore.Options{
		Upcasters:          commands.Upcasters(),
		DisableGroupCommit: !cfg.EventstoreGroupCommit,
		NotifyPool:         a.direct, // not queued behind appends in PgBouncer
		Metrics:            eventstore.NewMetrics(a.reg),
		OnCommit:           a.notifier.Wake,
		Redact:             domain.RedactStored,
	})
	if err != nil {
		return nil, err
	}
	if err := a.store.CheckTransactionIDs(ctx); err != nil {
		return nil, err // a restored dump: appending now would hide new events from every reader
	}
	if !o.SkipMigrate {
		if err := rebuildOutdated(ctx, a.store, a.direct, a.log); err != nil {
			return nil, err
		}
	}

	seOpts := sideeffects.OptionsFrom(cfg.SideEffects)
	seOpts.Log, seOpts.Metrics, seOpts.Notifier, seOpts.Node = a.log, a.reg, a.notifier, a.nodeID
	seOpts.Webhooks.Secrets = secrets
	if !o.WithoutSideEffects {
		a.effects, err = sideeffects.NewRunner(a.pool, a.store, domain.NewRegistry(), seOpts)
		if err != nil {
			return nil, err
		}
	}
	a.readSide, err = projections.NewRunner(a.store, projections.RunnerOptions{
		Notifier: a.notifier, Metrics: projections.NewMetrics(a.reg), Logger: a.log,
	})
	if err != nil {
		return nil, err
	}
	a.commands, err = newCommands(a.log, a.store, a.reg, secrets, seOpts.Webhooks.AllowPrivateNetworks)
	if err != nil {
		return nil, err
	}

	// Live updates: this process's hub tails the log from its head (see graph/live).
	queries := projections.NewQueries(a.pool)
	hubOpts := o.Hub
	hubOpts.Logger, hubOpts.Metrics = a.log, a.reg
	if hubOpts.SlowAfter == 0 {
		hubOpts.SlowAfter = cfg.Live.SlowAfter
	}
	if hubOpts.MaxQueue == 0 {
		hubOpts.MaxQueue = cfg.Live.MaxQueue
	}
	if hubOpts.WaitWarn == 0 {
		hubOpts.WaitWarn = cfg.Live.WaitWarn
	}
	a.hub, err = live.NewHub(a.store, a.notifier, queries, hubOpts)
	if err != nil {
		return nil, err
	}
	a.applied = live.NewApplied(a.store, a.notifier, queries, a.log, hubOpts.PollInterval)
	a.server = server.New(cfg.HTTPAddr, a.log, a.pool)
	if cfg.ReadyHorizonStall > 0 {
		a.server.AddCheck("read_horizon", horizonCheck(a.store, cfg.ReadyHorizonStall))
	}
	if cfg.JWTSecret == "" && cfg.JWKSURL == "" {
		// Workers verify no tokens: a workers-only deployment needs no token settings.
		a.noAPI = errors.New("the API needs JWT_SECRET or JWT_JWKS_URL to verify tokens")
	} else {
		a.handler, err = a.newAPI(queries, secrets, o)
		if err != nil {
			return nil, err
		}
		a.server.Handle("/", withCORS(cfg.CORS, a.handler))
	}
	if cfg.MetricsAddr != "" {
		a.metrics = server.NewMetrics(cfg.MetricsAddr, a.log, a.reg)
	}
	return a, nil
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
func (a *App) newAPI(queries *projections.Queries, secrets *webhooksecrets.Store, o Overrides) (http.Handler, error) {
	cfg := a.cfg
	verifier, err := auth.NewVerifier(auth.Config{
		HS256Secret: []byte(cfg.JWTSecret),
		JWKSURL:     cfg.JWKSURL,
		Issuer:      cfg.JWTIssuer,
		Audience:    cfg.JWTAudience,
		Leeway:      TokenLeeway,
	})
	if err != nil {
		return nil, err
	}
	auditor, err := audit.New(a.store, domain.NewRegistry())
	if err != nil {
		return nil, err
	}
	inspector, err := sideeffects.NewInspector(a.pool)
	if err != nil {
		return nil, err
	}
	pool := a.pool
	resolver := &graph.Resolver{Commands: a.commands, Audit: auditor, Queries: queries,
		LiveNodes: func(ctx context.Context) ([]cluster.Node, error) { return cluster.Live(ctx, pool, 0) },
		Inspector: inspector, Statuses: func(ctx context.Context) ([]projections.Status, error) {
			return projections.Statuses(ctx, pool)
		}, Hub: a.hub, Applied: a.applied, Operators: cfg.Operators, WebhookSecrets: secrets}
	if o.Resolver != nil {
		o.Resolver(resolver)
	}
	opts := withLimits(graph.Options{
		Verifier:         verifier,
		Logger:           a.log,
		Introspection:    cfg.GraphQLIntrospection,
		Playground:       cfg.GraphQLPlayground,
		Metrics:          a.reg,
		StatementHeader:  cfg.DebugSQLHeader, // debugging only: it describes the queries behind the API
		WebsocketOrigins: cfg.WebsocketOrigins,
		UnsubscribeKey:   cfg.SideEffects.LinkKey,
		ReadCacheBytes:   int64(cfg.GraphQLReadCacheMB) << 20,
	}, cfg.Limits)
	if o.Graph != nil {
		o.Graph(&opts)
	}
	return graph.NewHandler(resolver, opts)
}

// Run runs the role's parts until ctx is cancelled or one of them fails. Call it once (a refusal
// before anything starts, such as an API role without token settings, leaves the App unused).
func (a *App) Run(ctx context.Context, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if role.api() && a.noAPI != nil {
		return a.noAPI
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.notifier.Run(gctx) })
	// This process in the cluster's registry (taskforge nodes): through the transaction pool, a
	// heartbeat being one statement.
	node := cluster.New(a.pool, a.nodeID, string(role), 0, a.log)
	g.Go(func() error { return node.Run(gctx) })
	if a.metrics != nil {
		// Off the public port: metrics describe every tenant's traffic.
		if host, _, err := net.SplitHostPort(a.cfg.MetricsAddr); err != nil || !loopback(host) {
			a.log.Warn("metrics served beyond loopback: keep METRICS_ADDR off the public network", "addr", a.cfg.MetricsAddr)
		}
		g.Go(func() error { return a.metrics.Run(gctx, a.cfg.ShutdownTimeout, nil) })
	} else {
		a.log.Info("metrics disabled (METRICS_ADDR is empty)")
	}
	if role.workers() {
		leaser, err := a.leaser()
		if err != nil {
			return err
		}
		if a.schemaLeft {
			if err := projections.Ensure(ctx, a.pool, projections.All()); err != nil {
				if ctx.Err() != nil {
					return nil // stopped while starting
				}
				return err
			}
		}
		g.Go(func() error { return leaser.Run(gctx) })
		g.Go(func() error { return a.readSide.RunStatus(gctx) })
		if a.effects != nil {
			g.Go(func() error { return a.effects.RunDelivery(gctx) })
		}
	}
	if role.api() {
		g.Go(func() error { return a.hub.Run(gctx) })
		g.Go(func() error { return a.applied.Run(gctx) })
		if a.cfg.HTTPAddr != "" {
			if a.cfg.GraphQLPlayground {
				a.log.Info("GraphQL playground", "url", "http://"+displayAddr(a.cfg.HTTPAddr)+"/")
			}
			g.Go(func() error { return a.server.Run(gctx, a.cfg.ShutdownTimeout, nil) })
		}
	}
	a.log.Info("serving", "role", role)
	err := g.Wait()
	a.log.Info("stopped", "err", err)
	return err
}

// leaser runs this worker's share of the consumers: every projection and the side-effect
// enqueuer, each owned by one worker of the cluster at a time (internal/cluster); deliveries run
// in every worker.
func (a *App) leaser() (*cluster.Leaser, error) {
	var consumers []cluster.Consumer
	for _, name := range a.readSide.Consumers() {
		consumers = append(consumers, cluster.Consumer{Name: name, Run: func(ctx context.Context, token int64) error {
			return a.readSide.RunConsumer(ctx, name, token)
		}})
	}
	var onMembers func(context.Context, []uuid.UUID)
	if a.effects != nil {
		consumers = append(consumers, cluster.Consumer{Name: sideeffects.ConsumerName, Run: a.effects.RunConsumer})
		onMembers = func(ctx context.Context, _ []uuid.UUID) {
			if err := a.effects.ReleaseClaims(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("release delivery claims of departed nodes", "err", err)
			}
		}
	}
	l, err := cluster.NewLeaser(cluster.LeaserOptions{
		Node: a.nodeID, Pool: a.direct, TTL: a.cfg.LeaseTTL, Pinned: a.cfg.WorkerConsumers,
		OnMembers: onMembers, Logger: a.log, Metrics: a.leaseMetrics,
	}, consumers)
	if err != nil {
		return nil, fmt.Errorf("consumer leases: %w", err)
	}
	return l, nil
}

// Close releases the pools New opened (not ones passed in Overrides). Call it after Run
// returns.
func (a *App) Close() {
	if a.pools != nil {
		a.pools.Close()
	}
}

// Handler is the public HTTP handler (/healthz, /readyz and the GraphQL API, when tokens can be
// verified), for a test's own server.
func (a *App) Handler() http.Handler { return a.server.Handler() }

// Pool is the database pool for transactions (DATABASE_URL).
func (a *App) Pool() *pgxpool.Pool { return a.pool }

// DirectPool is the pool for what needs a session of its own (DATABASE_DIRECT_URL): LISTEN,
// session advisory locks, migrations. It is Pool when both URLs are the same.
func (a *App) DirectPool() *pgxpool.Pool { return a.direct }

// Store is the event store.
func (a *App) Store() *eventstore.Store { return a.store }

// Commands are the command handlers the API calls.
func (a *App) Commands() *commands.Handlers { return a.commands }

// Hub is this process's live hub.
func (a *App) Hub() *live.Hub { return a.hub }

// horizonCheck fails while committed events have waited behind the read horizon longer than
// stall: writes are acknowledged, but no read model, consistent read or subscription sees them
// until the transaction holding it ends (eventstore.Horizon names it).
func horizonCheck(store *eventstore.Store, stall time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		h, err := store.Horizon(ctx)
		if err != nil {
			return err
		}
		if !h.Stalled(stall, time.Now()) {
			return nil
		}
		msg := fmt.Sprintf("%d committed events have waited %s behind an open transaction", h.Pending,
			time.Since(h.OldestPendingAt).Round(time.Second))
		if hd := h.Holder; hd != nil {
			msg += fmt.Sprintf(" (pid %d, database %s, %s for %s)", hd.PID, hd.Database, hd.State, hd.Age.Round(time.Second))
		}
		return errors.New(msg)
	}
}

// rebuildOutdated rebuilds the read models whose tables are of an older shape than this release
// reads (projections.Outdated), before the process serves: the old version keeps serving any
// process of the previous release meanwhile, and the swap is atomic. Instances starting together
// take turns (the rebuild's lock): the later ones find nothing left to do.
func rebuildOutdated(ctx context.Context, store *eventstore.Store, direct *pgxpool.Pool, log *slog.Logger) error {
	for {
		outdated, err := projections.Outdated(ctx, store.Pool(), projections.All())
		if err != nil || len(outdated) == 0 {
			return err
		}
		names := make([]string, len(outdated))
		for i, p := range outdated {
			names[i] = p.Name
		}
		log.Info("read models of an older shape: rebuilding them before serving", "projections", names)
		start := time.Now()
		_, err = projections.Rebuild(ctx, store, outdated, projections.RebuildOptions{Logger: log, LockPool: direct})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, projections.ErrRebuildRunning) {
				select { // another instance is rebuilding them: wait for its swap
				case <-time.After(time.Second):
					continue
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return fmt.Errorf("rebuild outdated read models: %w", err)
		}
		log.Info("read models rebuilt", "projections", names, "took", time.Since(start).Round(time.Millisecond))
	}
}

// Logger is the App's logger.
func (a *App) Logger() *slog.Logger { return a.log }

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
