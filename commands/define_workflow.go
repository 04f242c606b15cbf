package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// DefineWorkflow replaces a project's workflow (admin+). A status can only
// be removed while no task of the project is in it.
type DefineWorkflow struct {
	Actor           domain.Actor
	ProjectID       uuid.UUID
	Workflow        domain.Workflow
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (DefineWorkflow) CommandName() string      { return "define_workflow" }
func (c DefineWorkflow) ActorID() domain.UserID { return c.Actor.UserID }

type DefineWorkflowHandler struct{ rt *Runtime }

// Handle checks removed statuses against every task of the project and
// asserts those tasks' versions, and the task numbers stream's, in the
// append: a task moved into a removed status, or created, meanwhile makes it
// conflict, and the retry refuses. (Task commands and creations assert the
// project's version in turn, so a move or a creation decided on the old
// workflow cannot commit after the new one.) Projects whose workflow only
// gains statuses or transitions skip the scan.
func (h *DefineWorkflowHandler) Handle(ctx context.Context, cmd DefineWorkflow) (Result, error) {
	if err := requireID("project_id", cmd.ProjectID); err != nil {
		return Result{}, err
	}
	if err := validExpected(cmd.ExpectedVersion); err != nil {
		return Result{}, err
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.ProjectID.String())
	if err != nil {
		return Result{}, err
	}
	stream := domain.ProjectStream(cmd.ProjectID)
	p := plan{cmd: cmd, target: "project", decide: func(ctx context.Context) (decision, error) {
		s, err := h.rt.loadProjectScope(ctx, cmd.ProjectID)
		if err != nil {
			return decision{}, err
		}
		events, err := s.project.DefineWorkflow(s.ws, cmd.Actor, cmd.Workflow, h.rt.now())
		if err := settle(err, cmd.ExpectedVersion, s.project.Version()); err != nil {
			return decision{}, err
		}
		writes := s.writes(events)
		if len(events) == 0 {
			return decision{workspaceID: s.ws.ID(), writes: writes}, nil
		}
		removed := removedStatuses(s.project.Workflow(), events[0].(domain.ProjectWorkflowDefined).Workflow)
		if len(removed) == 0 {
			return decision{workspaceID: s.ws.ID(), writes: writes}, nil
		}
		ids, numbersVersion, err := h.rt.projectTaskIDs(ctx, cmd.ProjectID)
		if err != nil {
			return decision{}, err
		}
		// A task created since the scan, in a status it did not check,
		// makes the append conflict.
		writes = append(writes, exactWrite(domain.TaskNumbersStream(cmd.ProjectID), domain.StreamTypeTaskNumbers, numbersVersion, nil))
		for _, id := range ids {
			t, err := h.rt.loadTask(ctx, id)
			if err != nil {
				return decision{}, internal("a task of the project", err)
			}
			if removed[t.Status()] {
				return decision{}, domain.PreconditionFailed("task " + t.Key() + " is in status " + t.Status() + ", which the new workflow removes; move it first")
			}
			writes = append(writes, exactWrite(domain.TaskStream(id), domain.StreamTypeTask, t.Version(), nil))
		}
		return decision{workspaceID: s.ws.ID(), writes: writes}, nil
	}}
	if cmd.ExpectedVersion != nil {
		p.pinned = stream
	}
	res, err := h.rt.execute(ctx, inv, p)
	if err != nil {
		return Result{}, err
	}
	return result(cmd.ProjectID, stream, res), nil
}

func removedStatuses(from, to domain.Workflow) map[string]bool {
	removed := map[string]bool{}
	for _, s := range from.Statuses {
		if _, ok := to.Status(s.ID); !ok {
			removed[s.ID] = true
		}
	}
	return removed
}
