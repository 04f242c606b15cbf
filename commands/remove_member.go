package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// RemoveMember removes a member from a workspace (admin+; anyone may remove
// themselves to leave) and, in the same append, unassigns every task
// assigned to them. See doc.go for why no assignment can slip through.
type RemoveMember struct {
	Actor          domain.Actor
	WorkspaceID    uuid.UUID
	UserID         domain.UserID
	IdempotencyKey string
}

func (RemoveMember) CommandName() string      { return "remove_member" }
func (c RemoveMember) ActorID() domain.UserID { return c.Actor.UserID }

type RemoveMemberHandler struct{ rt *Runtime }

func (h *RemoveMemberHandler) Handle(ctx context.Context, cmd RemoveMember) (Result, error) {
	if err := requireID("workspace_id", cmd.WorkspaceID); err != nil {
		return Result{}, err
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, cmd.WorkspaceID.String())
	if err != nil {
		return Result{}, err
	}
	stream := domain.WorkspaceStream(cmd.WorkspaceID)
	res, err := h.rt.execute(ctx, inv, plan{cmd: cmd, target: "workspace", decide: func(ctx context.Context) (decision, error) {
		ws, err := h.rt.loadWorkspace(ctx, cmd.WorkspaceID)
		if err != nil {
			return decision{}, err
		}
		now := h.rt.now()
		removed, err := ws.RemoveMember(cmd.Actor, cmd.UserID, now)
		if err != nil {
			return decision{}, err
		}
		// The workspace as it will be, to decide the unassignments on.
		snap, err := ws.Snapshot()
		if err != nil {
			return decision{}, err
		}
		after, err := domain.RestoreWorkspace(snap, removed)
		if err != nil {
			return decision{}, err
		}
		index, err := h.rt.loadAssignments(ctx, ws.ID(), cmd.UserID)
		if err != nil {
			return decision{}, err
		}
		released, err := index.Release(after, now)
		if err != nil {
			return decision{}, err
		}
		writes := []write{
			exactWrite(stream, domain.StreamTypeWorkspace, ws.Version(), removed),
			// Exact: an assignment committed since the index was read
			// makes this append conflict, and the retry sees that task.
			exactWrite(domain.MemberStream(ws.ID(), cmd.UserID), domain.StreamTypeMember, index.Version(), released),
		}
		for _, taskID := range index.Tasks() {
			t, err := h.rt.loadTask(ctx, taskID)
			if err != nil {
				return decision{}, internal("an assigned task", err)
			}
			events, err := t.UnassignBecauseMemberRemoved(after, cmd.UserID, now)
			if err != nil {
				return decision{}, err
			}
			writes = append(writes, exactWrite(domain.TaskStream(taskID), domain.StreamTypeTask, t.Version(), events))
		}
		return decision{workspaceID: ws.ID(), writes: writes}, nil
	}})
	if err != nil {
		return Result{}, err
	}
	return result(cmd.WorkspaceID, stream, res), nil
}
