// Package apptest runs the service for tests: an App (package app, as `taskforge serve` builds
// it) over a test database, served by an httptest server, with token minting, a GraphQL client
// over HTTP and a websocket client (ws.go: graphql-transport-ws and the legacy graphql-ws). The
// graph, cli and bench tests all use it, so no test wires the service by hand.
//
// The package's tests must run under pgtest.Run (TestMain) when they let New create the database.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/config"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
)

// Secret is the HS256 key the test APIs verify tokens with (Token signs with it).
const Secret = "apptest-hs256-secret-0123456789abcdef"

// Options choose what New runs. The zero value is the whole service over a fresh database.
type Options struct {
	// DatabaseURL is the database to serve; empty: a fresh one (pgtest.NewDatabase).
	DatabaseURL string
	// Role is what the App runs (default app.RoleAll).
	Role app.Role
	// Config adjusts the test configuration before New (see Config).
	Config func(*config.Config)
	// Overrides are passed to app.New (Logger defaults to a discarding one).
	app.Overrides
}

// Config is the configuration the test APIs start from: tokens signed with Secret, a fixed
// webhook secret key, introspection and the X-Sql-Statements header on, no listeners (the test
// serves the handler), and the API's default limits without rate limits (tests send requests
// of one principal at a pace no client has).
func Config(databaseURL string) config.Config {
	return config.Config{
		DatabaseURL:          databaseURL,
		DBMaxConns:           16,
		ShutdownTimeout:      5 * time.Second,
		JWTSecret:            Secret,
		GraphQLIntrospection: true,
		WebhookSecretKey:     bytes.Repeat([]byte{7}, webhooksecrets.KeySize),
		Operations:           config.Operations{DebugSQLHeader: true},
	}
}

// API is a running App and its HTTP server.
type API struct {
	*app.App
	T           testing.TB
	URL         string // the server's root: /healthz, /readyz
	GraphQL     string // URL + "/graphql"
	DatabaseURL string
}

// New builds and runs an App for the test; it stops at the test's cleanup, which fails the test
// if any of its parts stopped with an error.
func New(t testing.TB, o Options) *API {
	t.Helper()
	if o.DatabaseURL == "" {
		o.DatabaseURL = pgtest.NewDatabase(t)
	}
	if o.Role == "" {
		o.Role = app.RoleAll
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := Config(o.DatabaseURL)
	if o.Config != nil {
		o.Config(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, o.Overrides)
	if err != nil {
		cancel()
		t.Fatalf("apptest: %v", err)
	}
	t.Cleanup(a.Close)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, o.Role) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("apptest: the service stopped: %v", err)
		}
	})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &API{App: a, T: t, URL: srv.URL, GraphQL: srv.URL + "/graphql", DatabaseURL: o.DatabaseURL}
}

// Peer is another process of a scaled-out deployment over the same database: by default an
// API-only instance (its own pool, notifier, live hub and server; the first one's workers keep
// the read models up to date).
func (a *API) Peer(o Options) *API {
	a.T.Helper()
	o.DatabaseURL = a.DatabaseURL
	if o.Role == "" {
		o.Role = app.RoleAPI
	}
	return New(a.T, o)
}

// Token mints a token for user (email user@example.com) that the test APIs accept; a negative
// ttl gives one that expired that long ago.
func Token(t testing.TB, user string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	if ttl < 0 { // an expired token: issued long enough ago
		now, ttl = now.Add(2*ttl), -ttl
	}
	tok, err := auth.MintHS256([]byte(Secret), auth.Principal{UserID: user, Email: user + "@example.com", EmailVerified: true, Name: user},
		ttl, now, "", "")
	if err != nil {
		t.Fatalf("apptest: mint token: %v", err)
	}
	return tok
}

// TokenExpiringIn mints a token that the test APIs stop accepting d from now: its exp is
// app.TokenLeeway earlier, the verifier's allowance for clock skew.
func TokenExpiringIn(t testing.TB, user string, d time.Duration) string {
	t.Helper()
	tok, err := auth.MintHS256([]byte(Secret), auth.Principal{UserID: user, Email: user + "@example.com", EmailVerified: true, Name: user},
		d, time.Now().Add(-app.TokenLeeway), "", "")
	if err != nil {
		t.Fatalf("apptest: mint token: %v", err)
	}
	return tok
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response with its HTTP status and SQL statement count.
type Response struct {
	Status     int
	Statements string                     // X-Sql-Statements
	Data       map[string]json.RawMessage `json:"data"`
	Errors     []Error                    `json:"errors"`
}

// Do posts a GraphQL request with tok as the bearer token (none when empty).
func (a *API) Do(tok, query string, vars map[string]any) Response {
	a.T.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return a.Raw(tok, body)
}

// Raw posts body to the GraphQL endpoint with tok and headers (name, value, ...).
func (a *API) Raw(tok string, body []byte, headers ...string) Response {
	a.T.Helper()
	req, err := http.NewRequest(http.MethodPost, a.GraphQL, bytes.NewReader(body))
	if err != nil {
		a.T.Fatalf("apptest: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.T.Fatalf("apptest: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		a.T.Fatalf("apptest: decode response (HTTP %d): %v: %s", resp.StatusCode, err, b)
	}
	r.Status = resp.StatusCode
	r.Statements = resp.Header.Get("X-Sql-Statements")
	return r
}
