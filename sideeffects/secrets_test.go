package sideeffects_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/sideeffects"
)

// A webhook registered before secrets left the log (a version-1 event holding the secret in clear)
// keeps working: the first delivery copies its secret, sealed, into webhook_secrets and signs with
// it; the endpoints table never holds it.
func TestLegacyWebhookKeepsSigning(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusOK })
	hook := uuid.New()
	v1 := fmt.Sprintf(`{"workspace_id":%q,"webhook_id":%q,"url":%q,"secret":%q,"event_types":[%q],"by":"olga","at":%q}`,
		b.ws, hook, rc.srv.URL, secret, domain.EventTaskCreated, time.Now().UTC().Format(time.RFC3339Nano))
	_, err := f.store.Append(f.ctx, eventstore.StreamAppend{
		StreamID: domain.WorkspaceStream(b.ws), StreamType: domain.StreamTypeWorkspace, Expected: eventstore.Any(),
		Events: []eventstore.EventData{{ID: uuid.New(), Type: domain.EventWebhookRegistered, SchemaVersion: 1,
			Data: json.RawMessage(v1), Metadata: eventstore.Metadata{Actor: "olga", WorkspaceID: b.ws}}},
	})
	require.NoError(t, err)
	f.task(b, "after the upgrade", "")

	f.eventually("delivered", f.allIn(b.ws, hook, "delivered", 1))
	reqs := rc.requests()
	require.Len(t, reqs, 1)
	require.True(t, reqs[0].signatureOK, "signed with the legacy secret")
	var n int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM webhook_secrets WHERE secret_id = $1 AND webhook_id = $2`,
		domain.LegacyWebhookSecretID(hook), hook).Scan(&n))
	require.Equal(t, 1, n, "the legacy secret was copied, sealed")
	var row string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT row_to_json(w)::text FROM webhook_endpoints w WHERE webhook_id = $1`, hook).Scan(&row))
	require.NotContains(t, row, secret)
	var sealed string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT row_to_json(s)::text FROM webhook_secrets s WHERE webhook_id = $1`, hook).Scan(&sealed))
	require.NotContains(t, sealed, secret)
}

// A failed attempt records a short, fixed text: the status code, never the receiver's body.
func TestWebhookLastErrorIsSanitized(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	const leak = "internal stack trace from db-7.corp.internal 10.1.2.3"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(leak))
	}))
	t.Cleanup(srv.Close)
	hook := f.webhook(b.ws, srv.URL+"/hook?token=tok3n", domain.EventTaskCreated)
	f.task(b, "fails", "")
	f.eventually("dead letter", f.allIn(b.ws, hook, "dead", 1))
	d := f.deliveries(b.ws)
	require.Len(t, d, 1)
	require.Equal(t, "HTTP 500", d[0].LastError)

	// A port nobody listens on (loopback): the text names no address either.
	closed := httptest.NewServer(http.NotFoundHandler())
	addr := closed.URL
	closed.Close()
	hook2 := f.webhook(b.ws, addr+"/hook", domain.EventTaskCreated)
	f.task(b, "refused", "")
	f.eventually("dead letter", f.allIn(b.ws, hook2, "dead", 1))
	for _, d := range f.deliveries(b.ws) {
		if d.WebhookID == hook2 {
			require.Equal(t, "connection refused", d.LastError)
			require.False(t, strings.Contains(d.LastError, "127.0.0.1"))
		}
	}
	dead, err := f.inspector.ListDeadLetters(f.ctx, sideeffects.DeadLetterQuery{})
	require.NoError(t, err)
	for _, dl := range dead.Items {
		require.NotContains(t, dl.LastError, leak)
		require.NotContains(t, dl.LastError, "127.0.0.1")
	}
}
