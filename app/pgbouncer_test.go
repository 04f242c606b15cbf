package app_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// logBuffer is a log destination that the App's goroutines may share.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestGraphQLThroughPgBouncer: two processes' worth of the service with DATABASE_URL through
// PgBouncer in transaction mode and DATABASE_DIRECT_URL straight to PostgreSQL, as configured in
// production (exec mode auto). Migrations run on the direct URL; a mutation on one, a consistent
// query on the other; and a subscription on the other receives the change: its hub polls once an
// hour, so only the NOTIFY sent through PgBouncer and heard by LISTEN on the direct URL can wake it.
func TestGraphQLThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pgtest.PgBouncerURL(t, pgtest.URL()) // skips without a PgBouncer
	direct := pgtest.NewDatabase(t)
	pooled := pgtest.PgBouncerURL(t, direct)
	urls := func(c *config.Config) {
		c.DatabaseURL, c.DatabaseDirectURL, c.DatabaseExecMode = pooled, direct, "auto"
	}
	var logs logBuffer
	writer := apptest.New(t, apptest.Options{DatabaseURL: direct, Role: app.RoleAll, Config: urls, Overrides: app.Overrides{
		WithoutSideEffects: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}})
	require.Equal(t, pooled, writer.Pool().Config().ConnString(), "transactions go through PgBouncer")
	require.Equal(t, direct, writer.DirectPool().Config().ConnString(), "sessions go to PostgreSQL")
	require.Contains(t, logs.String(), "exec_mode="+pgtest.ExecMode(t), "the exec mode chosen is logged")
	require.Contains(t, logs.String(), "reason=", "with its reason")

	reader := writer.Peer(apptest.Options{Role: app.RoleAPI, Config: urls, Overrides: app.Overrides{
		Hub:      live.HubOptions{PollInterval: time.Hour},
		Resolver: func(r *graph.Resolver) { r.ConsistencyWait = 30 * time.Second }}})

	tok := apptest.Token(t, "ada-"+t.Name(), time.Hour)
	ok := func(api *apptest.API, query string, vars map[string]any, field string, out any) {
		t.Helper()
		r := api.Do(tok, query, vars)
		require.Empty(t, r.Errors)
		require.NoError(t, json.Unmarshal(r.Data[field], out))
	}
	var ws struct{ ID, ConsistencyToken string }
	ok(writer, `mutation { createWorkspace(input: {name: "Bounced"}) { id consistencyToken } }`, nil, "createWorkspace", &ws)
	// Read-your-writes on the other process: it waits for the writer's projections.
	var got struct{ Name string }
	ok(reader, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name } }`,
		map[string]any{"ws": ws.ID, "tok": ws.ConsistencyToken}, "workspace", &got)
	require.Equal(t, "Bounced", got.Name)

	var p struct{ ID, ConsistencyToken string }
	ok(writer, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "P", key: "PB"}) { id consistencyToken } }`,
		map[string]any{"ws": ws.ID}, "createProject", &p)
	// The subscription authorizes against the reader's read models: wait until they hold the project.
	var project struct{ Key string }
	ok(reader, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { key } }`,
		map[string]any{"p": p.ID, "tok": p.ConsistencyToken}, "project", &project)
	require.Equal(t, "PB", project.Key)
	c := reader.MustDialWS(tok)
	sub := c.Subscribe(`subscription($p: ID!) { taskChanged(projectId: $p) { key title } }`, map[string]any{"p": p.ID})
	require.Eventually(t, func() bool { return reader.Hub().Subscriptions() == 1 }, 10*time.Second, 2*time.Millisecond)
	var task struct{ ID string }
	ok(writer, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "Through the bouncer"}) { id } }`,
		map[string]any{"p": p.ID}, "createTask", &task)
	var change struct{ Key, Title string }
	sub.Data(&change)
	require.Equal(t, "PB-1", change.Key)
	require.Equal(t, "Through the bouncer", change.Title)
	require.False(t, strings.Contains(logs.String(), "level=ERROR"), logs.String())
}
