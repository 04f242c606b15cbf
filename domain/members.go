package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Role is a member's role in a workspace: owner > admin > member > viewer.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

func (r Role) level() int {
	switch r {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleMember:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.level() > 0 }

// AtLeast reports whether r grants everything min grants. Unknown roles grant
// nothing.
func (r Role) AtLeast(min Role) bool { return r.Valid() && min.Valid() && r.level() >= min.level() }

// ParseRole accepts a role name in any letter case.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", InvalidInput("role", "must be one of owner, admin, member, viewer")
	}
	return r, nil
}

// Reasons recorded on workspace.member_removed.
const (
	MemberRemovedReasonRemoved = "removed" // by an admin or owner
	MemberRemovedReasonLeft    = "left"    // the member left
)

type WorkspaceMemberInvited struct {
	WorkspaceID  uuid.UUID `json:"workspace_id"`
	InvitationID uuid.UUID `json:"invitation_id"`
	Email        string    `json:"email"`
	Role         Role      `json:"role"`
	By           UserID    `json:"by"`
	At           time.Time `json:"at"`
}

type WorkspaceInvitationRevoked struct {
	WorkspaceID  uuid.UUID `json:"workspace_id"`
	InvitationID uuid.UUID `json:"invitation_id"`
	By           UserID    `json:"by"`
	At           time.Time `json:"at"`
}

// WorkspaceMemberJoined records a new member: the creator (no invitation) or
// someone accepting an invitation. Email and display name are copied from the
// member's token at that moment.
type WorkspaceMemberJoined struct {
	WorkspaceID  uuid.UUID  `json:"workspace_id"`
	UserID       UserID     `json:"user_id"`
	Email        string     `json:"email"`
	DisplayName  string     `json:"display_name"`
	Role         Role       `json:"role"`
	InvitationID *uuid.UUID `json:"invitation_id,omitempty"`
	By           UserID     `json:"by"`
	At           time.Time  `json:"at"`
}

type WorkspaceMemberRoleChanged struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	UserID      UserID    `json:"user_id"`
	From        Role      `json:"from"`
	To          Role      `json:"to"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

type WorkspaceMemberRemoved struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	UserID      UserID    `json:"user_id"`
	Reason      string    `json:"reason"` // MemberRemovedReason*
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

func (WorkspaceMemberInvited) EventType() string { return EventWorkspaceMemberInvited }

func (WorkspaceInvitationRevoked) EventType() string { return EventWorkspaceInvitationRevoked }

func (WorkspaceMemberJoined) EventType() string { return EventWorkspaceMemberJoined }

func (WorkspaceMemberRoleChanged) EventType() string { return EventWorkspaceMemberRoleChanged }

func (WorkspaceMemberRemoved) EventType() string { return EventWorkspaceMemberRemoved }

// Member is a workspace member as seen by command handlers.
type Member struct {
	UserID      UserID    `json:"user_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        Role      `json:"role"`
	JoinedAt    time.Time `json:"joined_at"`
}

// Handle is how the member is @mentioned: the lower-cased local part of
// their email (see ParseMentions).
func (m Member) Handle() string { return emailHandle(m.Email) }

type InvitationStatus string

const (
	InvitationPending  InvitationStatus = "pending"
	InvitationAccepted InvitationStatus = "accepted"
	InvitationRevoked  InvitationStatus = "revoked"
)

type Invitation struct {
	ID        uuid.UUID        `json:"id"`
	Email     string           `json:"email"`
	Role      Role             `json:"role"`
	InvitedBy UserID           `json:"invited_by"`
	InvitedAt time.Time        `json:"invited_at"`
	Status    InvitationStatus `json:"status"` // never "expired": that is decided by time, see PendingAt
}

// InvitationTTL is how long an invitation can be accepted. It is a constant of the domain, not a
// setting: expiry is then a function of the invitation event alone (InvitationExpiresAt), so the
// aggregate, the read model and every process agree on it, and a changed setting could never
// revive or kill invitations already sent.
const InvitationTTL = 7 * 24 * time.Hour

// InvitationExpiresAt is when an invitation sent at invitedAt expires.
func InvitationExpiresAt(invitedAt time.Time) time.Time { return invitedAt.UTC().Add(InvitationTTL) }

// ExpiresAt is when inv stops being acceptable.
func (inv Invitation) ExpiresAt() time.Time { return InvitationExpiresAt(inv.InvitedAt) }

// PendingAt reports whether inv can be accepted at now: neither accepted, revoked nor expired.
func (inv Invitation) PendingAt(now time.Time) bool {
	return inv.Status == InvitationPending && now.Before(inv.ExpiresAt())
}

// ErrInvitationExpired refuses to accept (or revoke) an invitation past its expiry.
var ErrInvitationExpired error = &Error{Code: CodeInvitationExpired, Message: "this invitation has expired: ask an admin of the workspace to invite you again"}

// actorProfile validates the optional email and display name from a token.
func actorProfile(actor Actor) (email, displayName string, err error) {
	if strings.TrimSpace(actor.Email) != "" {
		if email, err = cleanEmail("email", actor.Email); err != nil {
			return "", "", err
		}
	}
	if displayName, err = cleanOptionalLine("display_name", actor.DisplayName, MaxNameLen); err != nil {
		return "", "", err
	}
	return email, displayName, nil
}

// InviteMember invites an email address with a role (admin+; only owners
// invite owners). Pending invitations count toward the plan's member limit,
// so that accepting one can never exceed it; expired ones no longer do, and
// an address whose invitation expired can be invited again.
func (w *Workspace) InviteMember(actor Actor, invitationID uuid.UUID, email string, role Role, now time.Time) ([]Event, error) {
	actorRole, err := w.authorize(actor.UserID, RoleAdmin)
	if err != nil {
		return nil, err
	}
	if invitationID == uuid.Nil {
		return nil, InvalidInput("invitation_id", "must not be empty")
	}
	email, err = cleanEmail("email", email)
	if err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, InvalidInput("role", "must be one of owner, admin, member, viewer")
	}
	if role == RoleOwner && actorRole != RoleOwner {
		return nil, Forbidden("only owners can invite owners")
	}
	if _, used := w.state.Invitations[invitationID]; used {
		return nil, Conflict("this invitation id is already used")
	}
	for _, m := range w.state.Members {
		if sameEmail(m.Email, email) {
			return nil, Conflict("this email address belongs to a member already")
		}
	}
	pending := 0
	for _, inv := range w.state.Invitations {
		if !inv.PendingAt(now) {
			continue
		}
		if sameEmail(inv.Email, email) {
			return nil, Conflict("this email address is already invited")
		}
		pending++
	}
	if limit := w.state.Plan.MemberLimit(); len(w.state.Members)+pending >= limit {
		return nil, PreconditionFailed(fmt.Sprintf("the %s plan allows at most %d members, pending invitations included", w.state.Plan, limit))
	}
	return []Event{WorkspaceMemberInvited{
		WorkspaceID: w.state.ID, InvitationID: invitationID, Email: email, Role: role,
		By: actor.UserID, At: now.UTC(),
	}}, nil
}

// AcceptInvitation makes the actor a member, if the invitation was sent to
// the actor's email address (compared case-insensitively).
func (w *Workspace) AcceptInvitation(actor Actor, invitationID uuid.UUID, now time.Time) ([]Event, error) {
	if err := checkUserID("user_id", actor.UserID); err != nil {
		return nil, err
	}
	inv, ok := w.state.Invitations[invitationID]
	if (!ok || !sameEmail(inv.Email, strings.TrimSpace(actor.Email))) && !w.IsMember(actor.UserID) {
		return nil, ErrNotMember // no invitation for them: the workspace does not exist for them
	}
	if !ok {
		return nil, NotFound("invitation not found")
	}
	if !sameEmail(inv.Email, strings.TrimSpace(actor.Email)) {
		return nil, Forbidden("this invitation was sent to another email address")
	}
	if !actor.EmailVerified {
		// Invitations are matched by address: an address the identity provider has not
		// verified would let anyone claim another person's invitation.
		return nil, Forbidden("your email address is not verified: verify it with your identity provider to accept the invitation")
	}
	if inv.Status != InvitationPending {
		return nil, PreconditionFailed("this invitation is no longer pending")
	}
	if !inv.PendingAt(now) {
		return nil, ErrInvitationExpired
	}
	if w.IsMember(actor.UserID) {
		return nil, Conflict("you are already a member of this workspace")
	}
	email, displayName, err := actorProfile(actor)
	if err != nil {
		return nil, err
	}
	id := invitationID
	return []Event{WorkspaceMemberJoined{
		WorkspaceID: w.state.ID, UserID: actor.UserID, Email: email, DisplayName: displayName,
		Role: inv.Role, InvitationID: &id, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// RevokeInvitation cancels a pending invitation (admin+; only owners revoke
// an invitation to become owner).
func (w *Workspace) RevokeInvitation(actor Actor, invitationID uuid.UUID, now time.Time) ([]Event, error) {
	actorRole, err := w.authorize(actor.UserID, RoleAdmin)
	if err != nil {
		return nil, err
	}
	inv, ok := w.state.Invitations[invitationID]
	if !ok {
		return nil, NotFound("invitation not found")
	}
	if inv.Role == RoleOwner && actorRole != RoleOwner {
		return nil, Forbidden("only owners can revoke an owner invitation")
	}
	if inv.Status != InvitationPending {
		return nil, PreconditionFailed("this invitation is no longer pending")
	}
	if !inv.PendingAt(now) {
		return nil, ErrInvitationExpired // nothing to cancel; revoking it would only add noise
	}
	return []Event{WorkspaceInvitationRevoked{
		WorkspaceID: w.state.ID, InvitationID: invitationID, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// ChangeMemberRole sets a member's role (admin+). Only owners grant or take
// away the owner role, and the last owner can never be demoted.
func (w *Workspace) ChangeMemberRole(actor Actor, member UserID, role Role, now time.Time) ([]Event, error) {
	actorRole, err := w.authorize(actor.UserID, RoleAdmin)
	if err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, InvalidInput("role", "must be one of owner, admin, member, viewer")
	}
	target, ok := w.state.Members[member]
	if !ok {
		return nil, NotFound("member not found")
	}
	if (target.Role == RoleOwner || role == RoleOwner) && actorRole != RoleOwner {
		return nil, Forbidden("only owners can grant or take away the owner role")
	}
	if target.Role == role {
		return nil, nil
	}
	if target.Role == RoleOwner && w.ownerCount() == 1 {
		return nil, PreconditionFailed("the last owner cannot be demoted; make someone else owner first")
	}
	return []Event{WorkspaceMemberRoleChanged{
		WorkspaceID: w.state.ID, UserID: member, From: target.Role, To: role, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// RemoveMember removes a member (admin+; only owners remove owners). Any
// member, viewers included, may leave by removing themselves. The last owner
// can never be removed nor leave.
//
// Tasks assigned to the removed member are unassigned by the command, with
// Task.UnassignBecauseMemberRemoved.
func (w *Workspace) RemoveMember(actor Actor, member UserID, now time.Time) ([]Event, error) {
	actorRole, err := w.authorize(actor.UserID, RoleViewer)
	if err != nil {
		return nil, err
	}
	leaving := actor.UserID == member
	if !leaving && !actorRole.AtLeast(RoleAdmin) {
		return nil, Forbidden("only admins and owners can remove members")
	}
	target, ok := w.state.Members[member]
	if !ok {
		return nil, NotFound("member not found")
	}
	if target.Role == RoleOwner && actorRole != RoleOwner {
		return nil, Forbidden("only owners can remove owners")
	}
	if target.Role == RoleOwner && w.ownerCount() == 1 {
		return nil, PreconditionFailed("the last owner cannot be removed; make someone else owner first")
	}
	reason := MemberRemovedReasonRemoved
	if leaving {
		reason = MemberRemovedReasonLeft
	}
	return []Event{WorkspaceMemberRemoved{
		WorkspaceID: w.state.ID, UserID: member, Reason: reason, By: actor.UserID, At: now.UTC(),
	}}, nil
}

func (w *Workspace) ownerCount() int {
	n := 0
	for _, m := range w.state.Members {
		if m.Role == RoleOwner {
			n++
		}
	}
	return n
}

// RoleOf returns the member's role, or false for a non-member.
func (w *Workspace) RoleOf(user UserID) (Role, bool) {
	m, ok := w.state.Members[user]
	return m.Role, ok
}

func (w *Workspace) IsMember(user UserID) bool {
	_, ok := w.state.Members[user]
	return ok
}

func (w *Workspace) Member(user UserID) (Member, bool) {
	m, ok := w.state.Members[user]
	return m, ok
}

// Members returns the members sorted by user id.
func (w *Workspace) Members() []Member {
	out := make([]Member, 0, len(w.state.Members))
	for _, m := range w.state.Members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(string(a.UserID), string(b.UserID)) })
	return out
}

func (w *Workspace) Invitation(id uuid.UUID) (Invitation, bool) {
	inv, ok := w.state.Invitations[id]
	return inv, ok
}

// PendingInvitations returns the invitations pending at now, sorted by email, then id.
func (w *Workspace) PendingInvitations(now time.Time) []Invitation {
	var out []Invitation
	for _, inv := range w.state.Invitations {
		if inv.PendingAt(now) {
			out = append(out, inv)
		}
	}
	slices.SortFunc(out, func(a, b Invitation) int {
		if c := strings.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email)); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	return out
}
