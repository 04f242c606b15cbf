package model

import (
	"github.com/google/uuid"

	"github.com/taskforge/taskforge/eventstore"
)

// The mutation payloads, bound in gqlgen.yml. Their object fields (task, project, workspace) are
// field resolvers reading the read side, run only when selected; Written tells them what to read
// and how long to wait.

// Aggregate is the kind of aggregate a mutation changed: which object its payload serves.
type Aggregate uint8

const (
	// AggregateNone: no object of the read side (a user's profile).
	AggregateNone Aggregate = iota
	AggregateTask
	AggregateProject
	AggregateWorkspace
)

// Written is what a mutation wrote: the aggregate (kind and id) and the global position of its
// events (zero when it appended nothing).
type Written struct {
	Aggregate Aggregate
	ID        uuid.UUID
	Position  eventstore.GlobalPosition
}

// MutationResult is the payload of most mutations.
type MutationResult struct {
	ClientMutationID *string
	ID               string
	Version          int
	ConsistencyToken string

	Written Written
}

// TaskResult is createTask's payload.
type TaskResult struct {
	ClientMutationID *string
	ID               string
	Version          int
	ConsistencyToken string
	Number           int
	Key              string

	Written Written
}

// CommentResult is addComment's payload: the task commented on, and the new comment's id.
type CommentResult struct {
	ClientMutationID *string
	ID               string
	Version          int
	ConsistencyToken string
	CommentID        string

	Written Written
}

// InvitationResult is inviteMember's payload: the workspace, and the new invitation's id.
type InvitationResult struct {
	ClientMutationID *string
	ID               string
	Version          int
	ConsistencyToken string
	InvitationID     string

	Written Written
}

// WebhookResult is registerWebhook's and rotateWebhookSecret's payload: the workspace, the
// webhook's id and, once, its new signing secret.
type WebhookResult struct {
	ClientMutationID *string
	ID               string
	Version          int
	ConsistencyToken string
	WebhookID        string
	Secret           *string

	Written Written
}

// SetClientMutationID echoes the mutation's clientMutationId in its payload.
func (r *MutationResult) SetClientMutationID(id *string)   { r.ClientMutationID = id }
func (r *TaskResult) SetClientMutationID(id *string)       { r.ClientMutationID = id }
func (r *CommentResult) SetClientMutationID(id *string)    { r.ClientMutationID = id }
func (r *InvitationResult) SetClientMutationID(id *string) { r.ClientMutationID = id }
func (r *WebhookResult) SetClientMutationID(id *string)    { r.ClientMutationID = id }
