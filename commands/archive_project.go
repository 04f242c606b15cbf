package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// ArchiveProject freezes a project and its tasks (admin+).
type ArchiveProject struct {
	Actor           domain.Actor
	ProjectID       uuid.UUID
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (ArchiveProject) CommandName() string      { return "archive_project" }
func (c ArchiveProject) ActorID() domain.UserID { return c.Actor.UserID }

type ArchiveProjectHandler struct{ rt *Runtime }

func (h *ArchiveProjectHandler) Handle(ctx context.Context, cmd ArchiveProject) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.ProjectID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runProject(ctx, inv, projectCommand{
		cmd: cmd, projectID: cmd.ProjectID, expected: cmd.ExpectedVersion,
		decide: func(s projectScope, now time.Time) ([]domain.Event, error) {
			return s.project.Archive(s.ws, cmd.Actor, now)
		},
	})
}
