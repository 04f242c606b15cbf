package domain

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// Plan is a workspace's subscription plan; it limits the number of members.
type Plan string

const (
	PlanFree Plan = "free"
	PlanPro  Plan = "pro"
)

// MemberLimit is the most members (plus pending invitations) a plan allows.
func (p Plan) MemberLimit() int {
	switch p {
	case PlanFree:
		return 10
	case PlanPro:
		return 1000
	}
	return 0
}

func (p Plan) Valid() bool { return p.MemberLimit() > 0 }

// ParsePlan accepts a plan name in any letter case.
func ParsePlan(s string) (Plan, error) {
	p := Plan(strings.ToLower(strings.TrimSpace(s)))
	if !p.Valid() {
		return "", InvalidInput("plan", "must be one of free, pro")
	}
	return p, nil
}

// Reasons recorded on workspace.member_removed.
const (
	MemberRemovedReasonRemoved = "removed" // by an admin or owner
	MemberRemovedReasonLeft    = "left"    // the member left
)

// Webhook limits.
const (
	MaxWebhooks      = 20
	MinWebhookSecret = 16
	MaxWebhookSecret = 256
	MaxWebhookURLLen = 2048
)

var projectKeyPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,9}$`)

const (
	EventWorkspaceCreated            = "workspace.created"
	EventWorkspaceRenamed            = "workspace.renamed"
	EventWorkspaceMemberInvited      = "workspace.member_invited"
	EventWorkspaceInvitationRevoked  = "workspace.invitation_revoked"
	EventWorkspaceMemberJoined       = "workspace.member_joined"
	EventWorkspaceMemberRoleChanged  = "workspace.member_role_changed"
	EventWorkspaceMemberRemoved      = "workspace.member_removed"
	EventWorkspaceProjectKeyReserved = "workspace.project_key_reserved"
	EventWebhookRegistered           = "webhook.registered"
	EventWebhookUpdated              = "webhook.updated"
	EventWebhookRemoved              = "webhook.removed"
	EventWebhookSecretRotated        = "webhook.secret_rotated"
)

// WorkspaceCreated starts a workspace stream. It is always followed by the
// creator's WorkspaceMemberJoined as owner.
type WorkspaceCreated struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	Name        string    `json:"name"`
	Plan        Plan      `json:"plan"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

type WorkspaceRenamed struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	Name        string    `json:"name"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

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

// WorkspaceProjectKeyReserved is appended together with the project's
// ProjectCreated, so that keys are unique within a workspace.
type WorkspaceProjectKeyReserved struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	ProjectID   uuid.UUID `json:"project_id"`
	Key         string    `json:"key"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

// WebhookRegistered records a webhook endpoint. Since schema version 2 it
// names its signing secret by SecretID, a row of the encrypted secret table
// (see internal/webhooksecrets): the log is immutable and readable by every
// member, so a secret must never be written to it. Version 1 held the secret
// in clear; UpcastWebhookV1 removes it on every read. The URL may carry a
// token (a query string, a path such as Slack's): show it only via Redacted.
type WebhookRegistered struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	URL         string    `json:"url"`
	SecretID    uuid.UUID `json:"secret_id"`
	EventTypes  []string  `json:"event_types"` // empty: every deliverable type
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

// WebhookUpdated carries the webhook's whole new configuration, the id of
// its current secret included (version 1: the secret itself, see
// WebhookRegistered): show it only via Redacted.
type WebhookUpdated struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	URL         string    `json:"url"`
	SecretID    uuid.UUID `json:"secret_id"`
	EventTypes  []string  `json:"event_types"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

// WebhookSecretRotated records that a webhook signs with a new secret, named
// by SecretID; the secret itself lives only in the encrypted table.
type WebhookSecretRotated struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	SecretID    uuid.UUID `json:"secret_id"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

type WebhookRemoved struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	WebhookID   uuid.UUID `json:"webhook_id"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

func (WorkspaceCreated) EventType() string            { return EventWorkspaceCreated }
func (WorkspaceRenamed) EventType() string            { return EventWorkspaceRenamed }
func (WorkspaceMemberInvited) EventType() string      { return EventWorkspaceMemberInvited }
func (WorkspaceInvitationRevoked) EventType() string  { return EventWorkspaceInvitationRevoked }
func (WorkspaceMemberJoined) EventType() string       { return EventWorkspaceMemberJoined }
func (WorkspaceMemberRoleChanged) EventType() string  { return EventWorkspaceMemberRoleChanged }
func (WorkspaceMemberRemoved) EventType() string      { return EventWorkspaceMemberRemoved }
func (WorkspaceProjectKeyReserved) EventType() string { return EventWorkspaceProjectKeyReserved }
func (WebhookRegistered) EventType() string           { return EventWebhookRegistered }
func (WebhookUpdated) EventType() string              { return EventWebhookUpdated }
func (WebhookRemoved) EventType() string              { return EventWebhookRemoved }
func (WebhookSecretRotated) EventType() string        { return EventWebhookSecretRotated }

func (e WebhookRegistered) Redacted() Event {
	e.URL = RedactWebhookURL(e.URL)
	e.EventTypes = slices.Clone(e.EventTypes)
	return e
}

func (e WebhookUpdated) Redacted() Event {
	e.URL = RedactWebhookURL(e.URL)
	e.EventTypes = slices.Clone(e.EventTypes)
	return e
}

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
	Status    InvitationStatus `json:"status"`
}

// Webhook is an endpoint as the aggregate knows it: its secret only by id.
type Webhook struct {
	ID         uuid.UUID `json:"id"`
	URL        string    `json:"url"`
	SecretID   uuid.UUID `json:"secret_id"`
	EventTypes []string  `json:"event_types"`
}

// WebhookUpdate lists the webhook settings to change; nil fields stay as
// they are. An empty EventTypes list means every deliverable event type.
// SecretID names a secret the command has already stored (encrypted).
type WebhookUpdate struct {
	URL        *string
	SecretID   *uuid.UUID
	EventTypes *[]string
}

// Workspace is the tenant: its members, invitations, project keys and
// webhook endpoints.
type Workspace struct {
	state workspaceState
}

type workspaceState struct {
	ID          uuid.UUID                `json:"id"`
	Name        string                   `json:"name"`
	Plan        Plan                     `json:"plan"`
	CreatedAt   time.Time                `json:"created_at"`
	Members     map[UserID]Member        `json:"members"`
	Invitations map[uuid.UUID]Invitation `json:"invitations"` // every one ever sent
	ProjectKeys map[string]uuid.UUID     `json:"project_keys"`
	Webhooks    map[uuid.UUID]Webhook    `json:"webhooks"`
	Version     int64                    `json:"version"`
}

// errWrongWorkspace is a programmer error: a command passed the workspace of
// another tenant. It is deliberately not a domain error.
var errWrongWorkspace = errors.New("aggregate belongs to another workspace")

// CreateWorkspace creates a workspace whose creator becomes its owner.
func CreateWorkspace(actor Actor, id uuid.UUID, name string, plan Plan, now time.Time) ([]Event, error) {
	if err := checkUserID("user_id", actor.UserID); err != nil {
		return nil, err
	}
	if id == uuid.Nil {
		return nil, InvalidInput("workspace_id", "must not be empty")
	}
	name, err := cleanLine("name", name, MaxNameLen)
	if err != nil {
		return nil, err
	}
	if !plan.Valid() {
		return nil, InvalidInput("plan", "must be one of free, pro")
	}
	email, displayName, err := actorProfile(actor)
	if err != nil {
		return nil, err
	}
	at := now.UTC()
	return []Event{
		WorkspaceCreated{WorkspaceID: id, Name: name, Plan: plan, By: actor.UserID, At: at},
		WorkspaceMemberJoined{
			WorkspaceID: id, UserID: actor.UserID, Email: email, DisplayName: displayName,
			Role: RoleOwner, By: actor.UserID, At: at,
		},
	}, nil
}

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

// Rename changes the workspace name (admin+).
func (w *Workspace) Rename(actor Actor, name string, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	name, err := cleanLine("name", name, MaxNameLen)
	if err != nil {
		return nil, err
	}
	if name == w.state.Name {
		return nil, nil
	}
	return []Event{WorkspaceRenamed{WorkspaceID: w.state.ID, Name: name, By: actor.UserID, At: now.UTC()}}, nil
}

// InviteMember invites an email address with a role (admin+; only owners
// invite owners). Pending invitations count toward the plan's member limit,
// so that accepting one can never exceed it.
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
		if inv.Status != InvitationPending {
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
	if inv.Status != InvitationPending {
		return nil, PreconditionFailed("this invitation is no longer pending")
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

// ReserveProjectKey claims a project key in this workspace (member+). It is
// half of creating a project; see CreateProject.
func (w *Workspace) ReserveProjectKey(actor Actor, projectID uuid.UUID, key string, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleMember); err != nil {
		return nil, err
	}
	if projectID == uuid.Nil {
		return nil, InvalidInput("project_id", "must not be empty")
	}
	key, err := cleanProjectKey(key)
	if err != nil {
		return nil, err
	}
	if _, taken := w.state.ProjectKeys[key]; taken {
		return nil, Conflict("project key " + key + " is already used in this workspace")
	}
	for _, id := range w.state.ProjectKeys {
		if id == projectID {
			return nil, Conflict("this project already has a key")
		}
	}
	return []Event{WorkspaceProjectKeyReserved{
		WorkspaceID: w.state.ID, ProjectID: projectID, Key: key, By: actor.UserID, At: now.UTC(),
	}}, nil
}

func cleanProjectKey(key string) (string, error) {
	key = strings.TrimSpace(key)
	if len(key) > 10 || !projectKeyPattern.MatchString(key) {
		return "", InvalidInput("key", "must be 2 to 10 capital letters or digits, starting with a letter")
	}
	return key, nil
}

// RegisterWebhook adds a webhook endpoint (admin+). eventTypes filters the
// events delivered; empty means all of WebhookEventTypes.
// secretID names the signing secret, which the command stores encrypted
// outside the log (after ValidateWebhookSecret).
func (w *Workspace) RegisterWebhook(actor Actor, webhookID uuid.UUID, endpoint string, secretID uuid.UUID, eventTypes []string, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	if webhookID == uuid.Nil {
		return nil, InvalidInput("webhook_id", "must not be empty")
	}
	if secretID == uuid.Nil {
		return nil, InvalidInput("secret_id", "must not be empty")
	}
	hook, err := cleanWebhook(Webhook{ID: webhookID, URL: endpoint, SecretID: secretID, EventTypes: eventTypes})
	if err != nil {
		return nil, err
	}
	if _, exists := w.state.Webhooks[webhookID]; exists {
		return nil, Conflict("this webhook id is already used")
	}
	if len(w.state.Webhooks) >= MaxWebhooks {
		return nil, PreconditionFailed(fmt.Sprintf("a workspace can have at most %d webhooks", MaxWebhooks))
	}
	return []Event{WebhookRegistered{
		WorkspaceID: w.state.ID, WebhookID: webhookID, URL: hook.URL, SecretID: hook.SecretID,
		EventTypes: hook.EventTypes, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// UpdateWebhook changes a webhook's settings (admin+). An update that changes
// nothing records nothing.
func (w *Workspace) UpdateWebhook(actor Actor, webhookID uuid.UUID, update WebhookUpdate, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	current, ok := w.state.Webhooks[webhookID]
	if !ok {
		return nil, NotFound("webhook not found")
	}
	next := current
	if update.URL != nil {
		next.URL = *update.URL
	}
	if update.SecretID != nil {
		if *update.SecretID == uuid.Nil {
			return nil, InvalidInput("secret_id", "must not be empty")
		}
		next.SecretID = *update.SecretID
	}
	if update.EventTypes != nil {
		next.EventTypes = *update.EventTypes
	}
	next, err := cleanWebhook(next)
	if err != nil {
		return nil, err
	}
	if next.URL == current.URL && next.SecretID == current.SecretID && slices.Equal(next.EventTypes, current.EventTypes) {
		return nil, nil
	}
	return []Event{WebhookUpdated{
		WorkspaceID: w.state.ID, WebhookID: webhookID, URL: next.URL, SecretID: next.SecretID,
		EventTypes: next.EventTypes, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// RotateWebhookSecret makes a webhook sign with the secret named secretID
// (admin+), which the command has stored encrypted beforehand.
func (w *Workspace) RotateWebhookSecret(actor Actor, webhookID, secretID uuid.UUID, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	current, ok := w.state.Webhooks[webhookID]
	if !ok {
		return nil, NotFound("webhook not found")
	}
	if secretID == uuid.Nil {
		return nil, InvalidInput("secret_id", "must not be empty")
	}
	if secretID == current.SecretID {
		return nil, nil
	}
	return []Event{WebhookSecretRotated{WorkspaceID: w.state.ID, WebhookID: webhookID, SecretID: secretID, By: actor.UserID, At: now.UTC()}}, nil
}

// RemoveWebhook deletes a webhook endpoint (admin+).
func (w *Workspace) RemoveWebhook(actor Actor, webhookID uuid.UUID, now time.Time) ([]Event, error) {
	if err := w.Authorize(actor.UserID, RoleAdmin); err != nil {
		return nil, err
	}
	if _, ok := w.state.Webhooks[webhookID]; !ok {
		return nil, NotFound("webhook not found")
	}
	return []Event{WebhookRemoved{WorkspaceID: w.state.ID, WebhookID: webhookID, By: actor.UserID, At: now.UTC()}}, nil
}

// cleanWebhook validates a webhook's settings and normalizes its event-type
// filter (deduplicated, sorted, never nil so that it encodes as []).
func cleanWebhook(h Webhook) (Webhook, error) {
	if len(h.URL) > MaxWebhookURLLen+maxPadding {
		return Webhook{}, InvalidInput("url", fmt.Sprintf("must be at most %d bytes", MaxWebhookURLLen))
	}
	endpoint := strings.TrimSpace(h.URL)
	u, err := url.Parse(endpoint)
	switch {
	case err != nil || len(endpoint) > MaxWebhookURLLen || !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return Webhook{}, InvalidInput("url", "must be an absolute http or https URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return Webhook{}, InvalidInput("url", "must be an absolute http or https URL")
	case u.User != nil:
		// Credentials in a URL end up in logs; use the signing secret.
		return Webhook{}, InvalidInput("url", "must not contain credentials")
	}
	types := make([]string, 0, len(h.EventTypes))
	for _, t := range h.EventTypes {
		t = strings.TrimSpace(t)
		if !isWebhookEventType(t) {
			return Webhook{}, InvalidInput("event_types", quote(t)+" is not an event type a webhook can receive")
		}
		types = append(types, t)
	}
	slices.Sort(types)
	return Webhook{ID: h.ID, URL: endpoint, SecretID: h.SecretID, EventTypes: slices.Compact(types)}, nil
}

// ValidateWebhookSecret checks a signing secret chosen by an admin before
// the command stores it.
func ValidateWebhookSecret(secret string) error {
	if len(secret) > MaxWebhookSecret*utf8.UTFMax { // bounded in bytes before any scan
		return InvalidInput("secret", fmt.Sprintf("must be at most %d characters", MaxWebhookSecret))
	}
	n := utf8.RuneCountInString(secret)
	switch {
	case !utf8.ValidString(secret) || strings.ContainsFunc(secret, unicode.IsControl):
		return InvalidInput("secret", "must be printable text")
	case n < MinWebhookSecret:
		return InvalidInput("secret", fmt.Sprintf("must be at least %d characters", MinWebhookSecret))
	case n > MaxWebhookSecret:
		return InvalidInput("secret", fmt.Sprintf("must be at most %d characters", MaxWebhookSecret))
	}
	return nil
}

// ErrNotMember refuses a non-member. Its code is FORBIDDEN; the commands
// answer it as the NOT_FOUND of the aggregate the caller named, so that a
// foreign id and a nonexistent one look the same (no existence oracle).
var ErrNotMember error = &Error{Code: CodeForbidden, Message: "you are not a member of this workspace"}

// Authorize returns FORBIDDEN unless actor is a member with at least role
// min. Non-members get ErrNotMember.
func (w *Workspace) Authorize(actor UserID, min Role) error {
	_, err := w.authorize(actor, min)
	return err
}

func (w *Workspace) authorize(actor UserID, min Role) (Role, error) {
	role, ok := w.RoleOf(actor)
	if !ok {
		return "", ErrNotMember
	}
	if !role.AtLeast(min) {
		if role == RoleViewer {
			return "", Forbidden("viewers cannot change anything")
		}
		return "", Forbidden("this requires the " + string(min) + " role or higher")
	}
	return role, nil
}

// authorizeFor authorizes actor on an aggregate owned by workspaceID.
func (w *Workspace) authorizeFor(workspaceID uuid.UUID, actor UserID, min Role) (Role, error) {
	if w == nil || w.state.ID != workspaceID {
		return "", errWrongWorkspace
	}
	return w.authorize(actor, min)
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

func (w *Workspace) ID() uuid.UUID        { return w.state.ID }
func (w *Workspace) Name() string         { return w.state.Name }
func (w *Workspace) Plan() Plan           { return w.state.Plan }
func (w *Workspace) CreatedAt() time.Time { return w.state.CreatedAt }

// Version is the number of events folded into w: the stream version that a
// command appending after it must expect.
func (w *Workspace) Version() int64 { return w.state.Version }

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

// PendingInvitations returns the pending invitations sorted by email, then id.
func (w *Workspace) PendingInvitations() []Invitation {
	var out []Invitation
	for _, inv := range w.state.Invitations {
		if inv.Status == InvitationPending {
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

// ProjectKey returns the key reserved for a project.
func (w *Workspace) ProjectKey(projectID uuid.UUID) (string, bool) {
	for key, id := range w.state.ProjectKeys {
		if id == projectID {
			return key, true
		}
	}
	return "", false
}

// ProjectByKey returns the project that holds key.
func (w *Workspace) ProjectByKey(key string) (uuid.UUID, bool) {
	id, ok := w.state.ProjectKeys[key]
	return id, ok
}

func (w *Workspace) Webhook(id uuid.UUID) (Webhook, bool) {
	h, ok := w.state.Webhooks[id]
	h.EventTypes = slices.Clone(h.EventTypes)
	return h, ok
}

// Webhooks returns the webhook endpoints sorted by id.
func (w *Workspace) Webhooks() []Webhook {
	out := make([]Webhook, 0, len(w.state.Webhooks))
	for _, h := range w.state.Webhooks {
		h.EventTypes = slices.Clone(h.EventTypes)
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Webhook) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	return out
}

// LoadWorkspace rebuilds a workspace from its whole stream, for loading only:
// decisions are taken by behaviour methods, never while folding. An empty
// stream is NOT_FOUND.
func LoadWorkspace(events []Event) (*Workspace, error) { return RestoreWorkspace(nil, events) }

// RestoreWorkspace loads a workspace from a snapshot (nil for none) and the
// events recorded after it, for loading only.
func RestoreWorkspace(snapshot []byte, events []Event) (*Workspace, error) {
	w := &Workspace{}
	if snapshot != nil {
		if err := unmarshalSnapshot(StreamTypeWorkspace, workspaceSnapshotFormat, snapshot, &w.state); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		if err := w.apply(e); err != nil {
			return nil, fmt.Errorf("load workspace %s at version %d: %w", w.state.ID, w.state.Version+1, err)
		}
		w.state.Version++
	}
	if w.state.Version == 0 {
		return nil, NotFound("workspace not found")
	}
	return w, nil
}

// Snapshot encodes w's state for the event store's snapshot table.
func (w *Workspace) Snapshot() ([]byte, error) {
	return marshalSnapshot(StreamTypeWorkspace, workspaceSnapshotFormat, w.state)
}

func (w *Workspace) apply(e Event) error {
	if err := checkFirst(w.state.Version, e, EventWorkspaceCreated); err != nil {
		return err
	}
	s := &w.state
	switch e := e.(type) {
	case WorkspaceCreated:
		*s = workspaceState{
			ID: e.WorkspaceID, Name: e.Name, Plan: e.Plan, CreatedAt: e.At,
			Members:     make(map[UserID]Member),
			Invitations: make(map[uuid.UUID]Invitation),
			ProjectKeys: make(map[string]uuid.UUID),
			Webhooks:    make(map[uuid.UUID]Webhook),
		}
	case WorkspaceRenamed:
		s.Name = e.Name
	case WorkspaceMemberInvited:
		s.Invitations[e.InvitationID] = Invitation{
			ID: e.InvitationID, Email: e.Email, Role: e.Role, InvitedBy: e.By, InvitedAt: e.At,
			Status: InvitationPending,
		}
	case WorkspaceInvitationRevoked:
		if inv, ok := s.Invitations[e.InvitationID]; ok {
			inv.Status = InvitationRevoked
			s.Invitations[e.InvitationID] = inv
		}
	case WorkspaceMemberJoined:
		s.Members[e.UserID] = Member{UserID: e.UserID, Email: e.Email, DisplayName: e.DisplayName, Role: e.Role, JoinedAt: e.At}
		if e.InvitationID != nil {
			if inv, ok := s.Invitations[*e.InvitationID]; ok {
				inv.Status = InvitationAccepted
				s.Invitations[*e.InvitationID] = inv
			}
		}
	case WorkspaceMemberRoleChanged:
		if m, ok := s.Members[e.UserID]; ok {
			m.Role = e.To
			s.Members[e.UserID] = m
		}
	case WorkspaceMemberRemoved:
		delete(s.Members, e.UserID)
	case WorkspaceProjectKeyReserved:
		s.ProjectKeys[e.Key] = e.ProjectID
	case WebhookRegistered:
		s.Webhooks[e.WebhookID] = Webhook{ID: e.WebhookID, URL: e.URL, SecretID: e.SecretID, EventTypes: slices.Clone(e.EventTypes)}
	case WebhookUpdated:
		s.Webhooks[e.WebhookID] = Webhook{ID: e.WebhookID, URL: e.URL, SecretID: e.SecretID, EventTypes: slices.Clone(e.EventTypes)}
	case WebhookSecretRotated:
		if h, ok := s.Webhooks[e.WebhookID]; ok {
			h.SecretID = e.SecretID
			s.Webhooks[e.WebhookID] = h
		}
	case WebhookRemoved:
		delete(s.Webhooks, e.WebhookID)
	default:
		return errUnexpectedEvent(e)
	}
	return nil
}
