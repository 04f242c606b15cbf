package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// UnarchiveProject makes an archived project editable again (admin+).
type UnarchiveProject struct {
	Actor           domain.Actor
	ProjectID       uuid.UUID
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (UnarchiveProject) CommandName() string      { return "unarchive_project" }
func (c UnarchiveProject) ActorID() domain.UserID { return c.Actor.UserID }

type UnarchiveProjectHandler struct{ rt *Runtime }

func (h *UnarchiveProjectHandler) Handle(ctx context.Context, cmd UnarchiveProject) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.ProjectID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runProject(ctx, inv, projectCommand{
		cmd: cmd, projectID: cmd.ProjectID, expected: cmd.ExpectedVersion,
		decide: func(s projectScope, now time.Time) ([]domain.Event, error) {
			return s.project.Unarchive(s.ws, cmd.Actor, now)
		},
	})
}
