package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// StreamTypeMember is the stream type of a member's assignment index.
const StreamTypeMember = "member"

// MemberStream is the assignment index of one member of one workspace.
func MemberStream(workspaceID uuid.UUID, user UserID) string {
	return StreamTypeMember + "-" + workspaceID.String() + "-" + string(user)
}

const (
	EventMemberTaskAssigned        = "member.task_assigned"
	EventMemberTaskUnassigned      = "member.task_unassigned"
	EventMemberAssignmentsReleased = "member.assignments_released"
)

// MemberTaskAssigned records in the member's index that a task is now
// assigned to them. It is appended with the task event that assigns it.
type MemberTaskAssigned struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	UserID      UserID    `json:"user_id"`
	TaskID      uuid.UUID `json:"task_id"`
	ProjectID   uuid.UUID `json:"project_id"`
	At          time.Time `json:"at"`
}

// MemberTaskUnassigned records in the member's index that a task is no
// longer assigned to them (unassigned or reassigned).
type MemberTaskUnassigned struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	UserID      UserID    `json:"user_id"`
	TaskID      uuid.UUID `json:"task_id"`
	ProjectID   uuid.UUID `json:"project_id"`
	At          time.Time `json:"at"`
}

// MemberAssignmentsReleased empties the index when the member leaves the
// workspace: it is appended with workspace.member_removed and the
// task.unassigned of every task listed.
type MemberAssignmentsReleased struct {
	WorkspaceID uuid.UUID   `json:"workspace_id"`
	UserID      UserID      `json:"user_id"`
	TaskIDs     []uuid.UUID `json:"task_ids"`
	At          time.Time   `json:"at"`
}

func (MemberTaskAssigned) EventType() string        { return EventMemberTaskAssigned }
func (MemberTaskUnassigned) EventType() string      { return EventMemberTaskUnassigned }
func (MemberAssignmentsReleased) EventType() string { return EventMemberAssignmentsReleased }

// Assignments is the set of tasks assigned to one member of one workspace.
//
// It exists so that removing a member can unassign their tasks in the same
// atomic append, from event-sourced state: a task's assignee lives on the
// task stream, and nothing else says which tasks a member holds. Every task
// event that changes an assignee is appended together with the index events
// IndexAssignments derives from it, so the index always equals the tasks'
// assignees. It decides nothing itself.
type Assignments struct {
	state assignmentsState
}

type assignmentsState struct {
	WorkspaceID uuid.UUID               `json:"workspace_id"`
	UserID      UserID                  `json:"user_id"`
	Tasks       map[uuid.UUID]uuid.UUID `json:"tasks"` // task id → project id
	Version     int64                   `json:"version"`
}

// MemberIndexUpdate is the index events of one member.
type MemberIndexUpdate struct {
	Member UserID
	Events []Event
}

// IndexAssignments returns the index events that keep each member's
// Assignments in step with taskEvents, the new events of tasks of
// workspaceID: one update per member concerned, sorted by member.
func IndexAssignments(workspaceID uuid.UUID, taskEvents []Event) []MemberIndexUpdate {
	byMember := map[UserID][]Event{}
	add := func(user UserID, e Event) {
		if user != "" {
			byMember[user] = append(byMember[user], e)
		}
	}
	for _, e := range taskEvents {
		switch e := e.(type) {
		case TaskCreated:
			add(e.Assignee, MemberTaskAssigned{WorkspaceID: workspaceID, UserID: e.Assignee, TaskID: e.TaskID, ProjectID: e.ProjectID, At: e.At})
		case TaskAssigned:
			add(e.Previous, MemberTaskUnassigned{WorkspaceID: workspaceID, UserID: e.Previous, TaskID: e.TaskID, ProjectID: e.ProjectID, At: e.At})
			add(e.Assignee, MemberTaskAssigned{WorkspaceID: workspaceID, UserID: e.Assignee, TaskID: e.TaskID, ProjectID: e.ProjectID, At: e.At})
		case TaskUnassigned:
			add(e.Assignee, MemberTaskUnassigned{WorkspaceID: workspaceID, UserID: e.Assignee, TaskID: e.TaskID, ProjectID: e.ProjectID, At: e.At})
		}
	}
	out := make([]MemberIndexUpdate, 0, len(byMember))
	for user, events := range byMember {
		out = append(out, MemberIndexUpdate{Member: user, Events: events})
	}
	slices.SortFunc(out, func(a, b MemberIndexUpdate) int { return strings.Compare(string(a.Member), string(b.Member)) })
	return out
}

// Release empties the index of a member who was removed (ws must already
// reflect the removal). It always returns one event, even for an empty
// index: the command appends it at the index's exact version, so that a
// concurrent assignment to the member (which also writes the index) and the
// removal always conflict, whichever commits first.
func (a *Assignments) Release(ws *Workspace, now time.Time) ([]Event, error) {
	if ws == nil || ws.state.ID != a.state.WorkspaceID {
		return nil, errWrongWorkspace
	}
	if ws.IsMember(a.state.UserID) {
		return nil, PreconditionFailed("the member is still a member of the workspace")
	}
	return []Event{MemberAssignmentsReleased{
		WorkspaceID: a.state.WorkspaceID, UserID: a.state.UserID, TaskIDs: a.Tasks(), At: now.UTC(),
	}}, nil
}

func (a *Assignments) WorkspaceID() uuid.UUID { return a.state.WorkspaceID }
func (a *Assignments) UserID() UserID         { return a.state.UserID }

// Tasks returns the ids of the tasks assigned to the member, sorted.
func (a *Assignments) Tasks() []uuid.UUID {
	out := make([]uuid.UUID, 0, len(a.state.Tasks))
	for id := range a.state.Tasks {
		out = append(out, id)
	}
	slices.SortFunc(out, func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
	return out
}

// Has reports whether task is assigned to the member.
func (a *Assignments) Has(task uuid.UUID) bool {
	_, ok := a.state.Tasks[task]
	return ok
}

// Version is the number of events folded into a: the stream version that a
// command appending after it must expect (0 for a member never assigned).
func (a *Assignments) Version() int64 { return a.state.Version }

// RestoreAssignments loads the index of user in workspaceID from a snapshot
// (nil for none) and the events recorded after it, for loading only. Unlike
// the other aggregates, an empty stream is a valid, empty index.
func RestoreAssignments(workspaceID uuid.UUID, user UserID, snapshot []byte, events []Event) (*Assignments, error) {
	a := &Assignments{state: assignmentsState{WorkspaceID: workspaceID, UserID: user, Tasks: map[uuid.UUID]uuid.UUID{}}}
	if snapshot != nil {
		if err := unmarshalSnapshot(StreamTypeMember, memberAssignmentsSnapshotFormat, snapshot, &a.state); err != nil {
			return nil, err
		}
		if a.state.WorkspaceID != workspaceID || a.state.UserID != user {
			return nil, fmt.Errorf("load assignments of %s in %s: snapshot of another member", user, workspaceID)
		}
		if a.state.Tasks == nil {
			a.state.Tasks = map[uuid.UUID]uuid.UUID{}
		}
	}
	for _, e := range events {
		if err := a.apply(e); err != nil {
			return nil, fmt.Errorf("load assignments of %s in %s at version %d: %w", user, workspaceID, a.state.Version+1, err)
		}
		a.state.Version++
	}
	return a, nil
}

// Snapshot encodes a's state for the event store's snapshot table.
func (a *Assignments) Snapshot() ([]byte, error) {
	return marshalSnapshot(StreamTypeMember, memberAssignmentsSnapshotFormat, a.state)
}

func (a *Assignments) apply(e Event) error {
	s := &a.state
	check := func(ws uuid.UUID, user UserID) error {
		if ws != s.WorkspaceID || user != s.UserID {
			return fmt.Errorf("event %q of member %s in %s", e.EventType(), user, ws)
		}
		return nil
	}
	switch e := e.(type) {
	case MemberTaskAssigned:
		if err := check(e.WorkspaceID, e.UserID); err != nil {
			return err
		}
		s.Tasks[e.TaskID] = e.ProjectID
	case MemberTaskUnassigned:
		if err := check(e.WorkspaceID, e.UserID); err != nil {
			return err
		}
		delete(s.Tasks, e.TaskID)
	case MemberAssignmentsReleased:
		if err := check(e.WorkspaceID, e.UserID); err != nil {
			return err
		}
		for _, id := range e.TaskIDs {
			delete(s.Tasks, id)
		}
	case nil:
		return fmt.Errorf("nil event")
	default:
		return errUnexpectedEvent(e)
	}
	return nil
}
