package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/cli"
	"github.com/taskforge/taskforge/internal/database"
)

// TestDeadLettersCLIAndAPIAgree: the API and `taskforge deadletters` list a workspace's dead
// letters through one inspector query, so they show the same ones under the same ids, page with
// the same cursors, and the CLI retries an id the API printed. Not parallel: the CLI reads
// DATABASE_URL.
func TestDeadLettersCLIAndAPIAgree(t *testing.T) {
	a := setup(t)
	tm := newTeam(t, a, "DL")
	ctx := context.Background()
	pool, err := database.Open(ctx, a.dbURL, database.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	// Dead letters of the team's workspace and of another one, deliveries and emails interleaved,
	// and rows that are not dead.
	other := uuid.NewString()
	for _, ws := range []string{tm.ws, other} {
		hook := uuid.New()
		_, err := pool.Exec(ctx, `INSERT INTO webhook_endpoints (webhook_id, workspace_id, url, event_types,
				registered_at, updated_at) VALUES ($1, $2, 'https://example.com/hook', '{}', now(), now())`, hook, ws)
		require.NoError(t, err)
		for _, status := range []string{"dead", "delivered", "dead"} {
			_, err = pool.Exec(ctx, `INSERT INTO webhook_deliveries (webhook_id, workspace_id, event_id, event_type,
					event_position, payload, status, dead_at) VALUES ($1, $2, $3, 'task.created', 1, '{}', $4, now())`,
				hook, ws, uuid.New(), status)
			require.NoError(t, err)
			emailStatus := map[string]string{"dead": "dead", "delivered": "sent"}[status]
			_, err = pool.Exec(ctx, `INSERT INTO email_outbox (workspace_id, event_id, event_type, kind, recipient_user_id,
					recipient_email, subject, body, status, dead_at)
				VALUES ($1, $2, 'task.assigned', 'assigned', 'u', 'u@example.com', 's', 'b', $3, now())`, ws, uuid.New(), emailStatus)
			require.NoError(t, err)
		}
	}

	// The API, two at a time.
	apiList := func() (ids, cursors []string) {
		var after *string
		for {
			var page struct {
				Edges []struct {
					Cursor string
					Node   struct{ ID string }
				}
				PageInfo struct{ HasNextPage bool }
			}
			// consistentWith: the team's membership is read from the read model, which may lag
			a.ok(tm.alice, `query($ws: ID!, $after: String, $tok: String) { deadLetters(workspaceId: $ws, first: 2, after: $after,
				consistentWith: $tok) { edges { cursor node { id } } pageInfo { hasNextPage } } }`,
				map[string]any{"ws": tm.ws, "after": after, "tok": tm.tok}, &page)
			for _, e := range page.Edges {
				ids, cursors = append(ids, e.Node.ID), append(cursors, e.Cursor)
			}
			if !page.PageInfo.HasNextPage {
				return ids, cursors
			}
			require.Len(t, page.Edges, 2, "a page before the last is full")
			after = &page.Edges[1].Cursor
		}
	}
	apiIDs, apiCursors := apiList()
	require.Len(t, apiIDs, 4)

	// The CLI, every workspace: the team's dead letters are the API's, in the same order.
	t.Setenv("DATABASE_URL", a.dbURL)
	run := func(args ...string) (string, string) {
		var out, errOut bytes.Buffer
		code := cli.Main(ctx, append([]string{"deadletters"}, args...), &out, &errOut)
		require.Equal(t, 0, code, errOut.String())
		return out.String(), errOut.String()
	}
	cliList := func(args ...string) []string {
		out, _ := run(append([]string{"list", "--json"}, args...)...)
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var d struct {
				ID          string `json:"id"`
				WorkspaceID string `json:"workspace_id"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &d))
			if d.WorkspaceID == tm.ws {
				ids = append(ids, d.ID)
			}
		}
		return ids
	}
	require.Equal(t, apiIDs, cliList())
	// The API's cursor continues the CLI's listing.
	require.Equal(t, apiIDs[2:], cliList("--after", apiCursors[1]))
	_, errOut := run("list", "--limit", "1")
	require.Contains(t, errOut, "more: deadletters list --after ")

	// The CLI retries what the API printed; the API no longer lists it.
	out, _ := run("retry", apiIDs[1])
	require.Equal(t, "requeued "+apiIDs[1]+"\n", out)
	after, _ := apiList()
	require.Equal(t, append([]string{apiIDs[0]}, apiIDs[2:]...), after)
}
