package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
)

// limited is a response with the rate limits' headers.
type limited struct {
	response
	header http.Header
}

func (a *api) limited(tok, query string) limited {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, err := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r limited
	require.NoError(a.t, json.Unmarshal(b, &r.response), string(b))
	r.Status, r.Statements, r.header = resp.StatusCode, resp.Header.Get("X-Sql-Statements"), resp.Header
	return r
}

func headerInt(t *testing.T, r limited, name string) int {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get(name))
	require.NoError(t, err, "%s: %q", name, r.header.Get(name))
	return n
}

func requireRateLimited(t *testing.T, r limited) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "RATE_LIMITED", code(t, r.response))
	require.GreaterOrEqual(t, headerInt(t, r, "Retry-After"), 1)
	require.GreaterOrEqual(t, r.Errors[0].Extensions["retryAfter"], 1.0)
	require.Contains(t, r.Errors[0].Message, "retry in")
}

func TestRateLimitRequestsPerPrincipal(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
		o.RateLimits = graph.RateLimits{Requests: 5, RequestBurst: 3}
	})
	alice, bob := token(t, "alice-"+t.Name(), time.Hour), token(t, "bob-"+t.Name(), time.Hour)
	for i := range 3 {
		r := a.limited(alice, `{ me { id } }`)
		require.Empty(t, r.Errors)
		require.Equal(t, 3, headerInt(t, r, "RateLimit-Limit"))
		require.Equal(t, 2-i, headerInt(t, r, "RateLimit-Remaining"))
		require.GreaterOrEqual(t, headerInt(t, r, "RateLimit-Reset"), 1)
	}
	r := a.limited(alice, `{ me { id } }`)
	requireRateLimited(t, r)
	require.Equal(t, 0, headerInt(t, r, "RateLimit-Remaining"))

	// Bob's budget is his own.
	require.Empty(t, a.limited(bob, `{ me { id } }`).Errors)
	// Alice recovers once her bucket refills (5 a second; refused attempts cost nothing).
	require.Eventually(t, func() bool { return a.limited(alice, `{ me { id } }`).Status == http.StatusOK },
		3*time.Second, 50*time.Millisecond)
}

func TestRateLimitCostPerPrincipal(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
		o.MaxComplexity = 250
		o.RateLimits = graph.RateLimits{Cost: 200, CostBurst: 500}
	})
	alice, bob := token(t, "alice-"+t.Name(), time.Hour), token(t, "bob-"+t.Name(), time.Hour)
	const list = `{ workspaces(first: 200) { nodes { id } } }` // 1 + 200 × (nodes: 1)
	const cheap = `{ me { id } }`                              // 2
	require.Empty(t, a.limited(alice, list).Errors)
	require.Empty(t, a.limited(alice, list).Errors)
	// 402 of 500 spent: another list is refused, before any resolver; a cheap query still fits.
	r := a.limited(alice, list)
	requireRateLimited(t, r)
	require.Equal(t, "0", r.Statements)
	require.Equal(t, 500, headerInt(t, r, "RateLimit-Limit"))
	require.Empty(t, a.limited(alice, cheap).Errors)
	require.Empty(t, a.limited(bob, list).Errors)
	require.Eventually(t, func() bool { return a.limited(alice, list).Status == http.StatusOK },
		5*time.Second, 100*time.Millisecond)
}

func TestRateLimitAnonymousPerAddress(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
		o.RateLimits = graph.RateLimits{Anonymous: 2, AnonymousBurst: 2}
	})
	alice := token(t, "alice-"+t.Name(), time.Hour)
	for range 2 {
		r := a.limited("", `{ me { id } }`)
		require.Equal(t, "UNAUTHENTICATED", code(t, r.response))
		require.Equal(t, 2, headerInt(t, r, "RateLimit-Limit"))
	}
	requireRateLimited(t, a.limited("", `{ me { id } }`))

	// A websocket handshake counts as anonymous (its token comes after the upgrade): refused.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, strings.Replace(a.url, "http", "ws", 1),
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	// An authenticated caller from the same address has their own budget.
	require.Empty(t, a.limited(alice, `{ me { id } }`).Errors)
	// The address recovers.
	require.Eventually(t, func() bool { return a.limited("", `{ me { id } }`).Status == http.StatusOK },
		3*time.Second, 50*time.Millisecond)
}

// TestRateLimitFailedTokens: tokens the verifier refuses are budgeted per address; once spent,
// requests carrying a token from the address are refused before verification.
func TestRateLimitFailedTokens(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
		o.RateLimits = graph.RateLimits{Anonymous: 2, AnonymousBurst: 2}
	})
	for range 2 {
		r := a.limited(forged(t), `{ me { id } }`)
		require.Equal(t, http.StatusUnauthorized, r.Status)
		require.Equal(t, "UNAUTHENTICATED", code(t, r.response))
	}
	requireRateLimited(t, a.limited(forged(t), `{ me { id } }`))
	// Anonymous requests have their own budget.
	require.Equal(t, "UNAUTHENTICATED", code(t, a.limited("", `{ me { id } }`).response))
	// The address recovers.
	alice := token(t, "alice-"+t.Name(), time.Hour)
	require.Eventually(t, func() bool { return a.limited(alice, `{ me { id } }`).Status == http.StatusOK },
		3*time.Second, 50*time.Millisecond)
}

// TestDefaultRateLimitsAreOn: production defaults limit requests (the zero value is not "off").
func TestDefaultRateLimitsAreOn(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.RateLimits = graph.RateLimits{} })
	r := a.limited(token(t, "alice-"+t.Name(), time.Hour), `{ me { id } }`)
	require.Empty(t, r.Errors)
	require.Equal(t, 60, headerInt(t, r, "RateLimit-Limit"))
	require.Equal(t, 59, headerInt(t, r, "RateLimit-Remaining"))
}

// TestLimitsOverWebsocket: a subscription is an operation like another: refused over its cost,
// and charged to its principal's cost budget.
func TestLimitsOverWebsocket(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
		o.MaxComplexity = 250
		o.RateLimits = graph.RateLimits{Cost: 1, CostBurst: 500}
	})
	c := a.srv.MustDialWS(token(t, "alice-"+t.Name(), time.Hour))
	vars := map[string]any{"id": "00000000-0000-0000-0000-000000000000"}
	// 1 + project 1 + board (1 + 50 columns + tasks 1 + 200 × 1) = 254
	require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED",
		c.Subscribe(`subscription($id: ID!) { boardChanged(projectId: $id) { project { board { tasks { id } } } } }`, vars).Refusal())
	// 1 + task 1 + comments (1 + 200 × 1) = 203: twice within the burst of 500 (refused later,
	// by the workspace check), not a third time.
	const q = `subscription($id: ID!) { notificationAdded(workspaceId: $id) { task { comments(first: 200) { nodes { id } } } } }`
	for range 2 {
		require.NotEqual(t, "RATE_LIMITED", c.Subscribe(q, vars).Refusal())
	}
	require.Equal(t, "RATE_LIMITED", c.Subscribe(q, vars).Refusal())
}
