package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// CreateTask creates a task in a project (member+). The number reservation,
// on the project's task numbers stream at the exact version the number was
// taken from, and task.created are appended atomically, so numbers are dense
// and unique. Concurrent creations in one process are decided on one load
// and appended together (creations.go), so they do not conflict with each
// other; those of other processes conflict and are decided again. The
// project stream is only asserted (archive flag, workflow): numbers live
// apart so that creating tasks does not move the project version that every
// other task command asserts.
type CreateTask struct {
	Actor     domain.Actor
	ProjectID uuid.UUID
	// TaskID is optional: the handler picks one when it is zero.
	TaskID         uuid.UUID
	Title          string
	Description    string
	Priority       domain.Priority // zero means none
	DueDate        *time.Time
	Labels         []string
	Assignee       domain.UserID // optional
	IdempotencyKey string
}

func (CreateTask) CommandName() string      { return "create_task" }
func (c CreateTask) ActorID() domain.UserID { return c.Actor.UserID }

// TaskResult is the new task's Result with its number and key ("TF-42").
type TaskResult struct {
	Result
	Number int64
	Key    string
}

type CreateTaskHandler struct{ rt *Runtime }

func (h *CreateTaskHandler) Handle(ctx context.Context, cmd CreateTask) (TaskResult, error) {
	if err := requireID("project_id", cmd.ProjectID); err != nil {
		return TaskResult{}, err
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.ProjectID.String())
	if err != nil {
		return TaskResult{}, err
	}
	id := cmd.TaskID
	if id == uuid.Nil {
		id = inv.derive("task")
	}
	// Decided and appended with the project's other creations in this
	// process (creations.go).
	c := &creation{ctx: ctx, cmd: cmd, inv: inv, taskID: id, done: make(chan struct{})}
	if err := h.rt.create(c); err != nil {
		return TaskResult{}, fmt.Errorf("%s: %w", cmd.CommandName(), err)
	}
	if c.err != nil {
		return TaskResult{}, c.err
	}
	return TaskResult{Result: result(id, domain.TaskStream(id), c.res), Number: c.created.Number, Key: c.created.Key}, nil
}
