package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// ReorderTask places a task between two neighbours on the board (member+).
type ReorderTask struct {
	Actor  domain.Actor
	TaskID uuid.UUID
	// PreviousTaskID and NextTaskID are the neighbours the task goes
	// between; zero means the start (previous) or end (next) of the list.
	PreviousTaskID  uuid.UUID
	NextTaskID      uuid.UUID
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (ReorderTask) CommandName() string      { return "reorder_task" }
func (c ReorderTask) ActorID() domain.UserID { return c.Actor.UserID }

type ReorderTaskHandler struct{ rt *Runtime }

// Handle reads the neighbours' ranks from their streams. They are not
// asserted: a neighbour moving meanwhile at worst gives two tasks equal
// ranks, which boards order by number (see domain.Task.Reorder).
func (h *ReorderTaskHandler) Handle(ctx context.Context, cmd ReorderTask) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	var before, after string
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID, expected: cmd.ExpectedVersion,
		prepare: func(ctx context.Context, s taskScope) (err error) {
			if before, err = h.neighbourRank(ctx, s, "previous_task_id", cmd.PreviousTaskID); err != nil {
				return err
			}
			after, err = h.neighbourRank(ctx, s, "next_task_id", cmd.NextTaskID)
			return err
		},
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.Reorder(s.ws, s.project, cmd.Actor, before, after, now)
		},
	})
}

// neighbourRank returns the rank of a neighbour of s.task ("" for none).
func (h *ReorderTaskHandler) neighbourRank(ctx context.Context, s taskScope, field string, id uuid.UUID) (string, error) {
	if id == uuid.Nil {
		return "", nil
	}
	if id == s.task.ID() {
		return "", domain.InvalidInput(field, "a task cannot be its own neighbour")
	}
	n, err := h.rt.loadTask(ctx, id)
	if domain.CodeOf(err) == domain.CodeNotFound || (err == nil && n.ProjectID() != s.task.ProjectID()) {
		return "", domain.InvalidInput(field, "must be a task of the same project")
	}
	if err != nil {
		return "", err
	}
	return n.Rank(), nil
}
