package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RenameProject renames a project (admin+); its key never changes.
type RenameProject struct {
	Actor           domain.Actor
	ProjectID       uuid.UUID
	Name            string
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (RenameProject) CommandName() string      { return "rename_project" }
func (c RenameProject) ActorID() domain.UserID { return c.Actor.UserID }

type RenameProjectHandler struct{ rt *Runtime }

func (h *RenameProjectHandler) Handle(ctx context.Context, cmd RenameProject) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.ProjectID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runProject(ctx, inv, projectCommand{
		cmd: cmd, projectID: cmd.ProjectID, expected: cmd.ExpectedVersion,
		decide: func(s projectScope, now time.Time) ([]domain.Event, error) {
			return s.project.Rename(s.ws, cmd.Actor, cmd.Name, now)
		},
	})
}
