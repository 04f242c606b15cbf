package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// DeleteComment deletes one's own comment (member+), or anyone's (admin+).
type DeleteComment struct {
	Actor          domain.Actor
	TaskID         uuid.UUID
	CommentID      uuid.UUID
	IdempotencyKey string
}

func (DeleteComment) CommandName() string      { return "delete_comment" }
func (c DeleteComment) ActorID() domain.UserID { return c.Actor.UserID }

type DeleteCommentHandler struct{ rt *Runtime }

func (h *DeleteCommentHandler) Handle(ctx context.Context, cmd DeleteComment) (Result, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return Result{}, err
	}
	return h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.DeleteComment(s.ws, s.project, cmd.Actor, cmd.CommentID, now)
		},
	})
}
