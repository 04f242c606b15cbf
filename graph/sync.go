package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// defaultChangesPage is changes' page size when first is omitted (the schema's default).
const defaultChangesPage = 100

// parseSince reads a since argument: a position (consistency token); empty: the beginning.
func parseSince(since *string) (eventstore.GlobalPosition, error) {
	if since == nil || *since == "" {
		return eventstore.GlobalPosition{}, nil
	}
	p, err := eventstore.ParsePosition(*since)
	if err != nil {
		return eventstore.GlobalPosition{}, domain.InvalidInput("since", "not a position (a consistency token or a lastPosition)")
	}
	return p, nil
}

// changes serves Query.changes (and GET /sync): one statement for the bound and the caller's
// access, one for the records, the caller's membership, then one per entity kind present to load
// their state: at most nine statements whatever the page holds.
func (r *Resolver) changes(ctx context.Context, workspaceID string, since *string, first *int, consistentWith *string) (*model.ChangePage, error) {
	if err := r.consistent(ctx, consistentWith); err != nil {
		return nil, err
	}
	ws, err := parseID("workspaceId", workspaceID)
	if err != nil {
		return nil, err
	}
	from, err := parseSince(since)
	if err != nil {
		return nil, err
	}
	n, err := pageSize(first, defaultChangesPage)
	if err != nil {
		return nil, err
	}
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	user := string(a.UserID)
	limit := max(n, 1) // first: 0 still learns lastPosition and mustRefetch, with no records
	page, err := r.Queries.Changes(ctx, ws, user, from, limit)
	if errors.Is(err, projections.ErrNoSuchAccess) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	out := &model.ChangePage{Changes: []*model.Change{}, LastPosition: page.Last.String(), HasMore: page.More}
	refetch := func(why model.MustRefetchReason) (*model.ChangePage, error) {
		return &model.ChangePage{Changes: []*model.Change{}, LastPosition: page.Bound.String(), MustRefetch: true,
			MustRefetchReason: &why}, nil
	}
	if page.AccessRemoved {
		return refetch(model.MustRefetchReasonAccessRevoked)
	}
	m, err := member(ctx, ws)
	if err != nil {
		return nil, err // removed a moment ago: the access record will say so on the next call
	}
	// A role change needs no refetch: every member syncs the same entities, and the change
	// comes as the workspace's (myRole) and the member's records.
	if page.Unknown {
		return refetch(model.MustRefetchReasonUnknownPosition)
	}
	if n == 0 {
		out.LastPosition, out.HasMore = from.String(), from.Less(page.Bound)
		return out, nil
	}
	if err := chargeRows(ctx, len(page.Changes)); err != nil {
		return nil, err
	}
	states, err := r.loadChanged(ctx, ws, user, m, page.Changes)
	if err != nil {
		return nil, err
	}
	for _, c := range page.Changes {
		mc := &model.Change{Position: c.Position.String(), ID: c.Key, Removed: c.Removed}
		if c.ClientMutationID != "" {
			id := c.ClientMutationID
			mc.ClientMutationID = &id
		}
		if !states.fill(mc, c) {
			continue // gone since the page was read: its removal comes in a later page
		}
		out.Changes = append(out.Changes, mc)
	}
	return out, nil
}

// changedStates is the state of a page's entities, by kind and id.
type changedStates struct {
	workspace     *model.Workspace
	members       map[string]*model.Member
	projects      map[string]*model.Project
	tasks         map[string]*model.Task
	comments      map[string]*model.Comment
	notifications map[string]*model.Notification
}

var syncEntities = map[string]model.SyncEntity{
	projections.SyncWorkspace:    model.SyncEntityWorkspace,
	projections.SyncMember:       model.SyncEntityMember,
	projections.SyncProject:      model.SyncEntityProject,
	projections.SyncTask:         model.SyncEntityTask,
	projections.SyncComment:      model.SyncEntityComment,
	projections.SyncNotification: model.SyncEntityNotification,
}

// fill sets mc's entity from the loaded states; false when a record that is not a removal has no
// state (the entity was removed after the page was read).
func (s *changedStates) fill(mc *model.Change, c projections.Change) bool {
	mc.Entity = syncEntities[c.Kind]
	if c.Removed {
		return true
	}
	switch c.Kind {
	case projections.SyncWorkspace:
		mc.Workspace = s.workspace
		return s.workspace != nil
	case projections.SyncMember:
		mc.Member = s.members[c.Key]
		return mc.Member != nil
	case projections.SyncProject:
		mc.Project = s.projects[c.Key]
		return mc.Project != nil
	case projections.SyncTask:
		mc.Task = s.tasks[c.Key]
		if mc.Task != nil {
			mc.Task.Change = &model.TaskChange{Position: mc.Position, ClientMutationID: mc.ClientMutationID}
		}
		return mc.Task != nil
	case projections.SyncComment:
		mc.Comment = s.comments[c.Key]
		return mc.Comment != nil
	case projections.SyncNotification:
		mc.Notification = s.notifications[c.Key]
		return mc.Notification != nil
	}
	return false
}

// loadChanged loads the current state of the page's entities: one statement per kind present.
func (r *Resolver) loadChanged(ctx context.Context, ws uuid.UUID, user string, m projections.Member, cs []projections.Change) (*changedStates, error) {
	s := &changedStates{members: map[string]*model.Member{}, projects: map[string]*model.Project{},
		tasks: map[string]*model.Task{}, comments: map[string]*model.Comment{}, notifications: map[string]*model.Notification{}}
	var wsChanged bool
	var members []projections.MemberKey
	var projects, tasks []projections.Key
	var comments, notes []uuid.UUID
	for _, c := range cs {
		if c.Removed {
			continue
		}
		switch c.Kind {
		case projections.SyncWorkspace:
			wsChanged = true
		case projections.SyncMember:
			members = append(members, projections.MemberKey{WorkspaceID: ws, UserID: c.Key})
		default:
			id, err := uuid.Parse(c.Key)
			if err != nil {
				return nil, err
			}
			switch c.Kind {
			case projections.SyncProject:
				projects = append(projects, projections.Key{WorkspaceID: ws, ID: id})
			case projections.SyncTask:
				tasks = append(tasks, projections.Key{WorkspaceID: ws, ID: id})
			case projections.SyncComment:
				comments = append(comments, id)
			case projections.SyncNotification:
				notes = append(notes, id)
			}
		}
	}
	if wsChanged {
		w, err := r.Queries.Workspace(ctx, ws)
		if err != nil && !errors.Is(err, projections.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			s.workspace = model.NewWorkspace(w, m)
		}
	}
	if err := loadInto(ctx, members, r.Queries.MembersByKeys, func(x projections.Member) {
		s.members[x.UserID] = model.NewMember(x)
	}); err != nil {
		return nil, err
	}
	if err := loadInto(ctx, projects, r.Queries.ProjectsByKeys, func(x projections.Project) {
		s.projects[x.ID.String()] = model.NewProject(x)
	}); err != nil {
		return nil, err
	}
	if err := loadInto(ctx, tasks, r.Queries.TasksByKeys, func(x projections.Task) {
		s.tasks[x.ID.String()] = model.NewTask(x)
	}); err != nil {
		return nil, err
	}
	commentsOf := func(ctx context.Context, ids []uuid.UUID) ([]projections.Comment, error) {
		return r.Queries.CommentsByIDs(ctx, ws, ids)
	}
	if err := loadInto(ctx, comments, commentsOf, func(x projections.Comment) {
		s.comments[x.ID.String()] = model.NewComment(x)
	}); err != nil {
		return nil, err
	}
	if len(notes) > 0 {
		rows, wss, err := r.Queries.NotificationsByIDs(ctx, user, notes)
		if err != nil {
			return nil, err
		}
		for _, x := range rows {
			if wss[x.ID] == ws {
				s.notifications[x.ID.String()] = model.NewNotification(ws, x)
			}
		}
	}
	return s, nil
}

// taskChange is obj's latest change: as the hub or a sync page set it, else from the loader.
func (r *Resolver) taskChange(ctx context.Context, obj *model.Task) (*model.TaskChange, error) {
	if obj.Change != nil {
		return obj.Change, nil
	}
	c, err := loaders.For(ctx).TaskChanges.Load(ctx, loaders.Key{WorkspaceID: obj.WorkspaceID, ID: obj.TaskID})
	if err != nil {
		return nil, err
	}
	ch := &model.TaskChange{}
	if c.OK {
		ch.Position = c.Value.Position.String()
		if c.Value.ClientMutationID != "" {
			id := c.Value.ClientMutationID
			ch.ClientMutationID = &id
		}
	}
	return ch, nil
}

func (r *Resolver) taskPosition(ctx context.Context, obj *model.Task) (string, error) {
	c, err := r.taskChange(ctx, obj)
	if err != nil {
		return "", err
	}
	return c.Position, nil
}

func (r *Resolver) taskClientMutationID(ctx context.Context, obj *model.Task) (*string, error) {
	c, err := r.taskChange(ctx, obj)
	if err != nil {
		return nil, err
	}
	return c.ClientMutationID, nil
}

// loadInto loads the rows of keys in one statement (none when there are no keys) and puts each.
func loadInto[K, R any](ctx context.Context, keys []K, load func(context.Context, []K) ([]R, error), put func(R)) error {
	if len(keys) == 0 {
		return nil
	}
	rows, err := load(ctx, keys)
	if err != nil {
		return err
	}
	for _, x := range rows {
		put(x)
	}
	return nil
}
