package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// AddComment comments on a task (member+), recording the members it @mentions.
type AddComment struct {
	Actor  domain.Actor
	TaskID uuid.UUID
	// CommentID is optional: the handler picks one when it is zero.
	CommentID      uuid.UUID
	Body           string
	IdempotencyKey string
}

func (AddComment) CommandName() string      { return "add_comment" }
func (c AddComment) ActorID() domain.UserID { return c.Actor.UserID }

type AddCommentHandler struct{ rt *Runtime }

func (h *AddCommentHandler) Handle(ctx context.Context, cmd AddComment) (CommentResult, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.TaskID.String())
	if err != nil {
		return CommentResult{}, err
	}
	commentID := cmd.CommentID
	if commentID == uuid.Nil {
		commentID = inv.derive("comment")
	}
	res, err := h.rt.runTask(ctx, inv, taskCommand{
		cmd: cmd, actor: cmd.Actor, taskID: cmd.TaskID,
		decide: func(s taskScope, now time.Time) ([]domain.Event, error) {
			return s.task.AddComment(s.ws, s.project, cmd.Actor, commentID, cmd.Body, now)
		},
	})
	if err != nil {
		return CommentResult{}, err
	}
	return CommentResult{Result: res, CommentID: commentID}, nil
}

// CommentResult is the task's Result and the comment's id.
type CommentResult struct {
	Result
	CommentID uuid.UUID
}
