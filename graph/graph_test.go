package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/audit"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/internal/observability"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "graph")) }

var secret = []byte("graph-test-secret-0123456789abcdef")

type api struct {
	t     *testing.T
	url   string
	es    *eventstore.Store
	h     *commands.Handlers
	hub   *live.Hub
	dbURL string
}

// setup serves the API over a database of the test's own (the projections' checkpoints and the
// global log are per database), with a notifier, a projection runner keeping the read models up
// to date and a live hub for subscriptions, as `taskforge serve` does. with adjusts the resolver.
func setup(t *testing.T, with ...func(*graph.Resolver)) *api {
	t.Helper()
	return setupHub(t, live.HubOptions{}, with...)
}

// setupHub is setup with the live hub's options.
func setupHub(t *testing.T, hubOptions live.HubOptions, with ...func(*graph.Resolver)) *api {
	t.Helper()
	return setupOptions(t, hubOptions, nil, with...)
}

// setupOptions is setupHub with the API's options adjusted by options (limits' tests).
func setupOptions(t *testing.T, hubOptions live.HubOptions, options func(*graph.Options), with ...func(*graph.Resolver)) *api {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	pool, err := database.Open(ctx, url, database.PoolOptions{Tracer: observability.StatementTracer{}})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	notifier := eventstore.NewNotifier(pool, nil)
	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(), OnCommit: notifier.Wake})
	require.NoError(t, err)
	require.NoError(t, projections.Ensure(ctx, pool, projections.All()))
	runner, err := projections.NewRunner(es, projections.RunnerOptions{Notifier: notifier})
	require.NoError(t, err)
	background(t, notifier.Run, runner.Run)
	a := serveOptions(t, es, notifier, hubOptions, options, with...)
	a.dbURL = url
	return a
}

// peer is another server "process" over the same database: its own pool, notifier, live hub and
// HTTP server, but no projection runner (the first one's keeps the read models up to date), as
// an API-only instance of a scaled-out deployment.
func (a *api) peer(with ...func(*graph.Resolver)) *api {
	t := a.t
	t.Helper()
	pool, err := database.Open(context.Background(), a.dbURL, database.PoolOptions{Tracer: observability.StatementTracer{}})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	notifier := eventstore.NewNotifier(pool, nil)
	es, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(), OnCommit: notifier.Wake})
	require.NoError(t, err)
	background(t, notifier.Run)
	p := serve(t, es, notifier, live.HubOptions{}, with...)
	p.dbURL = a.dbURL
	return p
}

// background runs fs until the test ends, then checks that they stopped cleanly.
func background(t *testing.T, fs ...func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(fs))
	for _, f := range fs {
		go func() { done <- f(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range fs {
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("background work stopped: %v", err)
			}
		}
	})
}

// serve starts the API (command handlers, read side, live hub) over es on an httptest server.
func serve(t *testing.T, es *eventstore.Store, notifier *eventstore.Notifier, hubOptions live.HubOptions,
	with ...func(*graph.Resolver)) *api {
	t.Helper()
	return serveOptions(t, es, notifier, hubOptions, nil, with...)
}

func serveOptions(t *testing.T, es *eventstore.Store, notifier *eventstore.Notifier, hubOptions live.HubOptions,
	options func(*graph.Options), with ...func(*graph.Resolver)) *api {
	t.Helper()
	pool := es.Pool()
	log := slog.New(slog.DiscardHandler)
	secrets, err := webhooksecrets.New(pool, bytes.Repeat([]byte{7}, webhooksecrets.KeySize))
	require.NoError(t, err)
	rt, err := commands.NewRuntime(es, domain.NewRegistry(), commands.Options{WebhookSecrets: secrets})
	require.NoError(t, err)
	h, err := commands.NewHandlers(rt, log, nil)
	require.NoError(t, err)
	v, err := auth.NewVerifier(auth.Config{HS256Secret: secret})
	require.NoError(t, err)
	au, err := audit.New(es, domain.NewRegistry())
	require.NoError(t, err)
	inspector, err := sideeffects.NewInspector(pool)
	require.NoError(t, err)
	queries := projections.NewQueries(pool)
	hubOptions.Logger = log
	hub, err := live.NewHub(es, notifier, queries, hubOptions)
	require.NoError(t, err)
	background(t, hub.Run)
	r := &graph.Resolver{Commands: h, Audit: au, Queries: queries, Inspector: inspector,
		Statuses:        func(ctx context.Context) ([]projections.Status, error) { return projections.Statuses(ctx, pool) },
		ConsistencyWait: 10 * time.Second, Hub: hub, WebhookSecrets: secrets}
	for _, f := range with {
		f(r)
	}
	// The production cost limit; no rate limits (tests share principals' names across requests
	// at a pace no client has).
	o := graph.Options{
		Verifier: v, Logger: log, Introspection: true, MaxDepth: 8, MaxBodyBytes: 64 << 10,
		StatementHeader: true, MaxSubscriptions: 4, RateLimits: graph.RateLimits{Disabled: true},
	}
	if options != nil {
		options(&o)
	}
	handler, err := graph.NewHandler(r, o)
	require.NoError(t, err)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &api{t: t, url: srv.URL + "/graphql", es: es, h: h, hub: hub}
}

func token(t *testing.T, user string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	if ttl < 0 { // an expired token: issued long enough ago
		now, ttl = now.Add(2*ttl), -ttl
	}
	tok, err := auth.MintHS256(secret, auth.Principal{UserID: user, Email: user + "@example.com", Name: user},
		ttl, now, "", "")
	require.NoError(t, err)
	return tok
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type response struct {
	Status     int
	Statements string                     // X-Sql-Statements
	Data       map[string]json.RawMessage `json:"data"`
	Errors     []gqlError                 `json:"errors"`
}

func (a *api) do(tok, query string, vars map[string]any) response {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return a.raw(tok, body)
}

func (a *api) raw(tok string, body []byte, headers ...string) response {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r response
	require.NoError(a.t, json.Unmarshal(b, &r), string(b))
	r.Status = resp.StatusCode
	r.Statements = resp.Header.Get("X-Sql-Statements")
	return r
}

func (a *api) ok(tok, query string, vars map[string]any, out any) {
	a.t.Helper()
	r := a.do(tok, query, vars)
	require.Empty(a.t, r.Errors, "%s", query)
	for _, v := range r.Data {
		require.NoError(a.t, json.Unmarshal(v, out))
		return
	}
}

func code(t *testing.T, r response) string {
	t.Helper()
	require.NotEmpty(t, r.Errors)
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

type result struct {
	ID               string `json:"id"`
	Version          int64  `json:"version"`
	ConsistencyToken string `json:"consistencyToken"`
}

func TestMutationsRunCommands(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice := token(t, "alice-"+t.Name(), time.Hour)
	var ws result
	a.ok(alice, `mutation { createWorkspace(input: {name: "Acme"}) { id version consistencyToken } }`, nil, &ws)
	require.NotEmpty(t, ws.ConsistencyToken)
	var p result
	a.ok(alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Taskforge", key: "TF"}) { id version } }`,
		map[string]any{"ws": ws.ID}, &p)
	var task struct {
		result
		Number int    `json:"number"`
		Key    string `json:"key"`
	}
	a.ok(alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Ship it", priority: HIGH, labels: ["api"]}) { id version number key } }`,
		map[string]any{"p": p.ID}, &task)
	require.Equal(t, "TF-1", task.Key)
	var moved result
	a.ok(alice, `mutation($t: ID!, $v: Int) { changeTaskStatus(input: {taskId: $t, status: "in_progress", expectedVersion: $v}) { id version } }`,
		map[string]any{"t": task.ID, "v": task.Version}, &moved)
	require.Equal(t, task.Version+1, moved.Version)

	// A stale expected version: CONFLICT with the current version, nothing appended.
	r := a.do(alice, `mutation($t: ID!, $v: Int) { changeTaskStatus(input: {taskId: $t, status: "in_review", expectedVersion: $v}) { id } }`,
		map[string]any{"t": task.ID, "v": task.Version})
	require.Equal(t, "CONFLICT", code(t, r))
	require.EqualValues(t, moved.Version, r.Errors[0].Extensions["currentVersion"])
	v, err := a.es.StreamVersion(context.Background(), domain.TaskStream(mustUUID(t, task.ID)))
	require.NoError(t, err)
	require.Equal(t, moved.Version, v)

	var me struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	a.ok(alice, `{ me { id email } }`, nil, &me)
	require.Equal(t, "alice-"+t.Name(), me.ID)

	// The statement counter sees the request's SQL: none for me (token only), some for a command.
	require.Equal(t, "0", a.do(alice, `{ me { id } }`, nil).Statements)
	renamed := a.do(alice, `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: "Acme 2"}) { id } }`,
		map[string]any{"ws": ws.ID})
	require.Empty(t, renamed.Errors)
	require.NotContains(t, []string{"", "0"}, renamed.Statements)
}

func TestTypedErrorsChangeNothing(t *testing.T) {
	t.Parallel()
	a := setup(t)
	owner, mallory := token(t, "owner-"+t.Name(), time.Hour), token(t, "mallory-"+t.Name(), time.Hour)
	var ws result
	a.ok(owner, `mutation { createWorkspace(input: {name: "Private"}) { id version } }`, nil, &ws)
	before, err := a.es.StreamVersion(context.Background(), domain.WorkspaceStream(mustUUID(t, ws.ID)))
	require.NoError(t, err)

	cases := []struct {
		name, tok, query, code string
		status                 int
	}{
		{"no token", "", `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: "x"}) { id } }`, "UNAUTHENTICATED", 200},
		{"expired token", token(t, "owner-"+t.Name(), -time.Minute), `{ me { id } }`, "UNAUTHENTICATED", 401},
		{"forged token", forged(t), `{ me { id } }`, "UNAUTHENTICATED", 401},
		{"not a member", mallory, `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: "mine now"}) { id } }`, "NOT_FOUND", 200},
		{"invalid id", owner, `mutation { renameWorkspace(input: {workspaceId: "../etc", name: "x"}) { id } }`, "INVALID_INPUT", 200},
		{"invalid name", owner, `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: ""}) { id } }`, "INVALID_INPUT", 200},
		{"unknown enum", owner, `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "x@y.z", role: GOD}) { id } }`, "GRAPHQL_VALIDATION_FAILED", 422},
		{"malformed query", owner, `mutation { renameWorkspace(`, "GRAPHQL_PARSE_FAILED", 422},
		{"unknown field", owner, `{ secrets }`, "GRAPHQL_VALIDATION_FAILED", 422},
	}
	for _, c := range cases {
		r := a.do(c.tok, c.query, map[string]any{"ws": ws.ID})
		require.Equal(t, c.code, code(t, r), c.name)
		require.Equal(t, c.status, r.Status, c.name)
		for _, e := range r.Errors {
			require.NotContains(t, strings.ToLower(e.Message), "sql", c.name)
			require.NotContains(t, e.Message, "goroutine", c.name)
		}
	}
	after, err := a.es.StreamVersion(context.Background(), domain.WorkspaceStream(mustUUID(t, ws.ID)))
	require.NoError(t, err)
	require.Equal(t, before, after, "no rejected request appended anything")
}

func TestLimits(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "limits-"+t.Name(), time.Hour)

	// Too large a body: refused before parsing.
	big := fmt.Sprintf(`{"query":"{ me { id } }","variables":{"pad":"%s"}}`, strings.Repeat("x", 70<<10))
	r := a.raw(tok, []byte(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	require.Equal(t, "BAD_REQUEST", code(t, r))

	// Too complex: 300 aliases of one list field. Too deep: introspection nests as far as one asks.
	// Both are valid documents, which the query cache keeps: the limits apply to every
	// operation, the second one served from the cache too.
	var q strings.Builder
	q.WriteString("{")
	for i := range 300 {
		fmt.Fprintf(&q, " a%d: workspaces { projects { id } }", i)
	}
	q.WriteString(" }")
	deep := `{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }`
	for range 2 {
		r = a.do(tok, q.String(), nil)
		require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", code(t, r))
		r = a.do(tok, deep, nil)
		require.Equal(t, "DEPTH_LIMIT_EXCEEDED", code(t, r))
	}

	// A cached document is authorized for each request: the same query, served to its caller,
	// then without a token.
	me := `{ me { id } }`
	var got struct{ ID string }
	a.ok(tok, me, nil, &got)
	require.Equal(t, "limits-"+t.Name(), got.ID)
	r = a.do("", me, nil)
	require.Equal(t, "UNAUTHENTICATED", code(t, r))
	require.Nil(t, r.Data["me"])
}

func forged(t *testing.T) string {
	tok, err := auth.MintHS256([]byte("not-the-secret-but-32-bytes-long!!"), auth.Principal{UserID: "owner"}, time.Hour, time.Now(), "", "")
	require.NoError(t, err)
	return tok
}
