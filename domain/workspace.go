package domain

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

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

// WorkspaceProjectKeyReserved is appended together with the project's
// ProjectCreated, so that keys are unique within a workspace.
type WorkspaceProjectKeyReserved struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	ProjectID   uuid.UUID `json:"project_id"`
	Key         string    `json:"key"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

func (WorkspaceCreated) EventType() string            { return EventWorkspaceCreated }
func (WorkspaceRenamed) EventType() string            { return EventWorkspaceRenamed }
func (WorkspaceProjectKeyReserved) EventType() string { return EventWorkspaceProjectKeyReserved }

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

func (w *Workspace) ID() uuid.UUID        { return w.state.ID }
func (w *Workspace) Name() string         { return w.state.Name }
func (w *Workspace) Plan() Plan           { return w.state.Plan }
func (w *Workspace) CreatedAt() time.Time { return w.state.CreatedAt }

// Version is the number of events folded into w: the stream version that a
// command appending after it must expect.
func (w *Workspace) Version() int64 { return w.state.Version }

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
