package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "graph")) }

// secret signs the tests' tokens: the test APIs' (apptest).
var secret = []byte(apptest.Secret)

// api is a running service (app.New, as `taskforge serve` builds it) over a test database.
type api struct {
	t     *testing.T
	url   string // the GraphQL endpoint
	es    *eventstore.Store
	h     *commands.Handlers
	hub   *live.Hub
	dbURL string
	srv   *apptest.API
}

// setup serves the API over a database of the test's own (the projections' checkpoints and the
// global log are per database), with a notifier, a projection runner keeping the read models up
// to date and a live hub for subscriptions, as `taskforge serve` does, without side effects
// (package sideeffects tests those). with adjusts the resolver.
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
	return start(t, apptest.Options{Overrides: overrides(hubOptions, options, with...)})
}

// peer is another server "process" over the same database: its own pool, notifier, live hub and
// HTTP server, but no projection runner (the first one's keeps the read models up to date), as
// an API-only instance of a scaled-out deployment.
func (a *api) peer(with ...func(*graph.Resolver)) *api {
	a.t.Helper()
	return wrap(a.t, a.srv.Peer(apptest.Options{Overrides: overrides(live.HubOptions{}, nil, with...)}))
}

// start runs the service as o says and wraps it for the tests.
func start(t *testing.T, o apptest.Options) *api {
	t.Helper()
	return wrap(t, apptest.New(t, o))
}

func wrap(t *testing.T, s *apptest.API) *api {
	return &api{t: t, url: s.GraphQL, es: s.Store(), h: s.Commands(), hub: s.Hub(), dbURL: s.DatabaseURL, srv: s}
}

// overrides are the tests' adjustments of the service: no side effects, a consistency wait long
// enough for a loaded machine, and the API's options the tests assume — the production cost
// limit, a smaller depth, body and subscription budget (then options) — and the resolver
// adjusted by with.
func overrides(hubOptions live.HubOptions, options func(*graph.Options), with ...func(*graph.Resolver)) app.Overrides {
	return app.Overrides{
		Hub:                hubOptions,
		WithoutSideEffects: true,
		Resolver: func(r *graph.Resolver) {
			r.ConsistencyWait = 30 * time.Second
			for _, f := range with {
				f(r)
			}
		},
		Graph: func(o *graph.Options) {
			o.MaxDepth, o.MaxBodyBytes, o.MaxSubscriptions = 8, 64<<10, 4
			if options != nil {
				options(o)
			}
		},
	}
}

func token(t *testing.T, user string, ttl time.Duration) string {
	t.Helper()
	return apptest.Token(t, user, ttl)
}

type (
	gqlError = apptest.Error
	response = apptest.Response
)

func (a *api) do(tok, query string, vars map[string]any) response {
	a.t.Helper()
	return a.srv.Do(tok, query, vars)
}

func (a *api) raw(tok string, body []byte, headers ...string) response {
	a.t.Helper()
	return a.srv.Raw(tok, body, headers...)
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
		{"unknown enum", owner, `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "x@y.z", role: GOD}) { id } }`, "GRAPHQL_VALIDATION_FAILED", 200},
		{"malformed query", owner, `mutation { renameWorkspace(`, "GRAPHQL_PARSE_FAILED", 200},
		{"unknown field", owner, `{ secrets }`, "GRAPHQL_VALIDATION_FAILED", 200},
	}
	// Documents that do not parse or validate answer 200 in application/json, as GraphQL over
	// HTTP asks (graph/http.go); in application/graphql-response+json, 400 (TestGraphQLOverHTTP).
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

	// Too complex: 300 aliases of one list field. Too deep: introspection nests as far as one asks
	// (beyond the standard query's depth, which is served).
	// Both are valid documents, which the query cache keeps: the limits apply to every
	// operation, the second one served from the cache too.
	var q strings.Builder
	q.WriteString("{")
	for i := range 300 {
		fmt.Fprintf(&q, " a%d: workspaces { nodes { projects { nodes { id } } } }", i)
	}
	q.WriteString(" }")
	deep := `{ __schema { types { fields { type {` + strings.Repeat(" ofType {", 20) + " name" + strings.Repeat(" }", 20) + ` } } } } }`
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
