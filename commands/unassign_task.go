package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// UnassignTask removes the task's assignee (member+).
type UnassignTask struct {
	Actor           domain.Actor
	TaskID          uuid.UUID
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (UnassignTask) CommandName() string      { return "unassign_task" }
func (c UnassignTask) ActorID() domain.UserID { return c.Actor.UserID }

type UnassignTaskHandler struct{ rt *Runtime }

func (h *UnassignTaskHandler) Handle(ctx context.Context, cmd UnassignTask) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID, expected: cmd.ExpectedVersion,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.Unassign(s.ws, s.project, cmd.Actor, now)
		},
	})
}
