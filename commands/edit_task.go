package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// EditTask changes a task's fields (member+); nil fields stay as they are.
type EditTask struct {
	Actor       domain.Actor
	TaskID      uuid.UUID
	Title       *string
	Description *string
	Priority    *domain.Priority
	DueDate     *time.Time
	// ClearDueDate removes the due date (and excludes DueDate).
	ClearDueDate    bool
	Labels          *[]string
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (EditTask) CommandName() string      { return "edit_task" }
func (c EditTask) ActorID() domain.UserID { return c.Actor.UserID }

type EditTaskHandler struct{ rt *Runtime }

func (h *EditTaskHandler) Handle(ctx context.Context, cmd EditTask) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID, expected: cmd.ExpectedVersion,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.Edit(s.ws, s.project, cmd.Actor, domain.TaskChanges{
				Title: cmd.Title, Description: cmd.Description, Priority: cmd.Priority,
				DueDate: cmd.DueDate, ClearDueDate: cmd.ClearDueDate, Labels: cmd.Labels,
			}, now)
		},
	})
}
