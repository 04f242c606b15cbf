package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// ChangeTaskStatus moves a task to another status along its project's workflow (member+).
type ChangeTaskStatus struct {
	Actor           domain.Actor
	TaskID          uuid.UUID
	Status          string
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (ChangeTaskStatus) CommandName() string      { return "change_task_status" }
func (c ChangeTaskStatus) ActorID() domain.UserID { return c.Actor.UserID }

type ChangeTaskStatusHandler struct{ rt *Runtime }

func (h *ChangeTaskStatusHandler) Handle(ctx context.Context, cmd ChangeTaskStatus) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID, expected: cmd.ExpectedVersion,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.ChangeStatus(s.ws, s.project, cmd.Actor, cmd.Status, now)
		},
	})
}
