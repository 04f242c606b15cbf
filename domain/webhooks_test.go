package domain

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestWebhooks(t *testing.T) {
	t.Parallel()
	secret, secret2 := id(900), id(901) // secret ids: the secrets live outside the log
	register := func(a Actor, hid uuid.UUID, url string, sid uuid.UUID, types []string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.RegisterWebhook(a, hid, url, sid, types, now) }
	}
	registered := WebhookRegistered{WorkspaceID: wsID, WebhookID: hookID, URL: "https://hooks.example.com/tf", SecretID: secret, EventTypes: []string{}, By: "olga", At: t0}
	withHook := evs(team(), registered)
	var twenty []Event
	for i := range MaxWebhooks {
		twenty = append(twenty, WebhookRegistered{WorkspaceID: wsID, WebhookID: id(100 + i), URL: "https://x.io", SecretID: secret, EventTypes: []string{}, By: "olga", At: t0})
	}
	update := func(a Actor, hid uuid.UUID, u WebhookUpdate) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.UpdateWebhook(a, hid, u, now) }
	}
	remove := func(a Actor, hid uuid.UUID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.RemoveWebhook(a, hid, now) }
	}
	rotate := func(a Actor, hid, sid uuid.UUID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.RotateWebhookSecret(a, hid, sid, now) }
	}
	run(t, []scenario{
		{
			name: "admin registers with a filter", given: team(),
			when: register(admin, hookID, " https://hooks.example.com/tf ", secret, []string{"task.created", EventTaskStatusChanged, "task.created"}),
			then: []Event{WebhookRegistered{WorkspaceID: wsID, WebhookID: hookID, URL: "https://hooks.example.com/tf", SecretID: secret, EventTypes: []string{"task.created", "task.status_changed"}, By: "adam", At: now}},
		},
		{
			name: "no filter means every event", given: team(), when: register(owner, hookID, "http://hooks.example.com:8080/hook", secret, nil),
			then: []Event{WebhookRegistered{WorkspaceID: wsID, WebhookID: hookID, URL: "http://hooks.example.com:8080/hook", SecretID: secret, EventTypes: []string{}, By: "olga", At: now}},
		},
		{name: "member is forbidden", given: team(), when: register(member, hookID, "https://x.io", secret, nil), err: CodeForbidden},
		{name: "viewer is forbidden", given: team(), when: register(viewer, hookID, "https://x.io", secret, nil), err: CodeForbidden},
		{name: "relative URL", given: team(), when: register(owner, hookID, "/hook", secret, nil), err: CodeInvalidInput},
		{name: "ftp URL", given: team(), when: register(owner, hookID, "ftp://x.io/hook", secret, nil), err: CodeInvalidInput},
		{name: "URL without host", given: team(), when: register(owner, hookID, "https:///hook", secret, nil), err: CodeInvalidInput},
		{name: "URL with credentials", given: team(), when: register(owner, hookID, "https://u:p@x.io/hook", secret, nil), err: CodeInvalidInput},
		{name: "not a URL", given: team(), when: register(owner, hookID, "https://x.io/%zz", secret, nil), err: CodeInvalidInput},
		{name: "no secret", given: team(), when: register(owner, hookID, "https://x.io", uuid.Nil, nil), err: CodeInvalidInput},
		{name: "unknown event type", given: team(), when: register(owner, hookID, "https://x.io", secret, []string{"task.exploded"}), err: CodeInvalidInput},
		{name: "user events belong to no workspace", given: team(), when: register(owner, hookID, "https://x.io", secret, []string{EventUserRegistered}), err: CodeInvalidInput},
		{name: "webhook events are never delivered", given: team(), when: register(owner, hookID, "https://x.io", secret, []string{EventWebhookRegistered}), err: CodeInvalidInput},
		{name: "nil id", given: team(), when: register(owner, uuid.Nil, "https://x.io", secret, nil), err: CodeInvalidInput},
		{name: "id taken", given: withHook, when: register(owner, hookID, "https://x.io", secret, nil), err: CodeConflict},
		{name: "at most twenty", given: evs(team(), twenty), when: register(owner, hookID, "https://x.io", secret, nil), err: CodePreconditionFailed},

		{
			name: "update the URL", given: withHook, when: update(admin, hookID, WebhookUpdate{URL: ptr("https://new.example.com")}),
			then: []Event{WebhookUpdated{WorkspaceID: wsID, WebhookID: hookID, URL: "https://new.example.com", SecretID: secret, EventTypes: []string{}, By: "adam", At: now}},
		},
		{
			name: "update the filter and secret", given: withHook, when: update(admin, hookID, WebhookUpdate{SecretID: &secret2, EventTypes: &[]string{EventTaskCreated}}),
			then: []Event{WebhookUpdated{WorkspaceID: wsID, WebhookID: hookID, URL: "https://hooks.example.com/tf", SecretID: secret2, EventTypes: []string{EventTaskCreated}, By: "adam", At: now}},
		},
		{name: "update that changes nothing", given: withHook, when: update(admin, hookID, WebhookUpdate{URL: ptr("https://hooks.example.com/tf"), EventTypes: &[]string{}})},
		{name: "update with an invalid URL", given: withHook, when: update(admin, hookID, WebhookUpdate{URL: ptr("mailto:a@b.c")}), err: CodeInvalidInput},
		{name: "update an unknown webhook", given: withHook, when: update(admin, otherID, WebhookUpdate{}), err: CodeNotFound},
		{name: "member cannot update", given: withHook, when: update(member, hookID, WebhookUpdate{}), err: CodeForbidden},

		{name: "rotate", given: withHook, when: rotate(admin, hookID, secret2),
			then: []Event{WebhookSecretRotated{WorkspaceID: wsID, WebhookID: hookID, SecretID: secret2, By: "adam", At: now}}},
		{name: "rotate to the same secret", given: withHook, when: rotate(admin, hookID, secret)},
		{name: "rotate an unknown webhook", given: withHook, when: rotate(admin, otherID, secret2), err: CodeNotFound},
		{name: "member cannot rotate", given: withHook, when: rotate(member, hookID, secret2), err: CodeForbidden},
		{name: "viewer cannot rotate", given: withHook, when: rotate(viewer, hookID, secret2), err: CodeForbidden},

		{name: "remove", given: withHook, when: remove(admin, hookID), then: []Event{WebhookRemoved{WorkspaceID: wsID, WebhookID: hookID, By: "adam", At: now}}},
		{name: "remove an unknown webhook", given: withHook, when: remove(admin, otherID), err: CodeNotFound},
		{name: "member cannot remove", given: withHook, when: remove(member, hookID), err: CodeForbidden},
		{name: "a removed webhook's slot is free", given: evs(team(), twenty, WebhookRemoved{WorkspaceID: wsID, WebhookID: id(100), At: t0}), when: register(owner, hookID, "https://x.io", secret, nil),
			then: []Event{WebhookRegistered{WorkspaceID: wsID, WebhookID: hookID, URL: "https://x.io", SecretID: secret, EventTypes: []string{}, By: "olga", At: now}}},
	})
}

func TestValidateWebhookSecret(t *testing.T) {
	t.Parallel()
	if err := ValidateWebhookSecret("0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"0123456789abcde", strings.Repeat("s", 257), "0123456789abcdef\n", "\xff0123456789abcdef"} {
		if got := CodeOf(ValidateWebhookSecret(bad)); got != CodeInvalidInput {
			t.Errorf("%q: code %q", bad, got)
		}
	}
}

func TestWebhookRedaction(t *testing.T) {
	t.Parallel()
	const token = "T000/B000/XXXXtoken"
	for _, e := range []Redactable{
		WebhookRegistered{WebhookID: hookID, URL: "https://hooks.x.io/services/" + token + "?k=" + token, SecretID: id(900), EventTypes: []string{EventTaskCreated}},
		WebhookUpdated{WebhookID: hookID, URL: "https://hooks.x.io/services/" + token, SecretID: id(900), EventTypes: []string{EventTaskCreated}},
	} {
		r := e.Redacted()
		if strings.Contains(fmt.Sprintf("%+v", r), token) {
			t.Errorf("%T: URL not redacted: %+v", e, r)
		}
		if r.EventType() != e.EventType() {
			t.Errorf("%T: redaction changed the type", e)
		}
		if !strings.Contains(fmt.Sprintf("%+v", e), token) {
			t.Errorf("%T: redaction changed the original", e)
		}
	}
	for in, want := range map[string]string{
		"https://x.io":                "https://x.io",
		"https://x.io/":               "https://x.io",
		"https://x.io:8443/a/b?c=d#e": "https://x.io:8443/[redacted]",
		"https://u:p@x.io/hook":       "https://x.io/[redacted]",
		"https://x.io?token=abc":      "https://x.io/[redacted]",
		"not a url at all %zz":        "[redacted]",
		"mailto:someone@example.com":  "[redacted]",
		"https://[::1]/p?q=1":         "https://[::1]/[redacted]",
	} {
		if got := RedactWebhookURL(in); got != want {
			t.Errorf("RedactWebhookURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A version-1 event held the secret in clear: the upcaster drops it and names
// the legacy secret instead, and RedactStored removes it from stored rows.
func TestWebhookV1Upcast(t *testing.T) {
	t.Parallel()
	const secret = "legacy-secret-0123456789"
	v1 := []byte(`{"workspace_id":"` + wsID.String() + `","webhook_id":"` + hookID.String() +
		`","url":"https://x.io/h?token=abc","secret":"` + secret + `","event_types":[],"by":"olga","at":"2026-01-01T00:00:00Z"}`)
	up, err := UpcastWebhookV1(v1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(up), secret) {
		t.Fatalf("upcast keeps the secret: %s", up)
	}
	reg := NewRegistry()
	for _, typ := range []string{EventWebhookRegistered, EventWebhookUpdated} {
		e, err := reg.Decode(typ, 2, up)
		if err != nil {
			t.Fatal(err)
		}
		var sid uuid.UUID
		switch e := e.(type) {
		case WebhookRegistered:
			sid = e.SecretID
		case WebhookUpdated:
			sid = e.SecretID
		}
		if sid != LegacyWebhookSecretID(hookID) || sid == uuid.Nil {
			t.Fatalf("%s: secret id %s", typ, sid)
		}
		red, changed, err := RedactStored(typ, v1)
		if err != nil || !changed {
			t.Fatalf("RedactStored: %v %v", changed, err)
		}
		if strings.Contains(string(red), secret) || strings.Contains(string(red), "token=abc") {
			t.Fatalf("RedactStored keeps a secret: %s", red)
		}
	}
	if _, err := reg.Decode(EventWebhookRegistered, 1, v1); err == nil {
		t.Fatal("a version-1 payload decoded without its upcaster")
	}
	if _, err := UpcastWebhookV1([]byte(`{"webhook_id":"nope"}`)); err == nil {
		t.Fatal("upcast of a bad payload succeeded")
	}
	same, changed, err := RedactStored(EventTaskCreated, []byte(`{"title":"x"}`))
	if err != nil || changed || string(same) != `{"title":"x"}` {
		t.Fatalf("RedactStored changed another event: %s %v %v", same, changed, err)
	}
}
