package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app"
	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "app")) }

func TestParseRole(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"all", "api", "workers"} {
		got, err := app.ParseRole(r)
		require.NoError(t, err)
		require.Equal(t, app.Role(r), got)
	}
	_, err := app.ParseRole("everything")
	require.ErrorContains(t, err, "all, api or workers")
}

// TestRolesShareOneDatabase: a workers-only App keeps the read models up to date for an API-only
// one over the same database, as a scaled-out deployment runs them; the API serves its health
// routes beside GraphQL.
func TestRolesShareOneDatabase(t *testing.T) {
	t.Parallel()
	workers := apptest.New(t, apptest.Options{Role: app.RoleWorkers, Overrides: app.Overrides{WithoutSideEffects: true}})
	// A consistency wait long enough for a loaded machine (the race detector, two cores).
	api := workers.Peer(apptest.Options{Role: app.RoleAPI, Overrides: app.Overrides{
		Resolver: func(r *graph.Resolver) { r.ConsistencyWait = 30 * time.Second }}})
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(api.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}

	tok := apptest.Token(t, "ada-"+t.Name(), time.Hour)
	r := api.Do(tok, `mutation { createWorkspace(input: {name: "Roles"}) { id consistencyToken } }`, nil)
	require.Empty(t, r.Errors)
	var ws struct{ ID, ConsistencyToken string }
	require.NoError(t, json.Unmarshal(r.Data["createWorkspace"], &ws))
	// Read-your-writes through the workers' projections.
	r = api.Do(tok, `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name } }`,
		map[string]any{"ws": ws.ID, "tok": ws.ConsistencyToken})
	require.Empty(t, r.Errors)
	require.JSONEq(t, `{"name": "Roles"}`, string(r.Data["workspace"]))

}

// TestWorkersNeedNoTokenSettings: the workers verify no tokens, so a workers-only process starts
// without JWT_SECRET; the API refuses to run without one.
func TestWorkersNeedNoTokenSettings(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(pgtest.NewDatabase(t))
	cfg.JWTSecret = ""
	a, err := app.New(context.Background(), cfg, app.Overrides{Logger: slog.New(slog.DiscardHandler), WithoutSideEffects: true})
	require.NoError(t, err)
	defer a.Close()
	require.ErrorContains(t, a.Run(context.Background(), app.RoleAPI), "JWT_SECRET")
	require.ErrorContains(t, a.Run(context.Background(), app.RoleAll), "JWT_SECRET")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The workers run until stopped, then stop cleanly.
	if err := a.Run(ctx, app.RoleWorkers); err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.Error(t, ctx.Err(), "the workers ran until stopped")
}
