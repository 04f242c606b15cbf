package graph

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/internal/auth"
)

// actor is the authenticated caller as the domain knows them. The @authenticated directive has
// already refused anonymous requests; this is the second line.
func actor(ctx context.Context) (domain.Actor, error) {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return domain.Actor{}, auth.ErrUnauthenticated
	}
	return domain.Actor{UserID: domain.UserID(p.UserID), Email: p.Email, DisplayName: p.Name, EmailVerified: p.EmailVerified}, nil
}

// parseID reads a client-supplied id; a malformed one is the client's INVALID_INPUT, named by field.
func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, domain.InvalidInput(field, "not a valid id")
	}
	return id, nil
}

func parseOptionalID(field string, s *string) (uuid.UUID, error) {
	if s == nil || *s == "" {
		return uuid.Nil, nil
	}
	return parseID(field, *s)
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func version(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

// ConsistencyToken encodes the global position of a command's events; a query given it waits
// until the read models have applied them. Opaque to clients.
func ConsistencyToken(r commands.Result) string {
	if r.Position == (eventstore.GlobalPosition{}) {
		return "" // the command changed nothing: any read is consistent with it
	}
	return r.Position.String()
}

// lower maps a GraphQL enum (HIGH, IN_PROGRESS) to the domain's spelling (high, in_progress).
func lower[E ~string](e E) string { return strings.ToLower(string(e)) }

func role(r model.Role) (domain.Role, error) { return domain.ParseRole(lower(r)) }

func version64(v *int) *int64 { return version(v) }

func auditEvent(e eventstore.RecordedEvent) *model.AuditEvent {
	ev := &model.AuditEvent{
		ID: e.ID.String(), Type: e.Type, SchemaVersion: e.SchemaVersion, StreamID: e.StreamID,
		StreamType: e.StreamType, Version: int(e.StreamVersion),
		Position:      strconv.FormatInt(e.Position, 10),
		TransactionID: strconv.FormatUint(e.TransactionID, 10),
		RecordedAt:    e.RecordedAt, Payload: string(e.Data),
		Hash: hex.EncodeToString(e.Hash), PrevHash: hex.EncodeToString(e.PrevHash),
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	optID := func(id uuid.UUID) *string {
		if id == uuid.Nil {
			return nil
		}
		return opt(id.String())
	}
	ev.Actor, ev.RequestID = opt(e.Metadata.Actor), opt(e.Metadata.RequestID)
	ev.CorrelationID, ev.CausationID = optID(e.Metadata.CorrelationID), optID(e.Metadata.CausationID)
	ev.WorkspaceID = optID(e.Metadata.WorkspaceID)
	return ev
}

func taskState(t *domain.Task) *model.TaskState {
	s := &model.TaskState{
		ID: t.ID().String(), Version: int(t.Version()), Key: t.Key(), Number: int(t.Number()),
		Title: t.Title(), Description: t.Description(), Status: t.Status(),
		Priority: model.Priority(strings.ToUpper(string(t.Priority()))), Labels: t.Labels(),
		DueDate: t.DueDate(), Archived: t.Archived(), CreatedBy: string(t.CreatedBy()), CreatedAt: t.CreatedAt(),
	}
	if s.Labels == nil {
		s.Labels = []string{}
	}
	if s.Priority == "" {
		s.Priority = model.PriorityNone
	}
	if a := t.Assignee(); a != "" {
		id := string(a)
		s.AssigneeID = &id
	}
	return s
}
