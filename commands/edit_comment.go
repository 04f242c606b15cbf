package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// EditComment changes the body of one's own comment (member+).
type EditComment struct {
	Actor          domain.Actor
	TaskID         uuid.UUID
	CommentID      uuid.UUID
	Body           string
	IdempotencyKey string
}

func (EditComment) CommandName() string      { return "edit_comment" }
func (c EditComment) ActorID() domain.UserID { return c.Actor.UserID }

type EditCommentHandler struct{ rt *Runtime }

func (h *EditCommentHandler) Handle(ctx context.Context, cmd EditComment) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.EditComment(s.ws, s.project, cmd.Actor, cmd.CommentID, cmd.Body, now)
		},
	})
}
