package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// TaskNumbers hands out the numbers of one project's tasks (TF-1, TF-2, …):
// dense and unique, since each reservation is appended at the stream's exact
// version. Its stream, task_numbers-<project>, holds nothing but
// project.task_number_reserved events.
//
// Why not the project stream: every task command asserts the project
// stream's version (workflow, archive flag), and every creation appends a
// reservation. On one stream, each creation made concurrent changes to the
// project's other tasks conflict and decide again. Apart, a creation writes
// the numbers stream and only asserts the project, which moves only when the
// project itself changes; archiving the project or changing its workflow
// still conflicts with a creation in flight.
//
// Projects created before the split have reservations on their project
// stream, folded by Project (LastTaskNumber); Reserve continues after the
// larger of the two, so their numbering stays dense.
type TaskNumbers struct {
	state taskNumbersState
}

type taskNumbersState struct {
	ProjectID uuid.UUID `json:"project_id"`
	Last      int64     `json:"last"`
	Version   int64     `json:"version"`
}

// errWrongNumbers is a programmer error: a command passed the numbers of
// another project.
var errWrongNumbers = errors.New("task numbers of another project")

// Reserve hands taskID project p's next number: 1 + the last number reserved,
// on this stream or, for an older project, on its project stream. It
// refuses in an archived project or once the numbers run out. It does not
// authorize: CreateTask, its only intended caller, does.
func (n *TaskNumbers) Reserve(p *Project, actor Actor, taskID uuid.UUID, now time.Time) ([]Event, int64, error) {
	if n == nil || p == nil || p.state.ID != n.state.ProjectID {
		return nil, 0, errWrongNumbers
	}
	if taskID == uuid.Nil {
		return nil, 0, InvalidInput("task_id", "must not be empty")
	}
	if p.state.Archived {
		return nil, 0, PreconditionFailed("the project is archived")
	}
	last := max(n.state.Last, p.state.LastTaskNumber)
	if last >= MaxTaskNumber {
		return nil, 0, PreconditionFailed("the project has reached its maximum number of tasks")
	}
	next := last + 1
	return []Event{ProjectTaskNumberReserved{
		ProjectID: p.state.ID, TaskID: taskID, Number: next, By: actor.UserID, At: now.UTC(),
	}}, next, nil
}

func (n *TaskNumbers) ProjectID() uuid.UUID { return n.state.ProjectID }

// Last is the last number reserved on this stream (0 if none); an older
// project may have larger ones on its project stream.
func (n *TaskNumbers) Last() int64 { return n.state.Last }

// Version is the number of events folded into n: the stream version that a
// command appending after it must expect (0 for a project without tasks
// since the split).
func (n *TaskNumbers) Version() int64 { return n.state.Version }

// RestoreTaskNumbers loads the task numbers of projectID from a snapshot (nil
// for none) and the events recorded after it, for loading only. An empty
// stream is valid: no number reserved yet.
func RestoreTaskNumbers(projectID uuid.UUID, snapshot []byte, events []Event) (*TaskNumbers, error) {
	n := &TaskNumbers{state: taskNumbersState{ProjectID: projectID}}
	if snapshot != nil {
		if err := unmarshalSnapshot(StreamTypeTaskNumbers, taskNumbersSnapshotFormat, snapshot, &n.state); err != nil {
			return nil, err
		}
		if n.state.ProjectID != projectID {
			return nil, fmt.Errorf("load task numbers of %s: snapshot of project %s", projectID, n.state.ProjectID)
		}
	}
	for _, e := range events {
		if err := n.apply(e); err != nil {
			return nil, fmt.Errorf("load task numbers of %s at version %d: %w", projectID, n.state.Version+1, err)
		}
		n.state.Version++
	}
	return n, nil
}

// Recorded returns the numbers once events, reservations decided on n, are
// appended after it: a command deciding several creations on one load (the
// batched creations of package commands) decides each on the numbers the
// previous ones left, so they take consecutive numbers. n is not changed.
func (n *TaskNumbers) Recorded(events []Event) (*TaskNumbers, error) {
	next := &TaskNumbers{state: n.state}
	for _, e := range events {
		if err := next.apply(e); err != nil {
			return nil, fmt.Errorf("task numbers of %s at version %d: %w", n.state.ProjectID, next.state.Version+1, err)
		}
		next.state.Version++
	}
	return next, nil
}

// Snapshot encodes n's state for the event store's snapshot table.
func (n *TaskNumbers) Snapshot() ([]byte, error) {
	return marshalSnapshot(StreamTypeTaskNumbers, taskNumbersSnapshotFormat, n.state)
}

func (n *TaskNumbers) apply(e Event) error {
	switch e := e.(type) {
	case ProjectTaskNumberReserved:
		if e.ProjectID != n.state.ProjectID {
			return fmt.Errorf("number %d of project %s", e.Number, e.ProjectID)
		}
		n.state.Last = max(n.state.Last, e.Number)
	case nil:
		return errors.New("nil event")
	default:
		return errUnexpectedEvent(e)
	}
	return nil
}
