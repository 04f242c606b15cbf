package graph

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// maxNodes bounds nodes(ids:) (its cost counts each id, listCosts).
const maxNodes = 100

// findNodes serves node and nodes: the objects with ids among the caller's workspaces, in the
// order of ids, nil for an id not found (another tenant's object exactly like an id that exists
// nowhere: no error, no timing of its own). One statement finds which ids the caller may read
// and what they are (projections.NodeRefs), then one batch per kind loads them, with what the
// selection asks of them: a bounded number of statements, whatever the ids.
func (r *Resolver) findNodes(ctx context.Context, ids []uuid.UUID) ([]model.Node, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	refs, err := r.Queries.NodeRefs(ctx, string(a.UserID), ids)
	if err != nil {
		return nil, err
	}
	byKind := map[string][]loaders.Key{}
	for _, ref := range refs {
		byKind[ref.Kind] = append(byKind[ref.Kind], loaders.Key{WorkspaceID: ref.WorkspaceID, ID: ref.ID})
	}
	found := make(map[uuid.UUID]model.Node, len(refs))
	l := loaders.For(ctx)
	if keys := byKind[projections.NodeWorkspace]; len(keys) > 0 {
		ms, err := r.Queries.MembershipsByIDs(ctx, string(a.UserID), idsOf(keys))
		if err != nil {
			return nil, err
		}
		workspaces := make([]*model.Workspace, len(ms))
		for i, m := range ms {
			l.Members.Prime(loaders.MemberKey{WorkspaceID: m.Member.WorkspaceID, UserID: m.Member.UserID},
				loaders.Found[projections.Member]{Value: m.Member, OK: true})
			workspaces[i] = model.NewWorkspace(m.Workspace, m.Member)
			found[m.Workspace.ID] = workspaces[i]
		}
		if err := primeWorkspaces(ctx, workspaces); err != nil {
			return nil, err
		}
	}
	if keys := byKind[projections.NodeProject]; len(keys) > 0 {
		ps, err := l.Projects.LoadAll(ctx, keys)
		if err != nil {
			return nil, err
		}
		var loaded []loaders.Key
		for i, p := range ps {
			if p.OK {
				found[p.Value.ID] = model.NewProject(p.Value)
				loaded = append(loaded, keys[i])
			}
		}
		if err := primeBoards(ctx, loaded, "board"); err != nil {
			return nil, err
		}
	}
	if keys := byKind[projections.NodeTask]; len(keys) > 0 {
		ts, err := l.Tasks.LoadAll(ctx, keys)
		if err != nil {
			return nil, err
		}
		var tasks []projections.Task
		for _, t := range ts {
			if t.OK {
				tasks = append(tasks, t.Value)
			}
		}
		models := taskModels(tasks)
		if err := loadTaskChildren(ctx, tasks, models); err != nil {
			return nil, err
		}
		for _, m := range models {
			found[m.TaskID] = m
		}
	}
	if keys := byKind[projections.NodeComment]; len(keys) > 0 {
		cs, err := r.Queries.CommentsByKeys(ctx, keys)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			found[c.ID] = model.NewComment(c)
		}
	}
	if keys := byKind[projections.NodeNotification]; len(keys) > 0 {
		ns, wss, err := r.Queries.NotificationsByIDs(ctx, string(a.UserID), idsOf(keys))
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			found[n.ID] = model.NewNotification(wss[n.ID], n)
		}
	}
	out := make([]model.Node, len(ids))
	for i, id := range ids {
		if n, ok := found[id]; ok {
			out[i] = n
		}
	}
	return out, chargeRows(ctx, len(found))
}

func idsOf(keys []loaders.Key) []uuid.UUID {
	out := make([]uuid.UUID, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// nodeIDs parses nodes' ids: INVALID_INPUT naming ids (too many) or the malformed one (ids[3]).
func nodeIDs(ids []string) ([]uuid.UUID, error) {
	if len(ids) > maxNodes {
		return nil, domain.InvalidInput("ids", fmt.Sprintf("at most %d ids", maxNodes))
	}
	out := make([]uuid.UUID, len(ids))
	for i, s := range ids {
		id, err := parseID(fmt.Sprintf("ids[%d]", i), s)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}
