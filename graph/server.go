package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/graph/generated"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/observability"
	"github.com/taskforge/taskforge/sideeffects"
)

// Options are the API's limits and switches.
type Options struct {
	Verifier      *auth.Verifier
	Logger        *slog.Logger
	Introspection bool // schema introspection (on in development)
	Playground    bool // GraphiQL playground at GET / (on in development)
	MaxComplexity int  // default 200000 (cost model of limits.go)
	// MaxIntrospectionCost bounds the cost of an operation's introspection fields, apart from
	// MaxComplexity (default: 1.5 × the standard introspection query on this schema: one copy,
	// not two; introspectionAllowance).
	MaxIntrospectionCost int
	MaxDepth             int           // default 12
	MaxBodyBytes         int64         // default 1 MiB
	MaxQueryString       int           // bytes of a GET request's query string (default 16 KiB)
	OperationTimeout     time.Duration // default 15 s
	// Metrics, when set, receives request durations and SQL statements per request.
	Metrics prometheus.Registerer
	// StatementHeader adds X-Sql-Statements to responses: the statements the request ran, as
	// counted by observability.StatementTracer on the pool (development and tests).
	StatementHeader bool
	// MaxSubscriptions bounds the subscriptions of one websocket connection (default 32).
	MaxSubscriptions int
	// KeepAlive is the interval of the websocket's keep-alive messages (default 15 s).
	KeepAlive time.Duration
	// WebsocketOrigins are the host patterns (path.Match syntax, e.g. "app.example.com",
	// "localhost:*") of other origins whose pages may open a websocket. Same-origin pages
	// always may; by default no other origin (browsers send Origin; CSRF-like misuse of a
	// header-authenticated socket is refused).
	WebsocketOrigins []string

	// Limits of one request's work and of each caller's (limits.go, ratelimit.go).
	MaxRows          int        // rows one response may serve (default 50000; negative: no limit)
	MaxResponseBytes int64      // bytes of one HTTP response (default 16 MiB; negative: no limit)
	RateLimits       RateLimits // on by default

	// ReadCacheBytes bounds the response cache of queries keyed by position (readcache.go);
	// 0 disables it.
	ReadCacheBytes int64

	// UnsubscribeKey verifies the one-click unsubscribe links of emails (config.SideEffects.LinkKey),
	// served at sideeffects.UnsubscribePath; empty: not served.
	UnsubscribeKey []byte
}

func (o *Options) validate() error {
	if o.Verifier == nil {
		return errors.New("graph: a token verifier is required")
	}
	if o.Logger == nil {
		return errors.New("graph: a logger is required")
	}
	if o.MaxComplexity == 0 {
		o.MaxComplexity = 200_000
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = 12
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxQueryString == 0 {
		o.MaxQueryString = 16 << 10
	}
	if o.OperationTimeout == 0 {
		o.OperationTimeout = 15 * time.Second
	}
	if o.MaxSubscriptions == 0 {
		o.MaxSubscriptions = 32
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.MaxRows == 0 {
		o.MaxRows = 50_000
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = 16 << 20
	}
	return o.RateLimits.validate(o.MaxComplexity)
}

// NewHandler returns the HTTP handler of the GraphQL API: POST and GET /graphql (http.go; GET /
// for the embedded playground when enabled, playground.go) behind authentication, body-size,
// query-string and time limits, and subscriptions
// over a websocket on /graphql (graphql-transport-ws, and the older graphql-ws), served by
// r.Hub.
func NewHandler(r *Resolver, o Options) (http.Handler, error) {
	if r == nil || r.Commands == nil || r.Audit == nil {
		return nil, errors.New("graph: resolver needs command handlers and the audit service")
	}
	if r.Queries == nil || r.Inspector == nil || r.Statuses == nil {
		return nil, errNoReadSide
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	cfg := generated.Config{Resolvers: r}
	cfg.Directives.Authenticated = func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
		if _, ok := auth.PrincipalFrom(ctx); !ok {
			return nil, auth.ErrUnauthenticated
		}
		return next(ctx)
	}
	cfg.Directives.HasRole = r.hasRole
	cfg.Directives.Operator = r.operator
	srv := handler.New(generated.NewExecutableSchema(cfg))
	srv.AddTransport(transport.Websocket{
		Implementation: closeCodes{transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: o.WebsocketOrigins},
		}},
		KeepAlivePingInterval: o.KeepAlive, // graphql-ws keep-alives
		PingPongInterval:      o.KeepAlive, // graphql-transport-ws pings; a dead peer is closed
		InitTimeout:           10 * time.Second,
		InitFunc:              wsInit(o.Verifier, o.MaxSubscriptions),
		ErrorFunc: func(ctx context.Context, err error) {
			o.Logger.DebugContext(ctx, "websocket", "err", err)
		},
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{}) // queries only (queryOverGET)
	srv.AddTransport(transport.POST{})
	// Parsed and validated documents are kept by query text, so a client's repeated query skips
	// both (they were ~7% of a read's CPU). Only valid documents are kept; what depends on the
	// request — the complexity and depth limits, introspection, @authenticated and @hasRole —
	// runs for every operation, cached or not.
	srv.SetQueryCache(queryCache{lru.New[*ast.QueryDocument](queryCacheSize)})
	srv.Use(extension.AutomaticPersistedQuery{Cache: apqCache{lru.New[string](apqCacheSize)}})
	if o.Introspection {
		srv.Use(extension.Introspection{})
	}
	rateLimits := newRateLimits(o.RateLimits)
	srv.Use(&costLimit{limit: o.MaxComplexity, introspection: o.MaxIntrospectionCost, rate: rateLimits})
	srv.Use(depthLimit(o.MaxDepth))
	cache, err := newReadCache(r, rateLimits, o.ReadCacheBytes, o.Metrics)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		srv.Use(readCacheExtension{cache}) // after the limits: a refused operation is no plan
	}
	// Fresh dataloaders for every response (a query's one, or each event of a subscription), so
	// that a cache never serves a later response: loaders.For(ctx) in resolvers.
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		return next(loaders.With(ctx, loaders.New(r.Queries)))
	})
	present := errorPresenter(o.Logger)
	srv.AroundResponses(limitResponses(o.MaxRows, present))
	srv.AroundResponses(deliverSubscriptionEnd)
	srv.AroundFields(stopWhenOver)
	srv.SetErrorPresenter(present)
	srv.AroundOperations(answerTimeouts(o.Logger, present))
	srv.SetRecoverFunc(recoverFunc(o.Logger))

	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", rateLimits.failedAuth(withRequest(o, m, withCloseSlot(rateLimits.middleware(o.MaxResponseBytes, cache.middleware(queryOverGET(srv)))))))
	mux.Handle("GET /sync/{workspaceId}", rateLimits.failedAuth(withRequest(o, m, withCloseSlot(rateLimits.middleware(o.MaxResponseBytes, syncHandler(srv))))))
	if o.Playground {
		playground(mux)
	}
	if len(o.UnsubscribeKey) > 0 {
		mux.Handle(sideeffects.UnsubscribePath, unsubscribe(r.Queries, o.UnsubscribeKey, o.Logger))
	}
	return mux, nil
}

// The query cache's bounds: documents kept, and the longest query text kept (a body may hold up
// to MaxBodyBytes of query; at most queryCacheSize × maxCachedQuery bytes of text are kept).
const (
	queryCacheSize = 1000
	maxCachedQuery = 16 << 10
)

// queryCache is gqlgen's LRU that does not keep the documents of long queries.
type queryCache struct {
	*lru.LRU[*ast.QueryDocument]
}

func (c queryCache) Add(ctx context.Context, query string, doc *ast.QueryDocument) {
	if len(query) <= maxCachedQuery {
		c.LRU.Add(ctx, query, doc)
	}
}

// withRequest authenticates the request, bounds its body and duration, and tags its context with
// request and correlation ids for the commands' event metadata and its consistency token header.
func withRequest(o Options, m *metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cacheControl) // errors included
		if r.ContentLength > o.MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest,
				fmt.Sprintf("request body larger than %d bytes", o.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
		if !checkQueryString(w, r, o.MaxQueryString) || !readUnknownLength(w, r, o.MaxBodyBytes) {
			return
		}

		ctx := r.Context()
		p, ok, err := o.Verifier.FromRequest(r)
		if err != nil {
			o.Logger.InfoContext(ctx, "rejected token", "err", err)
			writeError(w, http.StatusUnauthorized, CodeUnauthenticated, "invalid or expired token")
			return
		}
		if ok {
			ctx = auth.WithPrincipal(ctx, p)
		}
		info := commands.RequestInfo{RequestID: commands.RequestID(r.Header.Get("X-Request-Id"))}
		if c, err := uuid.Parse(r.Header.Get("X-Correlation-Id")); err == nil {
			info.CorrelationID = c
		}
		w.Header().Set("X-Request-Id", info.RequestID)
		ctx = commands.WithRequest(ctx, info)
		ctx = withState(ctx, r.Header.Get(ConsistencyHeader))
		if r.Header.Get("Upgrade") != "" {
			// A websocket lives as long as its subscriptions: no operation timeout, and the
			// writer unwrapped (the upgrade hijacks it). Subscriptions bound their own work.
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		ctx, statements := observability.WithStatementCount(ctx)
		ctx, cancel := context.WithTimeout(ctx, o.OperationTimeout)
		defer cancel()
		start := time.Now()
		next.ServeHTTP(&statementHeader{ResponseWriter: w, on: o.StatementHeader, n: statements}, r.WithContext(ctx))
		m.observe(time.Since(start), statements.Load())
		o.Logger.DebugContext(ctx, "graphql request", "request_id", info.RequestID,
			"duration", time.Since(start), "sql_statements", statements.Load())
	})
}

// statementHeader writes X-Sql-Statements when the response starts: gqlgen writes the whole
// response at once, after every resolver (and so every statement) has run.
type statementHeader struct {
	http.ResponseWriter
	on      bool
	n       *observability.StatementCount
	written bool
}

func (s *statementHeader) WriteHeader(code int) {
	if s.on && !s.written {
		s.Header().Set("X-Sql-Statements", strconv.FormatInt(s.n.Load(), 10))
	}
	s.written = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *statementHeader) Write(b []byte) (int, error) {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

type metrics struct {
	duration   prometheus.Histogram
	statements prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "taskforge_graphql_request_duration_seconds", Help: "GraphQL request latency.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}),
		statements: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "taskforge_graphql_sql_statements", Help: "SQL statements run per GraphQL request.",
			Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.statements} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(d time.Duration, statements int64) {
	if m == nil {
		return
	}
	m.duration.Observe(d.Seconds())
	m.statements.Observe(float64(statements))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []*gqlerror.Error{{
		Message: msg, Extensions: map[string]any{"code": code},
	}}})
}

// depthLimit refuses operations nested deeper than max (complexity alone lets a narrow but deep
// query through). Introspection (__schema, __type) is measured on its own against
// maxIntrospectionDepth: the standard introspection query of graphql-js nests 13 levels (its
// TypeRef fragment follows ofType eight times) and its work is bounded by the schema, not by
// data, so a limit sized for data would refuse every standard client.
type depthLimit int

// maxIntrospectionDepth bounds the nesting of introspection fields: the standard query with
// room to spare, a runaway ofType chain refused.
const maxIntrospectionDepth = 20

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit(0)

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0, int(d), false); depth > int(d) {
		return depthError(depth, int(d))
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0, maxIntrospectionDepth, true); depth > maxIntrospectionDepth {
		return depthError(depth, maxIntrospectionDepth)
	}
	return nil
}

func depthError(depth, limit int) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf("operation is nested %d levels deep; the limit is %d", depth, limit),
		Extensions: map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"},
	}
}

// selectionDepth measures field nesting, following fragments; it stops counting past limit, so a
// cyclic or huge document costs at most limit levels of work. Without introspection, an
// introspection field counts as one level whatever it selects; with it, only introspection
// fields' subtrees are measured.
func selectionDepth(set ast.SelectionSet, depth, limit int, introspection bool) int {
	if depth > limit {
		return depth
	}
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			switch {
			case s.Name == "__schema" || s.Name == "__type":
				if introspection {
					d = selectionDepth(s.SelectionSet, depth+1, limit, false)
				} else {
					d = depth + 1
				}
			case introspection:
				// Data: measured by the other pass (__schema and __type are root fields only).
			default:
				d = selectionDepth(s.SelectionSet, depth+1, limit, false)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth, limit, introspection)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, depth, limit, introspection)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
