package commands_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
)

// secretForms are the ways a secret could leak in a payload: as text, hex or base64.
func secretForms(secret string) []string {
	return []string{secret, hex.EncodeToString([]byte(secret)), base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret))}
}

// requireNoSecretInEvents reads the workspace stream's stored rows (raw SQL on events.data, no
// upcasting) and finds no form of any secret, nor a "secret" field.
func (f *fixture) requireNoSecretInEvents(ws uuid.UUID, secrets ...string) {
	f.t.Helper()
	rows, err := pgtest.Pool(f.t).Query(f.ctx, `SELECT event_type, data::text FROM events WHERE stream_id = $1`, domain.WorkspaceStream(ws))
	require.NoError(f.t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var typ, data string
		require.NoError(f.t, rows.Scan(&typ, &data))
		if strings.HasPrefix(typ, "webhook.") {
			n++
			require.NotContains(f.t, data, `"secret"`, typ)
		}
		for _, s := range secrets {
			for _, form := range secretForms(s) {
				require.NotContains(f.t, data, form, typ)
			}
		}
	}
	require.NoError(f.t, rows.Err())
	require.Positive(f.t, n)
}

// Registering, updating and rotating keep every secret out of the log: the events name secret ids,
// the secrets are sealed in webhook_secrets, and each is shown once, to the admin who set it.
func TestWebhookSecretsStayOutOfTheLog(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	const given, updated = "given-secret-0123456789", "updated-secret-0123456789"

	reg, err := f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws,
		URL: "https://hooks.example.com/x", Secret: given, IdempotencyKey: "reg"})
	require.NoError(t, err)
	require.Equal(t, given, reg.Secret, "registering shows the secret once")
	again, err := f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws,
		URL: "https://hooks.example.com/x", Secret: given, IdempotencyKey: "reg"})
	require.NoError(t, err)
	require.Equal(t, reg.Result, again.Result, "a retried call replays")
	require.Equal(t, given, again.Secret)

	gen, err := f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "https://hooks.example.com/y"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(gen.Secret, "whsec_"), "no secret given: one is generated")
	require.GreaterOrEqual(t, len(gen.Secret), 40)

	_, err = f.h.UpdateWebhook.Handle(f.ctx, commands.UpdateWebhook{Actor: admin, WorkspaceID: b.ws, WebhookID: reg.WebhookID, Secret: ptr(updated)})
	require.NoError(t, err)
	rot, err := f.h.RotateWebhookSecret.Handle(f.ctx, commands.RotateWebhookSecret{Actor: admin, WorkspaceID: b.ws, WebhookID: reg.WebhookID})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(rot.Secret, "whsec_"))
	require.NotEqual(t, gen.Secret, rot.Secret)
	evs, err := f.store.ReadStream(f.ctx, domain.WorkspaceStream(b.ws), rot.Version, 1)
	require.NoError(t, err)
	require.Equal(t, domain.EventWebhookSecretRotated, evs[0].Type)

	f.requireNoSecretInEvents(b.ws, given, updated, gen.Secret, rot.Secret)

	// The current secret opens from the table; the sealed rows hold no form of any secret.
	var hook domain.WebhookSecretRotated
	require.NoError(t, json.Unmarshal(evs[0].Data, &hook))
	store, err := webhooksecrets.New(pgtest.Pool(t), testSecretKey)
	require.NoError(t, err)
	got, err := store.Get(f.ctx, b.ws, reg.WebhookID, hook.SecretID)
	require.NoError(t, err)
	require.Equal(t, rot.Secret, got)
	var sealed string
	require.NoError(t, pgtest.Pool(t).QueryRow(f.ctx, `SELECT string_agg(sealed::text || nonce::text || key_id, ',') FROM webhook_secrets WHERE workspace_id = $1`, b.ws).Scan(&sealed))
	for _, s := range []string{given, updated, gen.Secret, rot.Secret} {
		for _, form := range append(secretForms(s), hex.EncodeToString([]byte(s))) {
			require.NotContains(t, sealed, form)
		}
	}
	// A secret opens only for its own webhook and under its own key.
	_, err = store.Get(f.ctx, b.ws, gen.WebhookID, hook.SecretID)
	require.ErrorIs(t, err, webhooksecrets.ErrNotFound)
	other, err := webhooksecrets.New(pgtest.Pool(t), make([]byte, webhooksecrets.KeySize))
	require.NoError(t, err)
	_, err = other.Get(f.ctx, b.ws, reg.WebhookID, hook.SecretID)
	require.ErrorIs(t, err, webhooksecrets.ErrWrongKey)
}

// Only admins rotate, and a refused rotation stores no secret.
func TestRotateWebhookSecretRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	reg, err := f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "https://hooks.example.com/x"})
	require.NoError(t, err)
	count := func() (n int) {
		require.NoError(t, pgtest.Pool(t).QueryRow(f.ctx, `SELECT count(*) FROM webhook_secrets WHERE workspace_id = $1`, b.ws).Scan(&n))
		return n
	}
	before := count()
	for _, a := range []domain.Actor{member, viewer} {
		_, err := f.h.RotateWebhookSecret.Handle(f.ctx, commands.RotateWebhookSecret{Actor: a, WorkspaceID: b.ws, WebhookID: reg.WebhookID})
		requireCode(t, err, domain.CodeForbidden)
	}
	_, err = f.h.RotateWebhookSecret.Handle(f.ctx, commands.RotateWebhookSecret{Actor: admin, WorkspaceID: b.ws, WebhookID: uuid.New()})
	requireCode(t, err, domain.CodeNotFound)
	_, err = f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: viewer, WorkspaceID: b.ws, URL: "https://hooks.example.com/z", Secret: "0123456789abcdef"})
	requireCode(t, err, domain.CodeForbidden)
	_, err = f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "http://localhost/z", Secret: "0123456789abcdef"})
	requireCode(t, err, domain.CodeInvalidInput)
	require.Equal(t, before, count(), "refused commands store no secret")

	// Without a secret store, webhook commands refuse rather than keep a secret anywhere else.
	bare := setup(t, func(o *commands.Options) { o.WebhookSecrets = nil })
	_, err = bare.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "https://hooks.example.com/x"})
	require.Error(t, err)
}
