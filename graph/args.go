package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
)

// Shared argument readers for mutations whose inputs have the same shape.

func invitationArgs(ctx context.Context, in model.InvitationInput) (domain.Actor, uuid.UUID, uuid.UUID, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, uuid.Nil, uuid.Nil, err
	}
	ws, err := parseID("workspaceId", in.WorkspaceID)
	if err != nil {
		return a, uuid.Nil, uuid.Nil, err
	}
	inv, err := parseID("invitationId", in.InvitationID)
	return a, ws, inv, err
}

func projectArgs(ctx context.Context, in model.ProjectInput) (domain.Actor, uuid.UUID, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, uuid.Nil, err
	}
	p, err := parseID("projectId", in.ProjectID)
	return a, p, err
}

func taskArgs(ctx context.Context, in model.TaskInput) (domain.Actor, uuid.UUID, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, uuid.Nil, err
	}
	t, err := parseID("taskId", in.TaskID)
	return a, t, err
}

func commentArgs(ctx context.Context, taskID, commentID string) (domain.Actor, uuid.UUID, uuid.UUID, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, uuid.Nil, uuid.Nil, err
	}
	t, err := parseID("taskId", taskID)
	if err != nil {
		return a, uuid.Nil, uuid.Nil, err
	}
	c, err := parseID("commentId", commentID)
	return a, t, c, err
}
