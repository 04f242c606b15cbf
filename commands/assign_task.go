package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// AssignTask makes a workspace member the task's assignee (member+).
type AssignTask struct {
	Actor           domain.Actor
	TaskID          uuid.UUID
	Assignee        domain.UserID
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (AssignTask) CommandName() string      { return "assign_task" }
func (c AssignTask) ActorID() domain.UserID { return c.Actor.UserID }

type AssignTaskHandler struct{ rt *Runtime }

// Handle appends task.assigned with the assignee's index events, asserting
// the workspace version in which the assignee was a member (doc.go).
func (h *AssignTaskHandler) Handle(ctx context.Context, cmd AssignTask) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID, expected: cmd.ExpectedVersion,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.Assign(s.ws, s.project, cmd.Actor, cmd.Assignee, now)
		},
	})
}
