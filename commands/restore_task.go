package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RestoreTask unfreezes an archived task (member+).
type RestoreTask struct {
	Actor           domain.Actor
	TaskID          uuid.UUID
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (RestoreTask) CommandName() string      { return "restore_task" }
func (c RestoreTask) ActorID() domain.UserID { return c.Actor.UserID }

type RestoreTaskHandler struct{ rt *Runtime }

func (h *RestoreTaskHandler) Handle(ctx context.Context, cmd RestoreTask) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID, expected: cmd.ExpectedVersion,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.Restore(s.ws, s.project, cmd.Actor, now)
		},
	})
}
