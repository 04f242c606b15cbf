package sideeffects_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/sideeffects"
)

// deadRows inserts, in ws, n webhook deliveries and n emails alternately (ids interleave through
// the shared sequence), every third of them not dead, and returns the dead ones' ids.
func deadRows(t *testing.T, pool *pgxpool.Pool, ws uuid.UUID, n int) []string {
	t.Helper()
	ctx := context.Background()
	hook := uuid.New()
	_, err := pool.Exec(ctx, `INSERT INTO webhook_endpoints (webhook_id, workspace_id, url, event_types, registered_at, updated_at)
		VALUES ($1, $2, 'https://example.com/hook', '{}', now(), now())`, hook, ws)
	require.NoError(t, err)
	var dead []string
	for i := range n {
		hookStatus, emailStatus := "dead", "dead"
		if i%3 == 2 {
			hookStatus, emailStatus = "delivered", "sent"
		}
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO webhook_deliveries (webhook_id, workspace_id, event_id, event_type,
				event_position, payload, status, dead_at) VALUES ($1, $2, $3, 'task.created', 1, '{}', $4, now()) RETURNING id`,
			hook, ws, uuid.New(), hookStatus).Scan(&id))
		if hookStatus == "dead" {
			dead = append(dead, fmt.Sprintf("webhook-%d", id))
		}
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO email_outbox (workspace_id, event_id, event_type, kind,
				recipient_user_id, recipient_email, subject, body, status, dead_at)
			VALUES ($1, $2, 'task.assigned', 'assigned', 'u', 'u@example.com', 's', 'b', $3, now()) RETURNING id`,
			ws, uuid.New(), emailStatus).Scan(&id))
		if emailStatus == "dead" {
			dead = append(dead, fmt.Sprintf("email-%d", id))
		}
	}
	return dead
}

// TestDeadLetterPages: paging through every workspace's dead letters (operators) or one's (the
// API) returns full pages, each dead letter once, newest first, whatever the page size; an email
// and a delivery that share an id (the sequence is shared, but rows can be restored by hand) are
// both listed, the delivery first.
func TestDeadLetterPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Open(t, pgtest.NewDatabase(t))
	in, err := sideeffects.NewInspector(pool)
	require.NoError(t, err)
	wsA, wsB := uuid.New(), uuid.New()
	var all, inA []string
	for range 3 { // interleave the workspaces
		a := deadRows(t, pool, wsA, 4)
		inA = append(inA, a...)
		all = append(all, a...)
		all = append(all, deadRows(t, pool, wsB, 3)...)
	}
	// A twin: an email of wsA with the id of wsA's newest dead delivery.
	var twin int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT max(id) FROM webhook_deliveries WHERE workspace_id = $1 AND status = 'dead'`, wsA).Scan(&twin))
	_, err = pool.Exec(ctx, `INSERT INTO email_outbox (id, workspace_id, event_id, event_type, kind, recipient_user_id,
			recipient_email, subject, body, status, dead_at)
		VALUES ($1, $2, $3, 'task.assigned', 'assigned', 'v', 'v@example.com', 's', 'b', 'dead', now())`, twin, wsA, uuid.New())
	require.NoError(t, err)
	newestFirst := func(ids []string) []string {
		out := append([]string(nil), ids...)
		out = append(out, fmt.Sprintf("email-%d", twin))
		// by id, then kind, descending
		key := func(s string) (int64, string) {
			id, err := sideeffects.ParseDeadLetterID(s)
			require.NoError(t, err)
			return id.Row, id.Kind
		}
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				ri, ki := key(out[i])
				rj, kj := key(out[j])
				if rj > ri || (rj == ri && kj > ki) {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	}
	want := map[uuid.UUID][]string{uuid.Nil: newestFirst(all), wsA: newestFirst(inA)}
	i := slices.Index(want[wsA], fmt.Sprintf("webhook-%d", twin))
	require.Equal(t, fmt.Sprintf("email-%d", twin), want[wsA][i+1], "twins: the delivery first")

	for ws, wantIDs := range want {
		for _, limit := range []int{1, 2, 3, 7, 1000} {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				require.Less(t, pages, 100, "paging does not end")
				after, err := sideeffects.ParseDeadLetterCursor(cursor)
				require.NoError(t, err)
				page, err := in.ListDeadLetters(ctx, sideeffects.DeadLetterQuery{Workspace: ws, After: after, Limit: limit})
				require.NoError(t, err)
				for _, d := range page.Items {
					got = append(got, d.ID.String())
					if ws != uuid.Nil {
						require.Equal(t, ws, d.WorkspaceID)
					}
				}
				if !page.More {
					break
				}
				require.Len(t, page.Items, limit, "a page before the last is full")
				cursor = page.Items[len(page.Items)-1].Cursor()
			}
			require.Equal(t, wantIDs, got, "workspace %s, pages of %d", ws, limit)

			// Backward (last/before) from the end: the same list, page by page.
			var back []string
			cursor = ""
			for pages := 0; ; pages++ {
				require.Less(t, pages, 100, "paging does not end")
				before, err := sideeffects.ParseDeadLetterCursor(cursor)
				require.NoError(t, err)
				page, err := in.ListDeadLetters(ctx, sideeffects.DeadLetterQuery{Workspace: ws, After: before, Backward: true, Limit: limit})
				require.NoError(t, err)
				ids := make([]string, len(page.Items))
				for i, d := range page.Items {
					ids[i] = d.ID.String()
				}
				back = append(ids, back...)
				if !page.More {
					break
				}
				cursor = page.Items[0].Cursor()
			}
			require.Equal(t, wantIDs, back, "backward: workspace %s, pages of %d", ws, limit)
		}
		// Inclusive: a letter's own cursor finds it, either way (the twins too).
		for _, id := range wantIDs {
			parsed, err := sideeffects.ParseDeadLetterID(id)
			require.NoError(t, err)
			at, err := sideeffects.ParseDeadLetterCursor(sideeffects.DeadLetter{ID: parsed}.Cursor())
			require.NoError(t, err)
			for _, backward := range []bool{false, true} {
				page, err := in.ListDeadLetters(ctx, sideeffects.DeadLetterQuery{Workspace: ws, After: at, Backward: backward, Inclusive: true, Limit: 1})
				require.NoError(t, err)
				require.Len(t, page.Items, 1)
				require.Equal(t, id, page.Items[0].ID.String(), "inclusive, backward %v", backward)
			}
		}
	}
}

func TestParseDeadLetterID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]sideeffects.DeadLetterID{
		"webhook-5":                 {Kind: sideeffects.KindWebhook, Row: 5},
		"email-7":                   {Kind: sideeffects.KindEmail, Row: 7},
		"email-9223372036854775807": {Kind: sideeffects.KindEmail, Row: math.MaxInt64},
	} {
		got, err := sideeffects.ParseDeadLetterID(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got)
		require.Equal(t, s, got.String())
	}
	for _, s := range []string{"", "5", "webhook", "webhook-", "webhook-0", "webhook--5", "webhook-+5", "webhook-05",
		"sms-5", "Webhook-5", "email-5 ", "email-9223372036854775808"} {
		_, err := sideeffects.ParseDeadLetterID(s)
		require.ErrorIs(t, err, sideeffects.ErrBadID, "%q", s)
	}
}

// FuzzParseDeadLetterID: an id has one spelling; whatever parses prints back as it was read.
func FuzzParseDeadLetterID(f *testing.F) {
	for _, s := range []string{"webhook-5", "email-7", "webhook-05", "5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := sideeffects.ParseDeadLetterID(s)
		if err != nil {
			return
		}
		if id.String() != s || id.Row <= 0 {
			t.Fatalf("%q parsed as %+v", s, id)
		}
	})
}

// FuzzParseDeadLetterCursor: a cursor that parses prints back as it was read, and nothing else
// parses ("" is the start).
func FuzzParseDeadLetterCursor(f *testing.F) {
	for _, d := range []sideeffects.DeadLetter{{ID: sideeffects.DeadLetterID{Kind: "webhook", Row: 5}},
		{ID: sideeffects.DeadLetterID{Kind: "email", Row: 1}}} {
		f.Add(d.Cursor())
	}
	f.Add("")
	f.Add("NTo3") // the old API's "5:7"
	f.Fuzz(func(t *testing.T, s string) {
		c, err := sideeffects.ParseDeadLetterCursor(s)
		if err != nil {
			require.ErrorIs(t, err, sideeffects.ErrBadCursor)
			return
		}
		if c.String() != s {
			t.Fatalf("%q parsed, prints as %q", s, c.String())
		}
	})
}
