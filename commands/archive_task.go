package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// ArchiveTask freezes a task (member+): nothing changes it until RestoreTask.
type ArchiveTask struct {
	Actor           domain.Actor
	TaskID          uuid.UUID
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (ArchiveTask) CommandName() string      { return "archive_task" }
func (c ArchiveTask) ActorID() domain.UserID { return c.Actor.UserID }

type ArchiveTaskHandler struct{ rt *Runtime }

func (h *ArchiveTaskHandler) Handle(ctx context.Context, cmd ArchiveTask) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID, expected: cmd.ExpectedVersion,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.Archive(s.ws, s.project, cmd.Actor, now)
		},
	})
}
