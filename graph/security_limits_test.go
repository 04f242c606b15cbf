package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/generated"
	"github.com/taskforge/taskforge/graph/live"
)

// TestEveryListFieldHasACost walks the schema: a list-returning field without a bound in the
// cost model would cost one whatever it returns, the hole the amplification queries went through.
func TestEveryListFieldHasACost(t *testing.T) {
	t.Parallel()
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	costed := graph.ListCostFields()
	lists := 0
	for _, typ := range schema.Types {
		if strings.HasPrefix(typ.Name, "__") || typ.BuiltIn || typ.Kind != ast.Object {
			continue
		}
		for _, f := range typ.Fields {
			key := typ.Name + "." + f.Name
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if f.Type.Elem == nil {
				// A page: its connection's edges are the list, counted by the page size here.
				page := strings.HasSuffix(f.Type.Name(), "Connection")
				require.Equal(t, page, costed[key], "%s: a page needs a cost, any other single value none", key)
				delete(costed, key)
				continue
			}
			lists++
			require.True(t, costed[key], "list field %s has no bound in graph/limits.go listCosts", key)
			delete(costed, key)
		}
	}
	require.Empty(t, costed, "list costs for fields the schema does not have")
	require.Greater(t, lists, 10, "the walk saw the schema's lists")
}

// amplification are the queries of issue 9: lists nested through project → board → tasks,
// multiplied by aliases and fragments. Each stays within depth 12.
var amplification = map[string]string{
	"nested": `query($w: ID!) { a0: tasks(workspaceId: $w, first: 200) { edges { node { project { board { tasks {
		project { board { tasks { id } } } } } } } } } }`,
	"aliases ×10": `query($w: ID!) {` + repeat(10, func(i int) string {
		return fmt.Sprintf(` a%d: tasks(workspaceId: $w, first: 200) { edges { node { project { board { tasks { id } } } } } }`, i)
	}) + ` }`,
	"fragments": `query($w: ID!) { ...Page ...Page } fragment Page on Query { tasks(workspaceId: $w, first: 200) {
		edges { node { ...Deep } } } } fragment Deep on Task { project { board { tasks { project { board { tasks { id } } } } } } }`,
	"inline fragments": `query($w: ID!) { ... on Query { tasks(workspaceId: $w, first: 200) { edges { node { ... on Task {
		project { ... on Project { board { tasks { ... on Task { project { board { tasks { id } } } } } } } } } } } } } }`,
	"page size from a variable": `query($w: ID!, $n: Int) { tasks(workspaceId: $w, first: $n) { edges { node { project { board {
		tasks { project { board { tasks { id } } } } } } } } } }`,
	"default page size": `query($w: ID!) { tasks(workspaceId: $w) { edges { node { comments { nodes { mentions } } project { board {
		tasks { comments { nodes { id } } } } } } } } }`,
	"workspaces' boards":           `{ workspaces { nodes { projects { nodes { board { tasks { comments { nodes { body } } } } } } } } }`,
	"workspaces' boards, backward": `{ workspaces(last: 200) { edges { node { projects(last: 200) { nodes { board { tasks { id } } } } } } } }`,
}

func repeat(n int, f func(int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(f(i))
	}
	return b.String()
}

// limitsTeam is a team with a few tasks on its board, for the limits' tests.
func limitsTeam(t *testing.T, a *api, tasks int) team {
	t.Helper()
	tm := newTeam(t, a, "LM")
	alice := domain.Actor{UserID: domain.UserID(tm.aliceID), Email: tm.aliceID + "@example.com", EmailVerified: true, DisplayName: tm.aliceID}
	var last commands.TaskResult
	for i := range tasks {
		var err error
		last, err = a.h.CreateTask.Handle(context.Background(), commands.CreateTask{Actor: alice,
			ProjectID: mustUUID(t, tm.project), Title: "task " + strconv.Itoa(i), Description: strings.Repeat("d", 100)})
		require.NoError(t, err)
	}
	if tasks > 0 {
		tm.tok = graph.ConsistencyToken(last.Result)
	}
	// Wait for the read models (a server with a short operation timeout answers TIMEOUT or
	// STALE while a loaded machine catches up: ask again).
	require.Eventually(t, func() bool {
		r := a.do(tm.alice, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { key } }`,
			map[string]any{"p": tm.project, "tok": tm.tok})
		return len(r.Errors) == 0
	}, 60*time.Second, 50*time.Millisecond)
	return tm
}

const boardRead = `query($p: ID!) { project(id: $p) { key name openCount board { status name tasks { id key title status
	priority labels assignee { displayName } commentCount } } } }`

func TestAmplificationRefusedBeforeSQL(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxDepth = 12 }) // production depth
	tm := limitsTeam(t, a, 3)
	for name, q := range amplification {
		r := a.do(tm.alice, q, map[string]any{"w": tm.ws, "n": 200})
		require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", code(t, r), name)
		require.Equal(t, "0", r.Statements, "%s: refused before any resolver", name)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, name)
		ext := r.Errors[0].Extensions
		require.EqualValues(t, 200_000, ext["limit"], name)
		require.Greater(t, ext["cost"], float64(200_000), name)
		require.Contains(t, r.Errors[0].Message, "200000", name)
		require.Nil(t, r.Data, name)
		t.Logf("%s: cost %.0f", name, ext["cost"])
	}
	// The workspaces' boards with smaller pages: the client lowers the cost with first (and last).
	for _, q := range []string{
		`{ workspaces(first: 10) { nodes { projects(first: 10) { nodes { board { tasks { comments(first: 5) { nodes { body } } } } } } } } }`,
		`{ workspaces(last: 10) { edges { node { members(first: 20) { nodes { role } } projects(last: 10) { edges { node { board {
			tasks { id } } } } } } } } }`,
	} {
		r := a.do(tm.alice, q, nil)
		require.Empty(t, r.Errors, q)
	}
	// A legitimate board read, and a page of 200 tasks with their project, are served.
	r := a.do(tm.alice, boardRead, map[string]any{"p": tm.project})
	require.Empty(t, r.Errors)
	require.NotEqual(t, "0", r.Statements)
	r = a.do(tm.alice, `query($w: ID!) { tasks(workspaceId: $w, first: 200) { edges { node { key title labels
		assignee { displayName } project { key name } } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"w": tm.ws})
	require.Empty(t, r.Errors)
}

// TestCostModel checks the arithmetic on small limits: objects cost 1, scalars nothing, a page
// multiplies its items by first, an alias adds a copy, a fragment counts at each spread, and a
// cost past the integers saturates.
func TestCostModel(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
		o.MaxComplexity, o.MaxIntrospectionCost, o.MaxDepth = 20, 20, 100
	})
	tok := token(t, "cost-"+t.Name(), time.Hour)
	cost := func(q string) float64 {
		t.Helper()
		r := a.do(tok, q, map[string]any{"w": "00000000-0000-0000-0000-000000000000"})
		if len(r.Errors) == 0 || code(t, r) != "COMPLEXITY_LIMIT_EXCEEDED" {
			return 0 // within the limit
		}
		require.Equal(t, "0", r.Statements)
		return r.Errors[0].Extensions["cost"].(float64)
	}
	// tasks: 1 + first × (edges: 1 + (node: 1 + id: 0)) = 1 + 10 × 2
	page := `tasks(workspaceId: $w, first: 10) { edges { node { id title } } }`
	require.Equal(t, 21.0, cost(`query($w: ID!) { `+page+` }`))
	require.Zero(t, cost(`query($w: ID!) { tasks(workspaceId: $w, first: 9) { edges { node { id } } } }`), "19")
	require.Equal(t, 22.0, cost(`query($w: ID!) { `+page+` me { id } }`)) // + me: 1
	require.Equal(t, 42.0, cost(`query($w: ID!) { a: `+page+` b: `+page+` }`))
	require.Equal(t, 63.0, cost(`query($w: ID!) { ...P ...P ...P } fragment P on Query { `+page+` }`))
	// edges 1 + node (1 + project 1 + comments (1 + 200 × 1)), inline fragments and spreads alike.
	require.Equal(t, 1+10*(1+203.0), cost(`query($w: ID!) { tasks(workspaceId: $w, first: 10) { edges { node { ... on Task { id } ...T } } } }
		fragment T on Task { project { id } comments(first: 200) { nodes { id } } }`))
	// A list of scalars is one value: labels add 1 to each task.
	require.Equal(t, 31.0, cost(`query($w: ID!) { tasks(workspaceId: $w, first: 10) { edges { node { id labels } } } }`))

	// Introspection's lists are bounded by the schema: its types, the most fields of one.
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	require.Equal(t, float64(1+1+len(schema.Types)), cost(`{ __schema { types { name } } }`))

	// Ten boards deep: 200^10 overflows int64, and saturates instead of wrapping to a small cost.
	deep := `{ id }`
	for range 10 {
		deep = `{ project { board { tasks ` + deep + ` } } }`
	}
	c := cost(`query($w: ID!) { tasks(workspaceId: $w, first: 200) { edges { node ` + deep + ` } } }`)
	require.Equal(t, float64(math.MaxInt64), c)

	// Fragments spreading fragments twice, 40 deep: 2^40 spreads if walked naively; the cost
	// walk takes each fragment once (the answer comes back at once, saturated cost or not).
	var doc strings.Builder
	doc.WriteString(`query { ...F0 }`)
	for i := range 40 {
		fmt.Fprintf(&doc, ` fragment F%d on Query { ...F%d ...F%d }`, i, i+1, i+1)
	}
	doc.WriteString(` fragment F40 on Query { me { id } }`)
	start := time.Now()
	r := a.do(tok, doc.String(), nil)
	require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", code(t, r))
	require.Equal(t, float64(int64(1)<<40), r.Errors[0].Extensions["cost"]) // me { id } = 1, 2^40 times
	t.Logf("fragment doubling ×40 refused in %s", time.Since(start))
}

func TestRowBudget(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxRows = 10 })
	tm := limitsTeam(t, a, 4)
	// One board of 4 tasks: within 10 rows.
	var got struct {
		Board []struct{ Tasks []struct{ ID string } }
	}
	a.ok(tm.alice, `query($p: ID!) { project(id: $p) { board { tasks { id } } } }`, map[string]any{"p": tm.project}, &got)
	// Three copies of the board (12 rows; the board is loaded once, but served three times).
	q := `query($p: ID!) { a: project(id: $p) { board { tasks { id } } } b: project(id: $p) { board { tasks { id } } }
		c: project(id: $p) { board { tasks { id } } } }`
	r := a.do(tm.alice, q, map[string]any{"p": tm.project})
	require.Len(t, r.Errors, 1, "one error, not one per list")
	require.Equal(t, "ROW_LIMIT_EXCEEDED", code(t, r))
	require.EqualValues(t, 10, r.Errors[0].Extensions["limit"])
	require.Nil(t, r.Data)

	// A mutation's answer is kept past the budget: what was written shows, the read does not.
	r = a.do(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "one more"}) { id key
		task { project { a: board { tasks { id } } b: board { tasks { id } } c: board { tasks { id } } } } } }`,
		map[string]any{"p": tm.project})
	require.Equal(t, "ROW_LIMIT_EXCEEDED", code(t, r))
	var created struct {
		ID, Key string
		Task    *struct{}
	}
	require.NoError(t, json.Unmarshal(r.Data["createTask"], &created))
	require.Equal(t, "LM-5", created.Key)
	require.Nil(t, created.Task)
}

func TestResponseSizeCap(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxResponseBytes = 2000 })
	tm := limitsTeam(t, a, 20) // 20 descriptions of 100 bytes
	a.ok(tm.alice, `query($p: ID!) { project(id: $p) { key } }`, map[string]any{"p": tm.project}, &struct{}{})
	r := a.do(tm.alice, `query($p: ID!) { project(id: $p) { board { tasks { id description } } } }`, map[string]any{"p": tm.project})
	require.Equal(t, "RESPONSE_TOO_LARGE", code(t, r))
	require.EqualValues(t, 2000, r.Errors[0].Extensions["limit"])
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Nil(t, r.Data)
}

// TestTimeoutStopsSQL: an operation past its timeout answers TIMEOUT at the deadline, and its
// SQL is cancelled rather than left running (the request's context reaches pgx). The read
// query is held by a lock on the read table, as a slow query would be.
func TestTimeoutStopsSQL(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.OperationTimeout = 2 * time.Second })
	tm := limitsTeam(t, a, 1)
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, a.dbURL)
	require.NoError(t, err)
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE rm_tasks IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	start := time.Now()
	r := a.do(tm.alice, `query($w: ID!) { tasks(workspaceId: $w) { edges { node { id } } } }`, map[string]any{"w": tm.ws})
	took := time.Since(start)
	require.Equal(t, "TIMEOUT", code(t, r))
	require.Less(t, took, 5*time.Second, "answered at the deadline, not when the lock went")

	// The blocked statement was cancelled: no other session waits on the lock (the cancel
	// request is asynchronous: poll with a deadline).
	waiting := func() int {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return waiting() == 0 }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, tx.Rollback(ctx))
	// The pool is healthy afterwards.
	a.ok(tm.alice, `query($w: ID!) { tasks(workspaceId: $w) { edges { node { id } } } }`, map[string]any{"w": tm.ws}, &struct{}{})
}

// introspectionQuery is GraphiQL's.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } } }`

// TestIntrospectionWithinDefaultLimit: the playground's introspection query is served under the
// default cost limit (its lists are bounded by the schema's largest type, so it grows with the
// schema: when this fails, the bounds or the limit need a decision), and aliased copies are not.
func TestIntrospectionWithinDefaultLimit(t *testing.T) {
	t.Parallel()
	// GraphiQL's query is 13 levels deep: introspection is measured apart from the depth limit.
	a := setup(t)
	tok := token(t, "introspect-"+t.Name(), time.Hour)
	r := a.do(tok, introspectionQuery, nil)
	require.Empty(t, r.Errors)
	twice := strings.Replace(introspectionQuery, "types { ...FullType }", "types { ...FullType } again: types { ...FullType }", 1)
	r = a.do(tok, twice, nil)
	require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", code(t, r))
	t.Logf("introspection: twice the types cost %.0f", r.Errors[0].Extensions["cost"])
}
