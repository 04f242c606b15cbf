package graph_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// rawBody runs a GraphQL document and returns the response body as sent.
func (a *api) rawBody(tok, query string, vars map[string]any) string {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return string(b)
}

// forms are the encodings under which a secret could leak.
func forms(s string) []string {
	return []string{s, hex.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
}

func requireNone(t *testing.T, what, body string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, f := range forms(s) {
			require.NotContains(t, body, f, "%s shows a secret (%q)", what, s)
		}
	}
}

// TestWebhookSecretsAreNeverReadable walks every read path as owner, admin, member and viewer and
// finds no form of any webhook secret: not the ones set through the API (registered, updated,
// rotated), not one held in clear by a stored version-1 event. Only the mutation that sets a secret
// shows it, once. URL tokens show only in the admins' webhooks list.
func TestWebhookSecretsAreNeverReadable(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	users := map[string]string{}
	for _, u := range []string{"owner", "admin", "member", "viewer"} {
		users[u] = token(t, u+"-"+t.Name(), time.Hour)
	}
	var ws, p result
	a.ok(users["owner"], `mutation { createWorkspace(input: {name: "Hooks"}) { id } }`, nil, &ws)
	for _, role := range []string{"admin", "member", "viewer"} {
		var inv struct{ InvitationID string }
		a.ok(users["owner"], `mutation($ws: ID!, $e: String!, $r: Role!) { inviteMember(input: {workspaceId: $ws, email: $e, role: $r}) { invitationId } }`,
			map[string]any{"ws": ws.ID, "e": role + "-" + t.Name() + "@example.com", "r": strings.ToUpper(role)}, &inv)
		a.ok(users[role], `mutation($ws: ID!, $i: ID!) { acceptInvitation(input: {workspaceId: $ws, invitationId: $i}) { id } }`,
			map[string]any{"ws": ws.ID, "i": inv.InvitationID}, &result{})
	}
	a.ok(users["member"], `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "P", key: "WH"}) { id } }`, map[string]any{"ws": ws.ID}, &p)

	const (
		legacy   = "legacy-v1-secret-in-clear-0123"
		given    = "given-secret-registered-0123"
		updated  = "updated-secret-0123456789ab"
		pathTok  = "pathTOKEN0xyz"
		queryTok = "queryTOKEN0xyz"
	)
	hookURL := "https://hooks.example.com/services/" + pathTok + "?key=" + queryTok

	// A webhook from before the upgrade: its stored event holds the secret in clear.
	legacyHook := uuid.New()
	v1 := fmt.Sprintf(`{"workspace_id":%q,"webhook_id":%q,"url":%q,"secret":%q,"event_types":[],"by":"owner","at":%q}`,
		ws.ID, legacyHook, hookURL, legacy, time.Now().UTC().Format(time.RFC3339Nano))
	_, err := a.es.Append(ctx, eventstore.StreamAppend{
		StreamID: domain.WorkspaceStream(mustUUID(t, ws.ID)), StreamType: domain.StreamTypeWorkspace, Expected: eventstore.Any(),
		Events: []eventstore.EventData{{ID: uuid.New(), Type: domain.EventWebhookRegistered, SchemaVersion: 1,
			Data: json.RawMessage(v1), Metadata: eventstore.Metadata{Actor: "owner-" + t.Name(), WorkspaceID: mustUUID(t, ws.ID)}}},
	})
	require.NoError(t, err)

	// Registering shows the secret once; so does rotating.
	var reg struct{ WebhookID, Secret string }
	a.ok(users["admin"], `mutation($ws: ID!, $url: String!, $s: String!) { registerWebhook(input: {workspaceId: $ws, url: $url, secret: $s}) {
		webhookId secret } }`, map[string]any{"ws": ws.ID, "url": hookURL, "s": given}, &reg)
	require.Equal(t, given, reg.Secret)
	hv := map[string]any{"ws": ws.ID, "h": reg.WebhookID, "s": updated}
	upd := a.rawBody(users["admin"], `mutation($ws: ID!, $h: ID!, $s: String!) { updateWebhook(input: {workspaceId: $ws, webhookId: $h, secret: $s}) {
		id version consistencyToken workspace { name } } }`, hv)
	require.NotContains(t, upd, `"errors"`)
	var rot struct{ Secret, ConsistencyToken string }
	a.ok(users["owner"], `mutation($ws: ID!, $h: ID!) { rotateWebhookSecret(input: {workspaceId: $ws, webhookId: $h}) { secret consistencyToken } }`, hv, &rot)
	require.True(t, strings.HasPrefix(rot.Secret, "whsec_"), rot.Secret)
	rotated := rot.Secret
	secrets := []string{legacy, given, updated, rotated}

	// Members and viewers cannot rotate, and learn nothing from trying.
	for _, u := range []string{"member", "viewer"} {
		body := a.rawBody(users[u], `mutation($ws: ID!, $h: ID!) { rotateWebhookSecret(input: {workspaceId: $ws, webhookId: $h}) { secret } }`, hv)
		require.Contains(t, body, "FORBIDDEN")
		requireNone(t, u+" rotate", body, secrets...)
	}

	var task result
	a.ok(users["member"], `mutation($p: ID!) { createTask(input: {projectId: $p, title: "t"}) { id } }`, map[string]any{"p": p.ID}, &task)
	var last struct{ ConsistencyToken string }
	a.ok(users["member"], `mutation($t: ID!) { addComment(input: {taskId: $t, body: "hi"}) { consistencyToken } }`, map[string]any{"t": task.ID}, &last)

	vars := map[string]any{"ws": ws.ID, "p": p.ID, "t": task.ID, "tok": last.ConsistencyToken,
		"wss": "workspace-" + ws.ID, "ps": "project-" + p.ID, "ts": "task-" + task.ID}
	reads := map[string]string{
		"history (workspace)": `query($wss: String!) { history(streamId: $wss, first: 100) { edges { node { type schemaVersion payload } } } }`,
		"history (project)":   `query($ps: String!) { history(streamId: $ps) { edges { node { payload } } } }`,
		"history (task)":      `query($ts: String!) { history(streamId: $ts) { edges { node { payload } } } }`,
		"verifyStream":        `query($wss: String!) { verifyStream(streamId: $wss) { ok reason } }`,
		"taskAt":              `query($t: ID!) { taskAt(id: $t) { title description } }`,
		"activity":            `query($ws: ID!, $tok: String) { activity(workspaceId: $ws, consistentWith: $tok) { edges { node { line } } } }`,
		"notifications":       `query($ws: ID!, $tok: String) { notifications(workspaceId: $ws, consistentWith: $tok) { edges { node { line } } } }`,
		"workspace":           `query($ws: ID!, $tok: String) { workspace(id: $ws, consistentWith: $tok) { name members { nodes { email role } } } }`,
		"workspaces":          `query($tok: String) { workspaces(consistentWith: $tok) { nodes { name } } }`,
		"me":                  `{ me { id } }`,
		"task":                `query($t: ID!, $tok: String) { task(id: $t, consistentWith: $tok) { title comments { nodes { body } } } }`,
		"tasks":               `query($ws: ID!, $tok: String) { tasks(workspaceId: $ws, consistentWith: $tok) { edges { node { title } } } }`,
		"webhookDeliveries":   `query($ws: ID!, $tok: String) { webhookDeliveries(workspaceId: $ws, consistentWith: $tok) { edges { node { url lastError } } } }`,
		"deadLetters":         `query($ws: ID!, $tok: String) { deadLetters(workspaceId: $ws, consistentWith: $tok) { edges { node { target lastError } } } }`,
		"webhooks":            `query($ws: ID!) { webhooks(workspaceId: $ws) { id url eventTypes secretId secretMask secretExposed } }`,
		"updateWebhook payload": `mutation($ws: ID!, $h: ID!) { updateWebhook(input: {workspaceId: $ws, webhookId: $h, eventTypes: ["task.created"]}) {
			id workspace { name members { nodes { email } } } } }`,
		"registerWebhook payload without secret": `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://other.example.com/h"}) {
			webhookId workspace { name } } }`,
	}
	for role, tok := range users {
		for what, q := range reads {
			body := a.rawBody(tok, q, vars)
			requireNone(t, role+": "+what, body, secrets...)
			admin := role == "owner" || role == "admin"
			if what == "webhooks" && admin {
				var got struct {
					Data struct {
						Webhooks []struct {
							ID, URL, SecretMask string
							SecretExposed       bool
						}
					}
				}
				require.NoError(t, json.Unmarshal([]byte(body), &got), body)
				masks, urls, exposed := map[string]string{}, map[string]string{}, map[string]bool{}
				for _, h := range got.Data.Webhooks {
					masks[h.ID], urls[h.ID], exposed[h.ID] = h.SecretMask, h.URL, h.SecretExposed
				}
				require.True(t, exposed[legacyHook.String()], "a secret from the old log is flagged for rotation")
				require.False(t, exposed[reg.WebhookID])
				require.Equal(t, hookURL, urls[reg.WebhookID], "admins see the full URL")
				require.Equal(t, hookURL, urls[legacyHook.String()])
				require.Equal(t, "whsec_…"+rotated[len(rotated)-4:], masks[reg.WebhookID])
				require.Equal(t, "…"+legacy[len(legacy)-4:], masks[legacyHook.String()], "a legacy secret is masked too")
				continue
			}
			if !admin && (what == "webhooks" || what == "webhookDeliveries" || what == "deadLetters") {
				require.Contains(t, body, "FORBIDDEN", "%s: %s", role, what)
			}
			require.NotContains(t, body, pathTok, "%s: %s shows the URL's path", role, what)
			require.NotContains(t, body, queryTok, "%s: %s shows the URL's query", role, what)
		}
	}
	// History still says what happened, in the current schema, with the URL reduced to its host.
	hist := a.rawBody(users["viewer"], reads["history (workspace)"], vars)
	require.Contains(t, hist, `https://hooks.example.com/[redacted]`)
	require.Contains(t, hist, domain.EventWebhookSecretRotated)
	require.NotContains(t, hist, `\"secret\"`)

	// The stored rows of API-written webhook events hold no secret (raw SQL, no upcasting).
	var stored string
	require.NoError(t, a.es.Pool().QueryRow(ctx, `SELECT string_agg(data::text, ',') FROM events WHERE stream_id = $1
		AND event_type LIKE 'webhook.%' AND schema_version > 1`, "workspace-"+ws.ID).Scan(&stored))
	require.Contains(t, stored, "secret_id")
	requireNone(t, "events.data", stored, given, updated, rotated)

	// An export (as the CLI builds it) redacts every secret, the legacy one included, and still verifies.
	exporter, err := eventstore.New(a.es.Pool(), eventstore.Options{Redact: domain.RedactStored})
	require.NoError(t, err)
	var out bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for {
		out.Reset()
		_, err = exporter.Export(ctx, &out, eventstore.ExportFilter{StreamID: "workspace-" + ws.ID})
		require.NoError(t, err)
		if strings.Count(out.String(), "\n") >= 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	requireNone(t, "export", out.String(), secrets...)
	require.NotContains(t, out.String(), pathTok)
	require.NotContains(t, out.String(), queryTok)
	rep, err := eventstore.VerifyExport(&out)
	require.NoError(t, err)
	require.Empty(t, rep.Breaks)
	require.Positive(t, rep.Redacted)
}

// Webhook URLs that point off the public internet are refused when they are registered or changed,
// typed and naming the argument, and nothing is appended or stored. Nothing is resolved or dialed.
func TestWebhookDestinationRefusedAtRegistration(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	owner := token(t, "owner-"+t.Name(), time.Hour)
	var ws result
	a.ok(owner, `mutation { createWorkspace(input: {name: "Hooks"}) { id } }`, nil, &ws)
	var reg struct{ WebhookID string }
	a.ok(owner, `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://hooks.example.com/h"}) { webhookId } }`,
		map[string]any{"ws": ws.ID}, &reg)
	stream := domain.WorkspaceStream(mustUUID(t, ws.ID))
	before, err := a.es.StreamVersion(ctx, stream)
	require.NoError(t, err)
	secretRows := func() (n int) {
		require.NoError(t, a.es.Pool().QueryRow(ctx, `SELECT count(*) FROM webhook_secrets`).Scan(&n))
		return n
	}
	rows := secretRows()
	for _, u := range []string{
		// Loopback, literal and by name; every other non-public form (mapped, numeric, local
		// names) is unit-tested on parsed addresses and hosts (domain.TestPublicAddr,
		// TestCheckWebhookDestination): no test names another address as a destination.
		"http://127.0.0.1:8080/h", "http://[::1]/h", "http://localhost/h", "http://api.localhost/h",
		"ftp://hooks.example.com/h", "file:///etc/passwd", "https://user:pw@hooks.example.com/h",
	} {
		for what, q := range map[string]string{
			"register": `mutation($ws: ID!, $u: String!) { registerWebhook(input: {workspaceId: $ws, url: $u}) { webhookId secret } }`,
			"update":   `mutation($ws: ID!, $h: ID!, $u: String!) { updateWebhook(input: {workspaceId: $ws, webhookId: $h, url: $u}) { id } }`,
		} {
			r := a.do(owner, q, map[string]any{"ws": ws.ID, "h": reg.WebhookID, "u": u})
			require.Equal(t, "INVALID_INPUT", code(t, r), "%s %s: %v", what, u, r.Errors)
			require.Equal(t, "input.url", r.Errors[0].Extensions["field"], "%s %s", what, u)
		}
	}
	after, err := a.es.StreamVersion(ctx, stream)
	require.NoError(t, err)
	require.Equal(t, before, after, "nothing appended")
	require.Equal(t, rows, secretRows(), "no secret stored")
	r := a.do(owner, `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://hooks.example.com/h", secret: "short"}) { webhookId } }`,
		map[string]any{"ws": ws.ID})
	require.Equal(t, "INVALID_INPUT", code(t, r))
	require.Equal(t, "input.secret", r.Errors[0].Extensions["field"])
}
