package domain

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestRole(t *testing.T) {
	t.Parallel()
	order := []Role{RoleViewer, RoleMember, RoleAdmin, RoleOwner}
	for i, r := range order {
		for j, min := range order {
			if got := r.AtLeast(min); got != (i >= j) {
				t.Errorf("%s.AtLeast(%s) = %v", r, min, got)
			}
		}
		if Role("boss").AtLeast(r) || r.AtLeast("boss") {
			t.Errorf("unknown roles must grant nothing (%s)", r)
		}
	}
	for in, want := range map[string]Role{"owner": RoleOwner, " Admin ": RoleAdmin, "MEMBER": RoleMember, "viewer": RoleViewer} {
		got, err := ParseRole(in)
		if err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "root", "owners"} {
		_, err := ParseRole(in)
		mustCode(t, err, CodeInvalidInput)
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	if PlanFree.MemberLimit() != 10 || PlanPro.MemberLimit() != 1000 || Plan("gold").MemberLimit() != 0 {
		t.Fatal("wrong member limits")
	}
	if p, err := ParsePlan(" Pro"); err != nil || p != PlanPro {
		t.Fatalf("ParsePlan: %q %v", p, err)
	}
	_, err := ParsePlan("enterprise")
	mustCode(t, err, CodeInvalidInput)
}

func TestCreateWorkspace(t *testing.T) {
	t.Parallel()
	create := func(a Actor, id uuid.UUID, name string, plan Plan) func(world) ([]Event, error) {
		return func(world) ([]Event, error) { return CreateWorkspace(a, id, name, plan, now) }
	}
	run(t, []scenario{
		{
			name: "creator becomes owner",
			when: create(owner, wsID, "  Acme  ", PlanFree),
			then: []Event{
				WorkspaceCreated{WorkspaceID: wsID, Name: "Acme", Plan: PlanFree, By: "olga", At: now},
				WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "olga", Email: "olga@example.com", DisplayName: "Olga", Role: RoleOwner, By: "olga", At: now},
			},
		},
		{
			name: "a 100-character name is fine",
			when: create(Actor{UserID: "u"}, wsID, strings.Repeat("é", 100), PlanPro),
			then: []Event{
				WorkspaceCreated{WorkspaceID: wsID, Name: strings.Repeat("é", 100), Plan: PlanPro, By: "u", At: now},
				WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "u", Role: RoleOwner, By: "u", At: now},
			},
		},
		{name: "empty name", when: create(owner, wsID, "   ", PlanFree), err: CodeInvalidInput},
		{name: "name too long", when: create(owner, wsID, strings.Repeat("a", 101), PlanFree), err: CodeInvalidInput},
		{name: "name with a line break", when: create(owner, wsID, "Ac\nme", PlanFree), err: CodeInvalidInput},
		{name: "unknown plan", when: create(owner, wsID, "Acme", "gold"), err: CodeInvalidInput},
		{name: "nil id", when: create(owner, uuid.Nil, "Acme", PlanFree), err: CodeInvalidInput},
		{name: "anonymous actor", when: create(Actor{}, wsID, "Acme", PlanFree), err: CodeInvalidInput},
		{name: "invalid actor email", when: create(Actor{UserID: "u", Email: "nope"}, wsID, "Acme", PlanFree), err: CodeInvalidInput},
	})
}

func TestWorkspaceRename(t *testing.T) {
	t.Parallel()
	rename := func(a Actor, name string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.Rename(a, name, now) }
	}
	renamed := func(by Actor) []Event {
		return []Event{WorkspaceRenamed{WorkspaceID: wsID, Name: "Acme Corp", By: by.UserID, At: now}}
	}
	run(t, []scenario{
		{name: "owner", given: team(), when: rename(owner, "Acme Corp"), then: renamed(owner)},
		{name: "admin", given: team(), when: rename(admin, " Acme Corp "), then: renamed(admin)},
		{name: "member is forbidden", given: team(), when: rename(member, "Acme Corp"), err: CodeForbidden},
		{name: "viewer is forbidden", given: team(), when: rename(viewer, "Acme Corp"), err: CodeForbidden},
		{name: "non-member is forbidden", given: team(), when: rename(stranger, "Acme Corp"), err: CodeForbidden},
		{name: "same name changes nothing", given: team(), when: rename(owner, "Acme")},
		{name: "empty name", given: team(), when: rename(owner, ""), err: CodeInvalidInput},
	})
}

func TestInviteMember(t *testing.T) {
	t.Parallel()
	invite := func(a Actor, inv uuid.UUID, email string, r Role) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.InviteMember(a, inv, email, r, now) }
	}
	want := func(by Actor, email string, r Role) []Event {
		return []Event{WorkspaceMemberInvited{WorkspaceID: wsID, InvitationID: invID, Email: email, Role: r, By: by.UserID, At: now}}
	}
	// full has 5 members and 5 pending invitations: the free plan's 10.
	full := evs(team(), invited(1, "a@x.io", RoleMember), invited(2, "b@x.io", RoleMember),
		invited(3, "c@x.io", RoleMember), invited(4, "d@x.io", RoleViewer), invited(5, "e@x.io", RoleAdmin))
	revoked := WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(5), By: owner.UserID, At: t0}
	run(t, []scenario{
		{name: "admin invites a member", given: team(), when: invite(admin, invID, " new@example.com ", RoleMember), then: want(admin, "new@example.com", RoleMember)},
		{name: "admin invites an admin", given: team(), when: invite(admin, invID, "new@example.com", RoleAdmin), then: want(admin, "new@example.com", RoleAdmin)},
		{name: "owner invites an owner", given: team(), when: invite(owner, invID, "new@example.com", RoleOwner), then: want(owner, "new@example.com", RoleOwner)},
		{name: "admin cannot invite an owner", given: team(), when: invite(admin, invID, "new@example.com", RoleOwner), err: CodeForbidden},
		{name: "member is forbidden", given: team(), when: invite(member, invID, "new@example.com", RoleViewer), err: CodeForbidden},
		{name: "viewer is forbidden", given: team(), when: invite(viewer, invID, "new@example.com", RoleViewer), err: CodeForbidden},
		{name: "non-member is forbidden", given: team(), when: invite(stranger, invID, "new@example.com", RoleViewer), err: CodeForbidden},
		{name: "invalid email", given: team(), when: invite(owner, invID, "new@", RoleMember), err: CodeInvalidInput},
		{name: "email with a display name", given: team(), when: invite(owner, invID, "New <new@example.com>", RoleMember), err: CodeInvalidInput},
		{name: "unknown role", given: team(), when: invite(owner, invID, "new@example.com", "boss"), err: CodeInvalidInput},
		{name: "nil invitation id", given: team(), when: invite(owner, uuid.Nil, "new@example.com", RoleMember), err: CodeInvalidInput},
		{name: "already a member, in another letter case", given: team(), when: invite(owner, invID, "MIA@Example.com", RoleMember), err: CodeConflict},
		{name: "already invited", given: evs(team(), invited(1, "new@example.com", RoleMember)), when: invite(owner, invID, "New@example.com", RoleAdmin), err: CodeConflict},
		{name: "invitation id reused", given: evs(team(), invited(1, "a@x.io", RoleMember), WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(1), At: t0}), when: invite(owner, id(1), "new@example.com", RoleMember), err: CodeConflict},
		{name: "a revoked invitation can be sent again", given: evs(team(), invited(1, "new@example.com", RoleMember), WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(1), At: t0}), when: invite(owner, invID, "new@example.com", RoleMember), then: want(owner, "new@example.com", RoleMember)},
		{name: "the 10th seat may be invited", given: full[:len(full)-1], when: invite(owner, invID, "new@example.com", RoleMember), then: want(owner, "new@example.com", RoleMember)},
		{name: "pending invitations count toward the member limit", given: full, when: invite(owner, invID, "new@example.com", RoleMember), err: CodePreconditionFailed},
		{name: "a revoked invitation frees its seat", given: evs(full, revoked), when: invite(owner, invID, "new@example.com", RoleMember), then: want(owner, "new@example.com", RoleMember)},
		{name: "the pro plan allows more", given: evs(WorkspaceCreated{WorkspaceID: wsID, Name: "Acme", Plan: PlanPro, By: owner.UserID, At: t0}, full[1:]), when: invite(owner, invID, "new@example.com", RoleMember), then: want(owner, "new@example.com", RoleMember)},
	})
}

func TestAcceptInvitation(t *testing.T) {
	t.Parallel()
	accept := func(a Actor, inv uuid.UUID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.AcceptInvitation(a, inv, now) }
	}
	newcomer := Actor{UserID: "nina", Email: "Nina@Example.com", DisplayName: " Nina "}
	given := evs(team(), invited(1, "nina@example.com", RoleAdmin))
	run(t, []scenario{
		{
			name: "invited email, in another letter case", given: given, when: accept(newcomer, id(1)),
			then: []Event{WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "nina", Email: "Nina@Example.com", DisplayName: "Nina", Role: RoleAdmin, InvitationID: ptr(id(1)), By: "nina", At: now}},
		},
		{name: "another email is forbidden", given: given, when: accept(stranger, id(1)), err: CodeForbidden},
		{name: "no email is forbidden", given: given, when: accept(Actor{UserID: "nina"}, id(1)), err: CodeForbidden},
		// A non-member without an invitation: ErrNotMember, which the commands answer as "workspace not found".
		{name: "unknown invitation", given: given, when: accept(newcomer, id(2)), err: CodeForbidden},
		{name: "revoked invitation", given: evs(given, WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(1), At: t0}), when: accept(newcomer, id(1)), err: CodePreconditionFailed},
		{name: "accepted twice", given: evs(given, WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "nina", Email: "nina@example.com", Role: RoleAdmin, InvitationID: ptr(id(1)), At: t0}), when: accept(newcomer, id(1)), err: CodePreconditionFailed},
		{name: "already a member under another email", given: evs(team(), invited(1, "mia@elsewhere.io", RoleAdmin)), when: accept(Actor{UserID: "mia", Email: "mia@elsewhere.io"}, id(1)), err: CodeConflict},
	})
}

func TestRevokeInvitation(t *testing.T) {
	t.Parallel()
	revoke := func(a Actor, inv uuid.UUID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.RevokeInvitation(a, inv, now) }
	}
	given := evs(team(), invited(1, "a@x.io", RoleMember), invited(2, "b@x.io", RoleOwner))
	run(t, []scenario{
		{name: "admin", given: given, when: revoke(admin, id(1)), then: []Event{WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(1), By: "adam", At: now}}},
		{name: "owner revokes an owner invitation", given: given, when: revoke(owner, id(2)), then: []Event{WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(2), By: "olga", At: now}}},
		{name: "admin cannot revoke an owner invitation", given: given, when: revoke(admin, id(2)), err: CodeForbidden},
		{name: "member is forbidden", given: given, when: revoke(member, id(1)), err: CodeForbidden},
		{name: "viewer is forbidden", given: given, when: revoke(viewer, id(1)), err: CodeForbidden},
		{name: "unknown invitation", given: given, when: revoke(owner, id(3)), err: CodeNotFound},
		{name: "already revoked", given: evs(given, WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(1), At: t0}), when: revoke(owner, id(1)), err: CodePreconditionFailed},
	})
}

func TestChangeMemberRole(t *testing.T) {
	t.Parallel()
	change := func(a Actor, m UserID, r Role) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.ChangeMemberRole(a, m, r, now) }
	}
	changed := func(by Actor, m UserID, from, to Role) []Event {
		return []Event{WorkspaceMemberRoleChanged{WorkspaceID: wsID, UserID: m, From: from, To: to, By: by.UserID, At: now}}
	}
	twoOwners := evs(team(), joined(owner2, RoleOwner))
	run(t, []scenario{
		{name: "admin promotes a member to admin", given: team(), when: change(admin, "mia", RoleAdmin), then: changed(admin, "mia", RoleMember, RoleAdmin)},
		{name: "admin demotes a member to viewer", given: team(), when: change(admin, "mia", RoleViewer), then: changed(admin, "mia", RoleMember, RoleViewer)},
		{name: "admin demotes themselves", given: team(), when: change(admin, "adam", RoleMember), then: changed(admin, "adam", RoleAdmin, RoleMember)},
		{name: "admin cannot grant owner", given: team(), when: change(admin, "mia", RoleOwner), err: CodeForbidden},
		{name: "admin cannot make themselves owner", given: team(), when: change(admin, "adam", RoleOwner), err: CodeForbidden},
		{name: "admin cannot demote an owner", given: twoOwners, when: change(admin, "otto", RoleAdmin), err: CodeForbidden},
		{name: "owner grants owner", given: team(), when: change(owner, "adam", RoleOwner), then: changed(owner, "adam", RoleAdmin, RoleOwner)},
		{name: "owner demotes another owner", given: twoOwners, when: change(owner, "otto", RoleMember), then: changed(owner, "otto", RoleOwner, RoleMember)},
		{name: "owner demotes themselves when another owner remains", given: twoOwners, when: change(owner, "olga", RoleAdmin), then: changed(owner, "olga", RoleOwner, RoleAdmin)},
		{name: "the last owner cannot be demoted", given: team(), when: change(owner, "olga", RoleAdmin), err: CodePreconditionFailed},
		{name: "the last owner cannot be demoted after the other left", given: evs(twoOwners, WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "otto", Reason: MemberRemovedReasonLeft, By: "otto", At: t0}), when: change(owner, "olga", RoleViewer), err: CodePreconditionFailed},
		{name: "same role changes nothing", given: team(), when: change(admin, "mia", RoleMember)},
		{name: "unknown member", given: team(), when: change(owner, "sam", RoleMember), err: CodeNotFound},
		{name: "unknown role", given: team(), when: change(owner, "mia", "boss"), err: CodeInvalidInput},
		{name: "member is forbidden", given: team(), when: change(member, "max", RoleViewer), err: CodeForbidden},
		{name: "viewer is forbidden", given: team(), when: change(viewer, "vic", RoleMember), err: CodeForbidden},
	})
}

func TestRemoveMember(t *testing.T) {
	t.Parallel()
	remove := func(a Actor, m UserID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.RemoveMember(a, m, now) }
	}
	removed := func(by Actor, m UserID, reason string) []Event {
		return []Event{WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: m, Reason: reason, By: by.UserID, At: now}}
	}
	twoOwners := evs(team(), joined(owner2, RoleOwner))
	run(t, []scenario{
		{name: "admin removes a member", given: team(), when: remove(admin, "mia"), then: removed(admin, "mia", MemberRemovedReasonRemoved)},
		{name: "admin removes an admin", given: evs(team(), joined(owner2, RoleAdmin)), when: remove(admin, "otto"), then: removed(admin, "otto", MemberRemovedReasonRemoved)},
		{name: "admin cannot remove an owner", given: twoOwners, when: remove(admin, "otto"), err: CodeForbidden},
		{name: "owner removes another owner", given: twoOwners, when: remove(owner, "otto"), then: removed(owner, "otto", MemberRemovedReasonRemoved)},
		{name: "member leaves", given: team(), when: remove(member, "mia"), then: removed(member, "mia", MemberRemovedReasonLeft)},
		{name: "viewer leaves", given: team(), when: remove(viewer, "vic"), then: removed(viewer, "vic", MemberRemovedReasonLeft)},
		{name: "owner leaves when another owner remains", given: twoOwners, when: remove(owner2, "otto"), then: removed(owner2, "otto", MemberRemovedReasonLeft)},
		{name: "the last owner cannot leave", given: team(), when: remove(owner, "olga"), err: CodePreconditionFailed},
		{name: "the last owner cannot leave once the other is removed", given: evs(twoOwners, WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "olga", Reason: MemberRemovedReasonRemoved, By: "otto", At: t0}), when: remove(owner2, "otto"), err: CodePreconditionFailed},
		{name: "member cannot remove others", given: team(), when: remove(member, "max"), err: CodeForbidden},
		{name: "viewer cannot remove others", given: team(), when: remove(viewer, "mia"), err: CodeForbidden},
		{name: "non-member is forbidden", given: team(), when: remove(stranger, "mia"), err: CodeForbidden},
		{name: "unknown member", given: team(), when: remove(admin, "sam"), err: CodeNotFound},
		{name: "removed members can be invited again", given: evs(team(), WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "mia", Reason: MemberRemovedReasonLeft, By: "mia", At: t0}),
			when: func(w world) ([]Event, error) {
				return w.workspace.InviteMember(owner, invID, "mia@example.com", RoleMember, now)
			},
			then: []Event{WorkspaceMemberInvited{WorkspaceID: wsID, InvitationID: invID, Email: "mia@example.com", Role: RoleMember, By: "olga", At: now}}},
	})
}

func TestReserveProjectKey(t *testing.T) {
	t.Parallel()
	reserve := func(a Actor, pid uuid.UUID, key string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.ReserveProjectKey(a, pid, key, now) }
	}
	taken := evs(team(), WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: otherID, Key: "TF", By: "olga", At: t0})
	run(t, []scenario{
		{name: "member", given: team(), when: reserve(member, projectID, " TF2 "), then: []Event{WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "TF2", By: "mia", At: now}}},
		{name: "ten characters", given: team(), when: reserve(member, projectID, "ABCDEFGHIJ"), then: []Event{WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "ABCDEFGHIJ", By: "mia", At: now}}},
		{name: "key taken", given: taken, when: reserve(member, projectID, "TF"), err: CodeConflict},
		{name: "project already has a key", given: taken, when: reserve(member, otherID, "OPS"), err: CodeConflict},
		{name: "viewer is forbidden", given: team(), when: reserve(viewer, projectID, "TF"), err: CodeForbidden},
		{name: "non-member is forbidden", given: team(), when: reserve(stranger, projectID, "TF"), err: CodeForbidden},
		{name: "lower case", given: team(), when: reserve(member, projectID, "tf"), err: CodeInvalidInput},
		{name: "one character", given: team(), when: reserve(member, projectID, "T"), err: CodeInvalidInput},
		{name: "eleven characters", given: team(), when: reserve(member, projectID, "ABCDEFGHIJK"), err: CodeInvalidInput},
		{name: "starts with a digit", given: team(), when: reserve(member, projectID, "1TF"), err: CodeInvalidInput},
		{name: "punctuation", given: team(), when: reserve(member, projectID, "T-F"), err: CodeInvalidInput},
		{name: "nil project id", given: team(), when: reserve(member, uuid.Nil, "TF"), err: CodeInvalidInput},
	})
}

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
		"https://x.io":                 "https://x.io",
		"https://x.io/":                "https://x.io",
		"https://x.io:8443/a/b?c=d#e":  "https://x.io:8443/[redacted]",
		"https://u:p@x.io/hook":        "https://x.io/[redacted]",
		"https://x.io?token=abc":       "https://x.io/[redacted]",
		"not a url at all %zz":         "[redacted]",
		"mailto:someone@example.com":   "[redacted]",
		"https://[2606:4700::1]/p?q=1": "https://[2606:4700::1]/[redacted]",
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

func TestWorkspaceQueries(t *testing.T) {
	t.Parallel()
	w, err := LoadWorkspace(evs(team(),
		WorkspaceRenamed{WorkspaceID: wsID, Name: "Acme Corp", By: "olga", At: t0},
		invited(1, "zed@x.io", RoleMember), invited(2, "amy@x.io", RoleViewer), invited(3, "bob@x.io", RoleAdmin),
		WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(3), At: t0},
		WorkspaceMemberRoleChanged{WorkspaceID: wsID, UserID: "mia", From: RoleMember, To: RoleAdmin, At: t0},
		WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "max", Reason: MemberRemovedReasonLeft, At: t0},
		WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "TF", At: t0},
		WebhookRegistered{WorkspaceID: wsID, WebhookID: hookID, URL: "https://x.io", SecretID: id(900), EventTypes: []string{EventTaskCreated}, At: t0},
	))
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() != wsID || w.Name() != "Acme Corp" || w.Plan() != PlanFree || w.Version() != 15 || !w.CreatedAt().Equal(t0) {
		t.Fatalf("unexpected state: %s %q %s v%d", w.ID(), w.Name(), w.Plan(), w.Version())
	}
	var ids []UserID
	for _, m := range w.Members() {
		ids = append(ids, m.UserID)
	}
	if !reflect.DeepEqual(ids, []UserID{"adam", "mia", "olga", "vic"}) {
		t.Fatalf("members: %v", ids)
	}
	if r, ok := w.RoleOf("mia"); !ok || r != RoleAdmin {
		t.Fatalf("RoleOf(mia) = %s %v", r, ok)
	}
	if _, ok := w.RoleOf("max"); ok || w.IsMember("max") || !w.IsMember("vic") {
		t.Fatal("membership is wrong")
	}
	if m, ok := w.Member("olga"); !ok || m.Handle() != "olga" || m.Role != RoleOwner {
		t.Fatalf("Member(olga) = %+v", m)
	}
	mustCode(t, w.Authorize("vic", RoleMember), CodeForbidden)
	mustCode(t, w.Authorize("sam", RoleViewer), CodeForbidden)
	if err := w.Authorize("vic", RoleViewer); err != nil {
		t.Fatal(err)
	}
	if err := w.Authorize("olga", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, inv := range w.PendingInvitations() {
		emails = append(emails, inv.Email)
	}
	if !reflect.DeepEqual(emails, []string{"amy@x.io", "zed@x.io"}) {
		t.Fatalf("pending invitations: %v", emails)
	}
	if inv, ok := w.Invitation(id(3)); !ok || inv.Status != InvitationRevoked {
		t.Fatalf("Invitation(3) = %+v", inv)
	}
	if k, ok := w.ProjectKey(projectID); !ok || k != "TF" {
		t.Fatal("ProjectKey")
	}
	if p, ok := w.ProjectByKey("TF"); !ok || p != projectID {
		t.Fatal("ProjectByKey")
	}
	hooks := w.Webhooks()
	if len(hooks) != 1 || hooks[0].URL != "https://x.io" {
		t.Fatalf("webhooks: %+v", hooks)
	}
	hooks[0].EventTypes[0] = "changed"
	if h, _ := w.Webhook(hookID); h.EventTypes[0] != EventTaskCreated {
		t.Fatal("Webhooks must return copies")
	}
}

func TestLoadWorkspaceRejectsBadStreams(t *testing.T) {
	t.Parallel()
	_, err := LoadWorkspace(nil)
	mustCode(t, err, CodeNotFound)
	for name, history := range map[string][]Event{
		"does not start with created": {WorkspaceRenamed{WorkspaceID: wsID, Name: "x"}},
		"created twice":               evs(wsCreated(), WorkspaceCreated{WorkspaceID: wsID}),
		"foreign event":               evs(wsCreated(), taskCreated()),
	} {
		if _, err := LoadWorkspace(history); err == nil || CodeOf(err) != "" {
			t.Errorf("%s: want an internal error, got %v", name, err)
		}
	}
}

func TestWrongWorkspaceIsAnInternalError(t *testing.T) {
	t.Parallel()
	w, err := loadWorld(board())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadWorkspace([]Event{WorkspaceCreated{WorkspaceID: otherID, Name: "Other", Plan: PlanFree}, joined(member, RoleOwner)})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"project rename": func() error { _, err := w.project.Rename(other, member, "x", now); return err },
		"project nil ws": func() error { _, err := w.project.Archive(nil, member, now); return err },
		"task edit":      func() error { _, err := w.task.Archive(other, w.project, member, now); return err },
		"task unassign":  func() error { _, err := w.task.UnassignBecauseMemberRemoved(other, "mia", now); return err },
		"create task": func() error {
			_, _, err := CreateTask(other, w.project, w.numbers, member, id(9), NewTask{Title: "x"}, now)
			return err
		},
		"create project": func() error { _, _, err := CreateProject(nil, member, id(9), "x", "XX", now); return err },
	} {
		err := call()
		if !errors.Is(err, errWrongWorkspace) || CodeOf(err) != "" {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
