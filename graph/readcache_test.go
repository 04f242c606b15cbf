package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
)

// setupCached serves the API with the response cache on (readcache.go); the other tests run
// without it, as their statement counts assume.
func setupCached(t *testing.T) *api {
	t.Helper()
	return setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.ReadCacheBytes = 16 << 20 })
}

const cachedBoard = `query($p: ID!) { project(id: $p) { name openCount overdueCount
	board { status tasks { key title assignee { displayName } } } } }`

// cachedBoard1 serves the API with the response cache on, with a team (key: its project's) whose
// board holds one task, titled title.
func cachedBoard1(t *testing.T, key, title string) (*api, team, result) {
	t.Helper()
	a := setupCached(t)
	tm := newTeam(t, a, key)
	var task result
	a.ok(tm.alice, `mutation($p: ID!, $title: String!) { createTask(input: {projectId: $p, title: $title}) { id consistencyToken } }`,
		map[string]any{"p": tm.project, "title": title}, &task)
	return a, tm, task
}

// hit is a response served from the cache: its one statement is the state read (no token).
func hit(r response) bool { return r.Status == 200 && len(r.Errors) == 0 && r.Statements == "1" }

// TestTokenWaitPastItsBound: a read whose consistency token the read models do not reach in time
// answers STALE when the consistency wait runs out first, TIMEOUT when the operation's own time
// does; with the cache on (the first request of a query waits in the cache's extension, before
// gqlgen executes; a known one in its middleware) and off, for the header and consistentWith.
// Before, with the cache on, a wait that used the whole operation timeout left gqlgen nothing to
// answer: a 200 with the body null, which a client reads as an empty answer at least as new as its
// write. The token names a transaction the log will not reach within the test (its head's + 10^9).
func TestTokenWaitPastItsBound(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cache           int64
		wait, opTimeout time.Duration
		want            string
	}{
		{16 << 20, 30 * time.Second, time.Second, "TIMEOUT"},
		{0, 30 * time.Second, time.Second, "TIMEOUT"},
		{16 << 20, 300 * time.Millisecond, 15 * time.Second, "STALE"},
		{0, 300 * time.Millisecond, 15 * time.Second, "STALE"},
	} {
		a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
			o.ReadCacheBytes, o.OperationTimeout = c.cache, c.opTimeout
		}, func(r *graph.Resolver) { r.ConsistencyWait = c.wait })
		tm := newTeam(t, a, "TO")
		var task result
		a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "one"}) { id consistencyToken } }`,
			map[string]any{"p": tm.project}, &task)
		head, err := eventstore.ParsePosition(task.ConsistencyToken)
		require.NoError(t, err)
		future := eventstore.GlobalPosition{TransactionID: head.TransactionID + 1e9, Position: head.Position}.String()
		vars := map[string]any{"p": tm.project}
		for i := range 2 { // the cache's first sight of the query, then a known one
			r := a.raw(tm.alice, body(t, cachedBoard, vars), graph.ConsistencyHeader, future)
			require.Equal(t, c.want, code(t, r), "%+v, request %d: %+v", c, i+1, r)
			r = a.do(tm.alice, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { name } }`,
				map[string]any{"p": tm.project, "tok": future})
			require.Equal(t, c.want, code(t, r), "consistentWith, %+v, request %d: %+v", c, i+1, r)
		}
		// Nothing is kept of them: the board is served as it is.
		require.Empty(t, a.raw(tm.alice, body(t, cachedBoard, vars), graph.ConsistencyHeader, task.ConsistencyToken).Errors)
	}
}

func TestReadCacheServesRepeatsUntilTheBoardChanges(t *testing.T) {
	t.Parallel()
	a, tm, task := cachedBoard1(t, "RC", "one")
	vars := map[string]any{"p": tm.project}

	first := a.raw(tm.alice, body(t, cachedBoard, vars), graph.ConsistencyHeader, task.ConsistencyToken)
	require.Empty(t, first.Errors)
	second := a.do(tm.alice, cachedBoard, vars)
	require.True(t, hit(second), "statements %s", second.Statements)
	require.Equal(t, first.Data, second.Data)

	// A change to the board moves the workspace's position: the next read with its token sees it.
	third, _ := editThenRead(t, a, tm.alice, task.ID, "two", vars)
	require.Contains(t, string(third.Data["project"]), `"title":"two"`)

	// Errors, mutations and uncacheable roots are never served from the cache.
	for range 2 {
		r := a.do(tm.alice, `query($p: ID!) { project(id: $p) { name } }`, map[string]any{"p": "00000000-0000-4000-8000-000000000000"})
		require.Equal(t, "NOT_FOUND", code(t, r))
		r = a.do(tm.alice, `query($ws: ID!) { notifications(workspaceId: $ws) { nodes { id } } }`, map[string]any{"ws": tm.ws})
		require.Empty(t, r.Errors)
		require.False(t, hit(r))
	}

	// The overdue count moves with the clock, not with events: a due date passing is a new state.
	due := time.Now().Add(1500 * time.Millisecond).UTC()
	var soon result
	a.ok(tm.alice, `mutation($p: ID!, $due: DueDate) { createTask(input: {projectId: $p, title: "soon", dueDate: $due}) { consistencyToken } }`,
		map[string]any{"p": tm.project, "due": due.Format(time.RFC3339Nano)}, &soon)
	overdue := func() int {
		var p struct{ OverdueCount int }
		r := a.raw(tm.alice, body(t, cachedBoard, vars), graph.ConsistencyHeader, soon.ConsistencyToken)
		require.Empty(t, r.Errors)
		require.NoError(t, json.Unmarshal(r.Data["project"], &p))
		return p.OverdueCount
	}
	if n := overdue(); time.Now().Before(due) { // answered before the due date: not overdue yet
		require.Equal(t, 0, n)
	}
	require.Eventually(t, func() bool { return overdue() == 1 }, 10*time.Second, 20*time.Millisecond)
}

// TestCachedReadNeverCrossesAPosition: writers change the board while readers read it through the
// cache, all with the same document and variables (one request key), many times over. Each
// writer reads right after its write with the write's token (the header: the request key stays
// the same) and must see its own write; a cache keyed without the position would serve the
// first board it stored. Background readers without tokens keep filling and hitting the cache.
func TestCachedReadNeverCrossesAPosition(t *testing.T) {
	t.Parallel()
	a := setupCached(t)
	tm := newTeam(t, a, "PX")
	const writers, readers, rounds = 3, 3, 25
	tasks := make([]result, writers)
	for i := range tasks {
		a.ok(tm.alice, `mutation($p: ID!, $title: String!) { createTask(input: {projectId: $p, title: $title}) { id consistencyToken } }`,
			map[string]any{"p": tm.project, "title": fmt.Sprintf("w%d-start", i)}, &tasks[i])
	}
	vars := map[string]any{"p": tm.project}
	// The readers below read without a token: first let the read models hold the board.
	require.Empty(t, a.raw(tm.alice, body(t, cachedBoard, vars), graph.ConsistencyHeader, tasks[writers-1].ConsistencyToken).Errors)
	type board struct {
		Project struct {
			Board []struct {
				Tasks []struct{ Key, Title string }
			}
		}
	}
	titles := func(r response) map[string]bool {
		var b board
		require.NoError(t, json.Unmarshal(mustJSON(t, r.Data), &b))
		out := map[string]bool{}
		for _, c := range b.Project.Board {
			for _, task := range c.Tasks {
				out[task.Title] = true
			}
		}
		return out
	}

	stop := make(chan struct{})
	var hits atomic.Int64
	var wg, bg sync.WaitGroup
	for range readers {
		bg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := a.do(tm.alice, cachedBoard, vars)
				require.Empty(t, r.Errors)
				if hit(r) {
					hits.Add(1)
				}
			}
		})
	}
	for i := range writers {
		wg.Go(func() {
			for n := range rounds {
				title := fmt.Sprintf("w%d-%d", i, n)
				var w result
				a.ok(tm.alice, `mutation($t: ID!, $title: String!) { editTask(input: {taskId: $t, title: $title}) { consistencyToken } }`,
					map[string]any{"t": tasks[i].ID, "title": title}, &w)
				for range 2 { // the second read may be a hit: it must still hold the write
					r := a.raw(tm.alice, body(t, cachedBoard, vars), graph.ConsistencyHeader, w.ConsistencyToken)
					require.Empty(t, r.Errors)
					require.True(t, titles(r)[title], "read with the token of %q did not see it", title)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	require.Positive(t, hits.Load(), "the readers were never served from the cache: the test proved nothing")
}

// TestReadCacheTenants: a cached answer is the caller's own. Another user sending the very same
// request gets their own answer (NOT_FOUND outside the workspace), and a member removed from the
// workspace is not served the board cached for them before.
func TestReadCacheTenants(t *testing.T) {
	t.Parallel()
	a := setupCached(t)
	tm := newTeam(t, a, "TN")
	mallory := token(t, "mallory-"+t.Name(), time.Hour)
	var created result
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "secret plan"}) { id consistencyToken } }`,
		map[string]any{"p": tm.project}, &created)
	vars := map[string]any{"p": tm.project}
	for range 2 {
		for _, tok := range []string{tm.alice, tm.bob} {
			r := a.raw(tok, body(t, cachedBoard, vars), graph.ConsistencyHeader, created.ConsistencyToken)
			require.Empty(t, r.Errors)
			require.Contains(t, string(r.Data["project"]), "secret plan")
		}
	}
	require.True(t, hit(a.do(tm.alice, cachedBoard, vars)))
	require.True(t, hit(a.do(tm.bob, cachedBoard, vars)))
	for range 2 {
		r := a.do(mallory, cachedBoard, vars)
		require.Equal(t, "NOT_FOUND", code(t, r))
		require.NotContains(t, string(mustJSON(t, r.Data)), "secret plan")
	}

	var removed result
	a.ok(tm.alice, `mutation($ws: ID!, $bob: ID!) { removeMember(input: {workspaceId: $ws, userId: $bob}) { consistencyToken } }`,
		map[string]any{"ws": tm.ws, "bob": tm.bobID}, &removed)
	r := a.raw(tm.bob, body(t, cachedBoard, vars), graph.ConsistencyHeader, removed.ConsistencyToken)
	require.Equal(t, "NOT_FOUND", code(t, r))
	r = a.do(tm.bob, cachedBoard, vars)
	require.Equal(t, "NOT_FOUND", code(t, r))
	require.NotContains(t, string(mustJSON(t, r.Data)), "secret plan")
	r = a.do(tm.alice, cachedBoard, vars) // alice's board is hers still
	require.Empty(t, r.Errors)
	require.Contains(t, string(r.Data["project"]), "secret plan")
}

// TestReadCacheIsScopedToTheWorkspaceRead: a board's entry is keyed by its own workspace's state
// only (its plan learns the workspace from the first answer), so a change in another workspace of
// the caller leaves it served (before: every membership's positions were in the key, and a member
// of hundreds of workspaces read them all on every hit), while a change of its own workspace and
// the caller's removal from it are not crossed.
func TestReadCacheIsScopedToTheWorkspaceRead(t *testing.T) {
	t.Parallel()
	a, tm, task := cachedBoard1(t, "SC", "here")
	var other struct{ ID string }
	a.ok(tm.alice, `mutation { createWorkspace(input: {name: "Elsewhere"}) { id } }`, nil, &other)
	var otherProject result
	a.ok(tm.alice, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Elsewhere", key: "EL"}) { id consistencyToken } }`,
		map[string]any{"ws": other.ID}, &otherProject)

	vars := map[string]any{"p": tm.project}
	first := a.raw(tm.alice, body(t, cachedBoard, vars), graph.ConsistencyHeader, otherProject.ConsistencyToken)
	require.Empty(t, first.Errors)
	require.True(t, hit(a.do(tm.alice, cachedBoard, vars)), "stored under its workspace's state")

	// Work in the other workspace, read with its token (applied before the state is read).
	for i := range 3 {
		var elsewhere result
		a.ok(tm.alice, `mutation($p: ID!, $title: String!) { createTask(input: {projectId: $p, title: $title}) { consistencyToken } }`,
			map[string]any{"p": otherProject.ID, "title": fmt.Sprintf("there %d", i)}, &elsewhere)
		a.ok(tm.alice, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { openCount } }`,
			map[string]any{"p": otherProject.ID, "tok": elsewhere.ConsistencyToken}, &struct{}{})
		r := a.do(tm.alice, cachedBoard, vars)
		require.True(t, hit(r), "a change elsewhere leaves the board's entry: statements %s", r.Statements)
		require.Equal(t, first.Data, r.Data)
	}

	// A change of the board's own workspace is seen at once.
	r, edited := editThenRead(t, a, tm.alice, task.ID, "changed here", vars)
	require.False(t, hit(r))
	require.Contains(t, string(r.Data["project"]), "changed here")

	// bob's entry, scoped the same way, is not served once he is removed from the workspace.
	for range 2 {
		r = a.raw(tm.bob, body(t, cachedBoard, vars), graph.ConsistencyHeader, edited)
		require.Empty(t, r.Errors)
	}
	require.True(t, hit(a.do(tm.bob, cachedBoard, vars)))
	var removed result
	a.ok(tm.alice, `mutation($ws: ID!, $bob: ID!) { removeMember(input: {workspaceId: $ws, userId: $bob}) { consistencyToken } }`,
		map[string]any{"ws": tm.ws, "bob": tm.bobID}, &removed)
	r = a.raw(tm.bob, body(t, cachedBoard, vars), graph.ConsistencyHeader, removed.ConsistencyToken)
	require.Equal(t, "NOT_FOUND", code(t, r))
	require.NotContains(t, string(mustJSON(t, r.Data)), "changed here")
}

// editThenRead renames a task as user, then reads the cached board with the edit's token; it
// returns the read and the token.
func editThenRead(t *testing.T, a *api, user, task, title string, vars map[string]any) (response, string) {
	t.Helper()
	var edited result
	a.ok(user, `mutation($t: ID!, $title: String!) { editTask(input: {taskId: $t, title: $title}) { consistencyToken } }`,
		map[string]any{"t": task, "title": title}, &edited)
	r := a.raw(user, body(t, cachedBoard, vars), graph.ConsistencyHeader, edited.ConsistencyToken)
	require.Empty(t, r.Errors)
	return r, edited.ConsistencyToken
}

func body(t *testing.T, query string, vars map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	return b
}

// cancelOnWrite is a client that goes away as soon as its answer is written: net/http cancels the
// request's context when the connection closes (an HTTP/1.1 client that closes its connection
// once it has the body, or a browser that navigated away).
type cancelOnWrite struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (w cancelOnWrite) Write(b []byte) (int, error) {
	n, err := w.ResponseRecorder.Write(b)
	w.cancel()
	return n, err
}

// TestReadCacheKeepsTheAnswerOfAClientGone: a miss's answer is kept for the next reader even when
// its own client left once it was written (the state read that decides it must not use the
// request's context, canceled by then).
func TestReadCacheKeepsTheAnswerOfAClientGone(t *testing.T) {
	t.Parallel()
	a := setupCached(t)
	tm := newTeam(t, a, "RG")
	vars := map[string]any{"p": tm.project}
	// Wait for the project in a request of another shape (not cached under the board's key).
	a.ok(tm.alice, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { id } }`,
		map[string]any{"p": tm.project, "tok": tm.tok}, &struct{}{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(body(t, cachedBoard, vars)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tm.alice)
	w := cancelOnWrite{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
	a.srv.Handler().ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `"project":{`)
	require.Error(t, ctx.Err(), "the client is gone")

	r := a.do(tm.alice, cachedBoard, vars)
	require.True(t, hit(r), "statements %s", r.Statements)
}
