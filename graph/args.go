package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
)

// mutate is the shape of every mutation: the authenticated caller, the input turned into a command
// (malformed input is the client's error and runs nothing), the handler, the payload.
func mutate[C commands.Command, R, P any](ctx context.Context, h commands.Handler[C, R],
	build func(domain.Actor) (C, error), payload func(R) P) (P, error) {
	var zero P
	a, err := actor(ctx)
	if err != nil {
		return zero, err
	}
	cmid, err := clientMutationID(ctx)
	if err != nil {
		return zero, err
	}
	cmd, err := build(a)
	if err != nil {
		return zero, err
	}
	res, err := h.Handle(commands.WithClientMutationID(ctx, cmid), cmd)
	if err != nil {
		return zero, err
	}
	p := payload(res)
	if s, ok := any(p).(interface{ SetClientMutationID(*string) }); ok && cmid != "" {
		s.SetClientMutationID(&cmid)
	}
	return p, nil
}

// clientMutationID is the input's clientMutationId (every mutation input has one), read from the
// field's arguments so that no resolver has to pass it along. Invalid: INVALID_INPUT, nothing runs.
func clientMutationID(ctx context.Context) (string, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return "", nil
	}
	args := fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
	input, _ := args["input"].(map[string]any)
	v, ok := input["clientMutationId"]
	if !ok || v == nil {
		return "", nil
	}
	id, _ := v.(string)
	if !commands.ValidRequestID(id) {
		return "", domain.InvalidInput("clientMutationId", "must be 1 to 128 printable ASCII characters without spaces")
	}
	return id, nil
}

func userResult(res commands.UserResult) *model.MutationResult {
	return &model.MutationResult{ID: string(res.UserID), Version: int(res.Version),
		ConsistencyToken: ConsistencyToken(commands.Result{Position: res.Position})}
}

func invitationIDs(in model.InvitationInput) (ws, inv uuid.UUID, err error) {
	if ws, err = parseID("workspaceId", in.WorkspaceID); err != nil {
		return
	}
	inv, err = parseID("invitationId", in.InvitationID)
	return
}

func webhookIDs(workspaceID, webhookID string) (ws, hook uuid.UUID, err error) {
	if ws, err = parseID("workspaceId", workspaceID); err != nil {
		return
	}
	hook, err = parseID("webhookId", webhookID)
	return
}

func commentIDs(taskID, commentID string) (task, comment uuid.UUID, err error) {
	if task, err = parseID("taskId", taskID); err != nil {
		return
	}
	comment, err = parseID("commentId", commentID)
	return
}
