package domain

import (
	"testing"
	"time"

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

// sentAt is invitation n, sent at at as a member.
func sentAt(n int, email string, at time.Time) WorkspaceMemberInvited {
	e := invited(n, email, RoleMember)
	e.At = at
	return e
}

// stale is invitation n, expired exactly at now (expiry is exclusive).
func stale(n int, email string) WorkspaceMemberInvited {
	return sentAt(n, email, now.Add(-InvitationTTL))
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
		{name: "an expired invitation frees its seat", given: evs(full[:len(full)-1], stale(5, "e@x.io")), when: invite(owner, invID, "new@example.com", RoleMember), then: want(owner, "new@example.com", RoleMember)},
		{name: "an address whose invitation expired is invited again", given: evs(team(), stale(1, "new@example.com")), when: invite(owner, invID, "NEW@example.com", RoleMember), then: want(owner, "NEW@example.com", RoleMember)},
		{name: "an address whose invitation is about to expire is still invited", given: evs(team(), sentAt(1, "new@example.com", now.Add(-InvitationTTL+time.Second))), when: invite(owner, invID, "new@example.com", RoleMember), err: CodeConflict},
		{name: "the pro plan allows more", given: evs(WorkspaceCreated{WorkspaceID: wsID, Name: "Acme", Plan: PlanPro, By: owner.UserID, At: t0}, full[1:]), when: invite(owner, invID, "new@example.com", RoleMember), then: want(owner, "new@example.com", RoleMember)},
	})
}

func TestAcceptInvitation(t *testing.T) {
	t.Parallel()
	accept := func(a Actor, inv uuid.UUID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.AcceptInvitation(a, inv, now) }
	}
	newcomer := Actor{UserID: "nina", Email: "Nina@Example.com", EmailVerified: true, DisplayName: " Nina "}
	given := evs(team(), invited(1, "nina@example.com", RoleAdmin))
	run(t, []scenario{
		{
			name: "invited email, in another letter case", given: given, when: accept(newcomer, id(1)),
			then: []Event{WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "nina", Email: "Nina@Example.com", DisplayName: "Nina", Role: RoleAdmin, InvitationID: ptr(id(1)), By: "nina", At: now}},
		},
		{name: "another email is forbidden", given: given, when: accept(stranger, id(1)), err: CodeForbidden},
		{name: "no email is forbidden", given: given, when: accept(Actor{UserID: "nina"}, id(1)), err: CodeForbidden},
		// The address matches but nobody vouched for it: anyone could sign up under another's address.
		{name: "unverified email is forbidden", given: given, when: accept(Actor{UserID: "nina", Email: "nina@example.com", DisplayName: "Nina"}, id(1)), err: CodeForbidden},
		// A non-member without an invitation: ErrNotMember, which the commands answer as "workspace not found".
		{name: "unknown invitation", given: given, when: accept(newcomer, id(2)), err: CodeForbidden},
		{name: "revoked invitation", given: evs(given, WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(1), At: t0}), when: accept(newcomer, id(1)), err: CodePreconditionFailed},
		{name: "accepted twice", given: evs(given, WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "nina", Email: "nina@example.com", Role: RoleAdmin, InvitationID: ptr(id(1)), At: t0}), when: accept(newcomer, id(1)), err: CodePreconditionFailed},
		{name: "expired invitation", given: evs(team(), stale(1, "nina@example.com")), when: accept(newcomer, id(1)), err: CodeInvitationExpired},
		{name: "accepted in its last second", given: evs(team(), sentAt(1, "nina@example.com", now.Add(-InvitationTTL+time.Second))), when: accept(newcomer, id(1)),
			then: []Event{WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "nina", Email: "Nina@Example.com", DisplayName: "Nina", Role: RoleMember, InvitationID: ptr(id(1)), By: "nina", At: now}}},
		{name: "already a member under another email", given: evs(team(), invited(1, "mia@elsewhere.io", RoleAdmin)), when: accept(Actor{UserID: "mia", Email: "mia@elsewhere.io", EmailVerified: true}, id(1)), err: CodeConflict},
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
		{name: "expired", given: evs(team(), stale(1, "a@x.io")), when: revoke(owner, id(1)), err: CodeInvitationExpired},
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
