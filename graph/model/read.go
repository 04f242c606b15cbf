package model

import (
	"time"

	"github.com/google/uuid"
)

// The read side's GraphQL objects, bound in gqlgen.yml. Exported fields named like schema fields
// are served directly, enums included (Plan, Role, Priority, Kind: the generated enum types of
// this package, filled when the object is built), so that gqlgen resolves them inline, without a
// resolver call and the goroutine it costs per object; the others (WorkspaceID, ProjectID, ...)
// are for the field resolvers of the fields that load something (assignee, project, board, ...).

// Workspace is a workspace the caller is a member of.
type Workspace struct {
	ID          string
	Name        string
	MemberCount int
	UpdatedAt   time.Time
	Version     int

	Plan Plan
	// MyRole is the caller's role, known when the workspace is: both ways to reach one (the
	// caller's workspaces, a workspace by id) read the caller's membership first.
	MyRole Role

	WorkspaceID uuid.UUID
}

// Member is a workspace member.
type Member struct {
	UserID      string
	DisplayName string
	Email       string
	JoinedAt    time.Time
	Role        Role
}

// Project is a project with its counts.
type Project struct {
	ID           string
	Key          string
	Name         string
	Archived     bool
	OpenCount    int
	OverdueCount int
	TaskCounts   []*StatusCount
	UpdatedAt    time.Time
	Version      int

	ProjectID   uuid.UUID
	WorkspaceID uuid.UUID
	Workflow    []byte
}

// Task is a task as the board and lists show it.
type Task struct {
	ID           string
	Key          string
	Number       int
	Title        string
	Description  string
	Status       string
	AssigneeID   *string
	Labels       []string
	DueDate      *time.Time
	Priority     Priority
	Rank         string
	CommentCount int
	Archived     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int

	TaskID      uuid.UUID
	WorkspaceID uuid.UUID
	ProjectID   uuid.UUID

	// What the list that built the task (a board, a task page) loaded for its children when the
	// selection asked for them, so that their resolvers need not ask the loaders once per task.
	// Unset (a task reached alone, or a subscription's): the resolvers ask the loaders.
	AssigneeLoaded bool
	LoadedAssignee *Member  // with AssigneeLoaded; nil: no assignee, or one who left
	LoadedProject  *Project // nil: not loaded
	// The task's latest change as the hub or a sync page knew it; unset: the resolvers load it.
	Change *TaskChange
}

// TaskChange is a task's latest change: its position and clientMutationId.
type TaskChange struct {
	Position         string
	ClientMutationID *string
}

// Notification is one item of the caller's inbox.
type Notification struct {
	ID        string
	Kind      string
	TaskID    string
	CommentID *string
	ActorID   string
	Line      string
	At        time.Time
	Read      bool
	Position  string

	WorkspaceID uuid.UUID
	TaskUUID    uuid.UUID

	// What the inbox page loaded for the task field when the selection asked for it (with what
	// that selection asks of the task), as Task's Loaded fields. Unset: the resolver asks the
	// loaders.
	TaskLoaded bool
	LoadedTask *Task // with TaskLoaded; nil: gone from the read model
}

// BoardChange is a change of a project's board (subscription boardChanged): a task's place after
// a task's change, or, for a project's change, the project's state (task fields nil).
type BoardChange struct {
	Kind             BoardChangeKind
	TaskID           *string
	Status           *string
	Rank             *string
	Archived         *bool
	Task             *Task
	ConsistencyToken string
	Position         string // = ConsistencyToken
	ClientMutationID *string

	ProjectID    uuid.UUID
	WorkspaceID  uuid.UUID
	ProjectState *Project // a project's change: the read model's state after it
}
