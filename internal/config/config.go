// Package config reads the service's configuration from the environment, with defaults that work
// on a developer machine.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/taskforge/taskforge/internal/webhooksecrets"
)

// DefaultDatabaseURL is the local PostgreSQL that `make run` uses when DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/taskforge?sslmode=disable"

// execModes are the values of DATABASE_EXEC_MODE: database.ExecModes (a leaf of its own; a test
// there keeps the two lists equal). pgx's exec and simple_protocol are not among them: they send
// []byte as bytea, which breaks jsonb.
var execModes = []string{"auto", "cache_statement", "cache_describe", "describe_exec"}

// Config is the service configuration.
type Config struct {
	DatabaseURL     string        // DATABASE_URL
	DBMaxConns      int32         // DB_MAX_CONNS, default 16 (pgx's own default is 4 on 2 cores)
	HTTPAddr        string        // HTTP_ADDR, default :8080
	LogLevel        slog.Level    // LOG_LEVEL: debug, info, warn, error (default info)
	LogFormat       string        // LOG_FORMAT: text or json (default text)
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT, default 15s
	// DatabaseDirectURL (DATABASE_DIRECT_URL, default DATABASE_URL) reaches PostgreSQL itself, for
	// what needs a session of its own: LISTEN, session advisory locks, migrations. DATABASE_URL,
	// used for every transaction, may then lead through PgBouncer in transaction mode.
	DatabaseDirectURL string
	// DatabaseExecMode (DATABASE_EXEC_MODE: auto, cache_statement, cache_describe or
	// describe_exec; default auto) is how DATABASE_URL's pool sends statements. auto probes the
	// server at start and caches prepared statements unless a transaction pooler would lose them
	// (PgBouncer before 1.21), then caches descriptions only; the log says which and why.
	DatabaseExecMode string
	// ReadyHorizonStall: /readyz answers 503 once committed events have waited behind the read
	// horizon (an open transaction anywhere in the cluster) longer than this. READY_HORIZON_STALL,
	// default 2m; 0 disables.
	ReadyHorizonStall time.Duration
	// LeaseTTL (LEASE_TTL, default 5s, at least 1s) is how long a worker that stopped renewing its
	// consumer leases — cut off, paused, its connection open — keeps them; an owner whose lease
	// session is gone (killed, terminated) is replaced at once.
	LeaseTTL time.Duration
	// EventstoreGroupCommit (EVENTSTORE_GROUP_COMMIT: on or off, default on) lets concurrent
	// appends share one transaction and one commit (eventstore's group commit); off gives every
	// append a transaction of its own.
	EventstoreGroupCommit bool
	// WorkerConsumers (WORKER_CONSUMERS, comma-separated consumer names; empty: any) pins a worker
	// process to those consumers: projection names (taskforge projections status) and "sideeffects".
	WorkerConsumers []string
	JWTSecret       string // JWT_SECRET: HS256 key (≥ 32 bytes) for tokens this service mints
	JWKSURL         string // JWT_JWKS_URL: an identity provider's keys, for RS256 tokens
	JWTIssuer       string // JWT_ISSUER: required iss claim, when set
	JWTAudience     string // JWT_AUDIENCE: required aud claim, when set
	// GRAPHQL_PLAYGROUND and GRAPHQL_INTROSPECTION: on by default (development); set false in production.
	GraphQLPlayground    bool
	GraphQLIntrospection bool
	// WebsocketOrigins (GRAPHQL_WS_ORIGINS, comma-separated host patterns such as
	// "app.example.com,*.example.com") are the browser origins besides the API's own host allowed
	// to open subscription websockets.
	WebsocketOrigins []string
	// GraphQLReadCacheMB (GRAPHQL_READ_CACHE_MB, default 64; 0 disables) bounds the memory of the
	// API's response cache: queries keyed by the read models' applied positions (graph/readcache.go).
	GraphQLReadCacheMB int

	// CORS is which other origins' pages may call the API (cors.go lists its variables).
	CORS CORS

	// Webhook secrets.
	// WebhookSecretKey (WEBHOOK_SECRET_KEY: 32 bytes, 64 hex digits or base64) encrypts webhook
	// signing secrets at rest (internal/webhooksecrets). There is no built-in default: a default
	// would be a key every copy of the source knows, which is no encryption at all. `serve`
	// refuses to start without it; `make run` passes a key made once per checkout
	// (.data/webhook-secret-key).
	WebhookSecretKey []byte

	// Limits of requests, callers and the process (limits.go lists their variables).
	Limits Limits

	// SideEffects are webhook delivery's and email's settings (sideeffects.go lists their variables).
	SideEffects SideEffects

	// Live are the live hub's settings (live.go lists their variables).
	Live Live

	Operations
}

// Operations are the settings of the operator's side of the service: who sees cross-tenant
// data, and where the operational endpoints listen.
type Operations struct {
	// Operators (TASKFORGE_OPERATORS, comma-separated token subjects) may read cross-tenant
	// operational data (the projections query), as may tokens with the taskforge_role claim
	// "operator". Owning a workspace is not enough: anyone can create one.
	Operators []string
	// MetricsAddr (METRICS_ADDR, default 127.0.0.1:9090, loopback) is the listener of /metrics,
	// kept off the public port; set it empty to serve no metrics.
	MetricsAddr string
	// DebugSQLHeader (DEBUG_SQL_HEADER, default false) adds X-Sql-Statements, each request's SQL
	// statement count, to GraphQL responses: a debugging aid that tells outsiders about the
	// queries behind the API, so off unless asked for.
	DebugSQLHeader bool
}

// DefaultReadCacheMB is the response cache's default bound: hundreds of 200-task boards per
// caller for thousands of callers' repeated reads, a small share of MEMORY_LIMIT's default.
const DefaultReadCacheMB = 64

// DefaultMetricsAddr serves /metrics on loopback only.
const DefaultMetricsAddr = "127.0.0.1:9090"

// operationsFromEnv reads Operations.
func operationsFromEnv() (Operations, error) {
	o := Operations{MetricsAddr: DefaultMetricsAddr}
	for _, s := range strings.Split(os.Getenv("TASKFORGE_OPERATORS"), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if len(s) > 200 || strings.ContainsFunc(s, unicode.IsSpace) {
			return o, fmt.Errorf("TASKFORGE_OPERATORS: %q is not a token subject", s)
		}
		o.Operators = append(o.Operators, s)
	}
	if v, ok := os.LookupEnv("METRICS_ADDR"); ok {
		o.MetricsAddr = strings.TrimSpace(v) // empty: no metrics listener
	}
	if v := os.Getenv("DEBUG_SQL_HEADER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("DEBUG_SQL_HEADER: want true or false, got %q", v)
		}
		o.DebugSQLHeader = b
	}
	return o, nil
}

// FromEnv reads the configuration; it fails on values that are present but invalid.
func FromEnv() (Config, error) {
	c := Config{
		DatabaseURL:       getenv("DATABASE_URL", DefaultDatabaseURL),
		DatabaseExecMode:  getenv("DATABASE_EXEC_MODE", "auto"),
		HTTPAddr:          getenv("HTTP_ADDR", ":8080"),
		LogFormat:         strings.ToLower(getenv("LOG_FORMAT", "text")),
		ShutdownTimeout:   15 * time.Second,
		ReadyHorizonStall: 2 * time.Minute,
		LeaseTTL:          5 * time.Second,
		DBMaxConns:        16,
		JWTSecret:         os.Getenv("JWT_SECRET"),
		JWKSURL:           os.Getenv("JWT_JWKS_URL"),
		JWTIssuer:         os.Getenv("JWT_ISSUER"),
		JWTAudience:       os.Getenv("JWT_AUDIENCE"),
	}
	c.DatabaseDirectURL = getenv("DATABASE_DIRECT_URL", c.DatabaseURL)
	if !slices.Contains(execModes, c.DatabaseExecMode) {
		return c, fmt.Errorf("DATABASE_EXEC_MODE: want one of %s, got %q", strings.Join(execModes, ", "), c.DatabaseExecMode)
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"GRAPHQL_PLAYGROUND", &c.GraphQLPlayground}, {"GRAPHQL_INTROSPECTION", &c.GraphQLIntrospection}} {
		v, err := strconv.ParseBool(getenv(b.key, "true"))
		if err != nil {
			return c, fmt.Errorf("%s: want true or false, got %q", b.key, os.Getenv(b.key))
		}
		*b.dst = v
	}
	switch v := getenv("EVENTSTORE_GROUP_COMMIT", "on"); v {
	case "on", "off":
		c.EventstoreGroupCommit = v == "on"
	default:
		return c, fmt.Errorf("EVENTSTORE_GROUP_COMMIT: want on or off, got %q", v)
	}
	for _, o := range strings.Split(os.Getenv("GRAPHQL_WS_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.WebsocketOrigins = append(c.WebsocketOrigins, o)
		}
	}
	c.GraphQLReadCacheMB = DefaultReadCacheMB
	if v := os.Getenv("GRAPHQL_READ_CACHE_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<20 {
			return c, fmt.Errorf("GRAPHQL_READ_CACHE_MB: want a number of megabytes from 0 (off) to 1048576, got %q", v)
		}
		c.GraphQLReadCacheMB = n
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		return c, fmt.Errorf("JWT_SECRET: want at least 32 bytes, got %d", len(c.JWTSecret))
	}
	if v := os.Getenv("DB_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return c, fmt.Errorf("DB_MAX_CONNS: want a number from 1 to 1000, got %q", v)
		}
		c.DBMaxConns = int32(n)
	}
	if err := c.LogLevel.UnmarshalText([]byte(getenv("LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("LOG_FORMAT: want text or json, got %q", c.LogFormat)
	}
	if v := os.Getenv("WEBHOOK_SECRET_KEY"); v != "" {
		key, err := webhooksecrets.ParseKey(v)
		if err != nil {
			return c, fmt.Errorf("WEBHOOK_SECRET_KEY: %w", err) // never echo the value
		}
		c.WebhookSecretKey = key
	}
	if v := os.Getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("SHUTDOWN_TIMEOUT: want a positive duration such as 15s, got %q", v)
		}
		c.ShutdownTimeout = d
	}
	if v := os.Getenv("READY_HORIZON_STALL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("READY_HORIZON_STALL: want a duration such as 2m (0 disables), got %q", v)
		}
		c.ReadyHorizonStall = d
	}
	if v := os.Getenv("LEASE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return c, fmt.Errorf("LEASE_TTL: want a duration of at least 1s such as 5s, got %q", v)
		}
		c.LeaseTTL = d
	}
	for _, name := range strings.Split(os.Getenv("WORKER_CONSUMERS"), ",") {
		if name = strings.TrimSpace(name); name != "" && !slices.Contains(c.WorkerConsumers, name) {
			c.WorkerConsumers = append(c.WorkerConsumers, name)
		}
	}
	cors, err := corsFromEnv()
	if err != nil {
		return c, err
	}
	c.CORS = cors
	ops, err := operationsFromEnv()
	if err != nil {
		return c, err
	}
	c.Operations = ops
	limits, err := readLimits()
	if err != nil {
		return c, err
	}
	c.Limits = limits
	if c.SideEffects, err = sideEffectsFromEnv(); err != nil {
		return c, err
	}
	c.SideEffects.LinkKey = deriveLinkKey(c.WebhookSecretKey)
	if c.Live, err = liveFromEnv(); err != nil {
		return c, err
	}
	return c, nil
}

// Logger builds the structured logger the configuration asks for.
func (c Config) Logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
