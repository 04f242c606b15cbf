package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// CreateTask creates a task in a project (member+). The number reservation,
// on the project's task numbers stream at the exact version the number was
// taken from, and task.created are appended atomically, so numbers are dense
// and unique: concurrent creations conflict and are decided again. The
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
	stream := domain.TaskStream(id)
	var created domain.TaskCreated
	res, err := h.rt.execute(ctx, inv, plan{cmd: cmd, target: "project", decide: func(ctx context.Context) (decision, error) {
		s, err := h.rt.loadProjectScope(ctx, cmd.ProjectID)
		if err != nil {
			return decision{}, err
		}
		numbers, err := h.rt.loadTaskNumbers(ctx, cmd.ProjectID)
		if err != nil {
			return decision{}, err
		}
		numberEvents, taskEvents, err := domain.CreateTask(s.ws, s.project, numbers, cmd.Actor, id, domain.NewTask{
			Title: cmd.Title, Description: cmd.Description, Priority: cmd.Priority,
			DueDate: cmd.DueDate, Labels: cmd.Labels, Assignee: cmd.Assignee,
		}, h.rt.now())
		if err != nil {
			return decision{}, err
		}
		created = taskEvents[0].(domain.TaskCreated)
		writes := []write{
			exactWrite(domain.TaskNumbersStream(cmd.ProjectID), domain.StreamTypeTaskNumbers, numbers.Version(), numberEvents),
			newStreamWrite(stream, domain.StreamTypeTask, taskEvents),
			// Asserted: the archive flag and the initial status are read
			// from the project, the assignee's membership and the
			// creator's role from the workspace.
			exactWrite(domain.ProjectStream(s.project.ID()), domain.StreamTypeProject, s.project.Version(), nil),
			exactWrite(domain.WorkspaceStream(s.ws.ID()), domain.StreamTypeWorkspace, s.ws.Version(), nil),
		}
		return decision{workspaceID: s.ws.ID(), writes: append(writes, indexWrites(s.ws.ID(), taskEvents)...)}, nil
	}})
	if err != nil {
		return TaskResult{}, err
	}
	if res.Replayed {
		// Another call with the same key created it: report that task.
		if created, err = h.rt.taskCreated(ctx, id); err != nil {
			return TaskResult{}, err
		}
	}
	return TaskResult{Result: result(id, stream, res), Number: created.Number, Key: created.Key}, nil
}
