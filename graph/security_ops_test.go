package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/auth"
)

// TestOperatorsOnlySeeProjections: projections carries global positions and counts over every
// tenant. Owning a workspace (anyone can create one) is not enough: FORBIDDEN, no data. A subject
// configured as an operator (TASKFORGE_OPERATORS reaches Resolver.Operators) or a token with the
// operator role claim may read it, and its lastError carries the failure's class, never the
// values the handler's error quoted.
func TestOperatorsOnlySeeProjections(t *testing.T) {
	t.Parallel()
	opID := "ops-" + t.Name()
	a := setup(t, func(r *graph.Resolver) { r.Operators = []string{opID} })
	tm := newTeam(t, a, "OP")
	const q = `{ projections { name state position lagEvents lastError } }`

	for _, tok := range []string{tm.alice, tm.bob} { // owner, member
		r := a.do(tok, q, nil)
		require.Equal(t, "FORBIDDEN", code(t, r))
		require.Empty(t, r.Data["projections"]) // data is null
	}
	require.Equal(t, "UNAUTHENTICATED", code(t, a.do("", q, nil)))

	// Once the runner has applied the team's events it leaves the checkpoints alone (an advance
	// clears last_error), so the failure written below stays.
	require.Eventually(t, func() bool {
		var lags []struct{ LagEvents int }
		a.ok(token(t, opID, time.Hour), `{ projections { lagEvents } }`, nil, &lags)
		for _, l := range lags {
			if l.LagEvents != 0 {
				return false
			}
		}
		return len(lags) > 0
	}, 10*time.Second, 20*time.Millisecond)
	// A failure recorded as the projection runner does, quoting another tenant's data.
	_, err := a.es.Pool().Exec(context.Background(), `UPDATE projection_checkpoints SET last_error = $1
		WHERE name = (SELECT min(name) FROM projection_checkpoints)`,
		`event 0b0e5d0c-3c5a-4a55-9d8a-1c1f0e0e0e0e (task.created at position 42): insert task: ERROR: duplicate key value `+
			`violates unique constraint "tasks_pkey" Key (title)=(Acquire Globex secretly) (SQLSTATE 23505)`)
	require.NoError(t, err)

	var sts []struct {
		Name, State, Position string
		LastError             *string
	}
	claim, err := auth.MintHS256(secret, auth.Principal{UserID: "claim-" + t.Name(), Roles: []string{auth.RoleOperator}},
		time.Hour, time.Now(), "", "")
	require.NoError(t, err)
	for _, tok := range []string{token(t, opID, time.Hour), claim} {
		a.ok(tok, q, nil, &sts)
		require.NotEmpty(t, sts)
		var lastErrors []string
		for _, s := range sts {
			if s.LastError != nil {
				lastErrors = append(lastErrors, *s.LastError)
			}
		}
		require.Equal(t, []string{"task.created: projection handler failed (SQLSTATE 23505)"}, lastErrors)
	}
}

// logBuffer is a slog destination the test reads while the server writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged lines that contain every one of words.
func (b *logBuffer) lines(words ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		match := l != ""
		for _, w := range words {
			match = match && strings.Contains(l, w)
		}
		if match {
			out = append(out, l)
		}
	}
	return out
}

// serveWith serves a set-up API with options o instead of the tests' (a verifier of the tests'
// secret, and a logger writing to the returned buffer at debug level, unless o has one).
func serveWith(t *testing.T, o graph.Options) (*api, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a := setupOptions(t, live.HubOptions{}, func(g *graph.Options) {
		v := g.Verifier
		*g = o
		g.Verifier = v
	})
	return a, logs
}

// TestStatementHeaderOffByDefault: X-Sql-Statements describes the queries behind the API; it is
// a debugging aid (DEBUG_SQL_HEADER), absent unless asked for.
func TestStatementHeaderOffByDefault(t *testing.T) {
	t.Parallel()
	a, _ := serveWith(t, graph.Options{})
	tok := token(t, "header-"+t.Name(), time.Hour)
	a.ok(tok, `mutation { createWorkspace(input: {name: "H"}) { id } }`, nil, &result{})
	r := a.do(tok, `{ workspaces { nodes { id } } }`, nil)
	require.Empty(t, r.Errors)
	require.Empty(t, r.Statements)
}

// futureToken is a consistency token the read models will not reach: a query given it waits
// until its context ends.
const futureToken = "999999999.999999999"

// TestLogLevelsTellTheTruth: a client that goes away (a cancelled request, a dropped
// subscription socket) is not an error of the server's: no ERROR line. An operation that runs out
// of the operation timeout is: one WARN line, with its request id and operation name.
func TestLogLevelsTellTheTruth(t *testing.T) {
	t.Parallel()
	a, logs := serveWith(t, graph.Options{OperationTimeout: 3 * time.Second})
	tm := newTeam(t, a, "LG")
	waitQ := `query Waiting($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`
	vars := map[string]any{"ws": tm.ws, "tok": futureToken}

	// A client that gives up while its query waits.
	body, _ := json.Marshal(map[string]any{"query": waitQ, "variables": vars})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tm.alice)
	_, err = http.DefaultClient.Do(req)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.Eventually(t, func() bool { return len(logs.lines("level=DEBUG", "graphql: cancelled")) > 0 },
		10*time.Second, 5*time.Millisecond, "the server saw the cancellation")

	// A subscriber whose socket drops (once the read models know bob is a member).
	a.ok(tm.bob, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { id } }`,
		map[string]any{"ws": tm.ws, "tok": tm.tok}, &struct{}{})
	c := a.srv.MustDialWS(tm.bob)
	s := c.Subscribe(taskChangedQ, map[string]any{"p": tm.project})
	waitSubscriptions(t, a.hub, 1)
	a.ok(tm.alice, `mutation($p: ID!) { createTask(input: {projectId: $p, title: "seen"}) { id } }`,
		map[string]any{"p": tm.project}, &result{})
	var seen map[string]any
	s.Data(&seen)
	require.NoError(t, c.CloseWith(websocket.StatusGoingAway, "tab closed"))
	waitSubscriptions(t, a.hub, 0)
	require.Empty(t, logs.lines("level=ERROR"), "a client going away is not a server error")

	// An operation that hits the timeout: TIMEOUT for the client, one WARN line for operators.
	r := a.raw(tm.alice, body, "X-Request-Id", "req-"+t.Name())
	require.Equal(t, "TIMEOUT", code(t, r))
	warns := logs.lines("level=WARN")
	require.Len(t, warns, 1, "%s", warns)
	require.Contains(t, warns[0], "req-"+t.Name())
	require.Contains(t, warns[0], "operation=Waiting")
	require.Empty(t, logs.lines("level=ERROR"))
}

// TestOperatorsOnlySeeClusterNodes: the processes (hosts, pids, versions) are the operators'.
func TestOperatorsOnlySeeClusterNodes(t *testing.T) {
	t.Parallel()
	opID := "ops-" + t.Name()
	a := setup(t, func(r *graph.Resolver) { r.Operators = []string{opID} })
	tm := newTeam(t, a, "CN")
	const q = `{ clusterNodes { id role host pid version startedAt lastHeartbeat consumers { name token acquiredAt } } }`
	for _, tok := range []string{tm.alice, tm.bob} {
		r := a.do(tok, q, nil)
		require.Equal(t, "FORBIDDEN", code(t, r))
		require.Empty(t, r.Data["clusterNodes"])
	}
	op := token(t, opID, time.Hour)
	require.Eventually(t, func() bool { // the test server registers itself as it starts
		var nodes []struct {
			Role      string
			Pid       int
			Consumers []struct{ Name string }
		}
		a.ok(op, q, nil, &nodes)
		self, owned := false, map[string]int{}
		for _, n := range nodes {
			self = self || n.Pid == os.Getpid()
			for _, c := range n.Consumers {
				owned[c.Name]++
			}
		}
		for name, n := range owned {
			require.Equal(t, 1, n, "%s listed under two processes", name)
		}
		return self && len(owned) > 0 // and the leases its workers hold
	}, 10*time.Second, 20*time.Millisecond)
}
