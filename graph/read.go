package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/projections"
)

// The read side. Every query field is tenant-scoped: it first makes the read models consistent
// with the caller's token (when given), then checks that the caller is a member of the workspace
// it reads (NOT_FOUND otherwise: another tenant learns nothing, not even that an id exists), then
// reads through the projections' queries and the request's dataloaders.
//
// Membership is read from the members read model, which trails the event store by milliseconds:
// a member removed a moment ago may still read for that long (never write: commands decide on
// event-sourced state). A client that must see its own membership change passes its token.

// ConsistencyHeader carries a consistency token for every field of a request; a field's
// consistentWith argument takes precedence.
const ConsistencyHeader = "X-Consistency-Token"

// defaultConsistencyWait bounds the wait for read models when Resolver.ConsistencyWait is zero.
const defaultConsistencyWait = 2 * time.Second

// errNotFound is what a caller gets for anything outside their workspaces.
var errNotFound = domain.NotFound("not found")

// requestState is per request: the header's token and how far the read models are known to have
// caught up, so that a request's fields wait (and query the checkpoints) once.
type requestState struct {
	token   string
	mu      sync.Mutex
	reached eventstore.GlobalPosition
	// failed is a wait that ended STALE at failedAt: a later field, or the resolvers after the
	// read cache's wait, get that answer at once instead of waiting as long again.
	failed   error
	failedAt eventstore.GlobalPosition
}

type stateKey struct{}

func withState(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, stateKey{}, &requestState{token: token})
}

// ParseConsistencyToken reads a token made by ConsistencyToken (eventstore.ParsePosition's format).
func ParseConsistencyToken(s string) (eventstore.GlobalPosition, error) {
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		return eventstore.GlobalPosition{}, domain.InvalidInput("consistentWith", "not a consistency token")
	}
	return p, nil
}

// consistent waits until the read models have applied the events of the token (the argument, else
// the request's header; neither: no wait), for at most ConsistencyWait; then STALE.
func (r *Resolver) consistent(ctx context.Context, arg *string) error {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	token := str(arg)
	if token == "" && st != nil {
		token = st.token
	}
	if token == "" {
		return nil
	}
	pos, err := ParseConsistencyToken(token)
	if err != nil {
		return err
	}
	if st != nil {
		st.mu.Lock()
		defer st.mu.Unlock() // the request's fields wait one after the other, and once
		if !st.reached.Less(pos) {
			return nil
		}
		if st.failed != nil && !pos.Less(st.failedAt) {
			return st.failed
		}
	}
	if err := r.await(ctx, pos); err != nil {
		if st != nil && errors.Is(err, ErrStale) {
			st.failed, st.failedAt = err, pos
		}
		return err
	}
	if st != nil {
		st.reached = pos
	}
	return nil
}

// await waits until the named projections (all when none) have applied the log up to pos, for at
// most ConsistencyWait; then STALE.
func (r *Resolver) await(ctx context.Context, pos eventstore.GlobalPosition, names ...string) error {
	wait := r.ConsistencyWait
	if wait <= 0 {
		wait = defaultConsistencyWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := r.Queries.WaitFor(wctx, pos, names...); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return fmt.Errorf("read models at %s: %w", pos.String(), ErrStale)
		}
		return err
	}
	return nil
}

// member returns the caller's membership of the workspace, or NOT_FOUND.
func member(ctx context.Context, ws uuid.UUID) (projections.Member, error) {
	a, err := actor(ctx)
	if err != nil {
		return projections.Member{}, err
	}
	m, err := loaders.For(ctx).Members.Load(ctx, loaders.MemberKey{WorkspaceID: ws, UserID: string(a.UserID)})
	if err != nil {
		return projections.Member{}, err
	}
	if !m.OK {
		return projections.Member{}, errNotFound
	}
	return m.Value, nil
}

// enter starts a query field on a workspace given by the client: consistency, id, membership.
func (r *Resolver) enter(ctx context.Context, field, workspaceID string, token *string) (uuid.UUID, error) {
	if err := r.consistent(ctx, token); err != nil {
		return uuid.Nil, err
	}
	ws, err := parseID(field, workspaceID)
	if err != nil {
		return uuid.Nil, err
	}
	if _, err := member(ctx, ws); err != nil {
		return uuid.Nil, err
	}
	scopeRead(ctx, ws)
	return ws, nil
}

// locate finds a project or task by id alone among the caller's workspaces: one statement for
// the workspaces, one for the lookup in all of them at once (workspace_id = ANY), however many
// the caller belongs to. Found means member; another tenant's object is not found, exactly like
// an id that does not exist.
func locate[V any](ctx context.Context, r *Resolver, id uuid.UUID,
	find func(ctx context.Context, workspaceIDs []uuid.UUID, id uuid.UUID) (V, error)) (V, error) {
	var zero V
	a, err := actor(ctx)
	if err != nil {
		return zero, err
	}
	wss, err := r.Queries.WorkspacesOfUser(ctx, string(a.UserID))
	if err != nil {
		return zero, err
	}
	if len(wss) == 0 {
		return zero, errNotFound
	}
	ids := make([]uuid.UUID, len(wss))
	for i, w := range wss {
		ids[i] = w.ID
	}
	v, err := find(ctx, ids, id)
	if errors.Is(err, projections.ErrNotFound) {
		return zero, errNotFound
	}
	return v, err
}

// pageSize validates first: 0 (an empty page, forwardPage) to projections.MaxPage.
func pageSize(first *int, def int) (int, error) {
	if first == nil {
		return def, nil
	}
	if *first < 0 || *first > projections.MaxPage {
		return 0, domain.InvalidInput("first", fmt.Sprintf("must be between 0 and %d", projections.MaxPage))
	}
	return *first, nil
}

// selects reports whether the current field's selection reaches path (e.g. "tasks", "assignee"),
// through fragments: list resolvers prime the loaders their children will use, and only then.
func selects(ctx context.Context, path ...string) bool { return len(fieldsAt(ctx, path...)) > 0 }

// taskModels converts a list's tasks (their models allocated together).
func taskModels(tasks []projections.Task) []*model.Task {
	vals := make([]model.Task, len(tasks))
	out := make([]*model.Task, len(tasks))
	for i, t := range tasks {
		model.FillTask(&vals[i], t)
		out[i] = &vals[i]
	}
	return out
}

// loadTaskChildren loads what the selection under path asks of a list of tasks (assignees,
// projects, pages of comments; and the boards of the projects, see primeBoards), each in one
// batch through the request's loaders (which keep it for other paths of the request), and hands
// assignees and projects to the tasks' models: their field resolvers then serve them without a
// loader round per task (comments: a loader cache hit per task). Tasks
// sharing an assignee or a project share its model. With models nil it only primes the loaders
// (for resolvers of a list below that builds models of its own: a board's).
func loadTaskChildren(ctx context.Context, tasks []projections.Task, models []*model.Task, path ...string) error {
	if len(tasks) == 0 {
		return nil
	}
	l := loaders.For(ctx)
	if selects(ctx, append(slices.Clip(path), "assignee")...) {
		var keys []loaders.MemberKey
		for _, t := range tasks {
			if t.AssigneeID != nil {
				keys = append(keys, loaders.MemberKey{WorkspaceID: t.WorkspaceID, UserID: *t.AssigneeID})
			}
		}
		members, err := loadDistinct(ctx, l.Members, keys, func(m loaders.Found[projections.Member]) *model.Member {
			if !m.OK {
				return nil // an assignee who left the workspace: null
			}
			return model.NewMember(m.Value)
		})
		if err != nil {
			return err
		}
		for i, t := range tasks[:len(models)] { // none when only priming
			models[i].AssigneeLoaded = true
			if t.AssigneeID != nil {
				models[i].LoadedAssignee = members[loaders.MemberKey{WorkspaceID: t.WorkspaceID, UserID: *t.AssigneeID}]
			}
		}
	}
	if project := append(slices.Clip(path), "project"); selects(ctx, project...) {
		keys := make([]loaders.Key, len(tasks))
		for i, t := range tasks {
			keys[i] = loaders.Key{WorkspaceID: t.WorkspaceID, ID: t.ProjectID}
		}
		projects, err := loadDistinct(ctx, l.Projects, keys, func(p loaders.Found[projections.Project]) *model.Project {
			if !p.OK {
				return nil // its resolver answers NOT_FOUND
			}
			return model.NewProject(p.Value)
		})
		if err != nil {
			return err
		}
		for i := range models {
			models[i].LoadedProject = projects[keys[i]]
		}
		// Each task's project is a list of its own: their boards, primed here, are one batch.
		found := make([]loaders.Key, 0, len(projects))
		seen := make(map[loaders.Key]bool, len(projects))
		for _, k := range keys {
			if p := projects[k]; p != nil && !seen[k] {
				seen[k] = true
				found = append(found, k)
			}
		}
		if err := primeBoards(ctx, found, append(project, "board")...); err != nil {
			return err
		}
	}
	return primeComments(ctx, tasks, path...)
}

// loadDistinct loads keys in one batch, each distinct key once, and converts each value once.
func loadDistinct[K comparable, V, R any](ctx context.Context, l *loaders.Loader[K, V], keys []K, conv func(V) R) (map[K]R, error) {
	distinct := make([]K, 0, len(keys))
	out := make(map[K]R, len(keys))
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			var zero R
			out[k] = zero
			distinct = append(distinct, k)
		}
	}
	if len(distinct) == 0 {
		return out, nil
	}
	vs, err := l.LoadAll(ctx, distinct)
	if err != nil {
		return nil, err
	}
	for i, k := range distinct {
		out[k] = conv(vs[i])
	}
	return out, nil
}

// hasRole is the @hasRole directive: the caller holds at least role in the field's workspaceId.
func (r *Resolver) hasRole(ctx context.Context, _ any, next graphql.Resolver, role model.Role) (any, error) {
	min, err := domain.ParseRole(lower(role))
	if err != nil {
		return nil, err
	}
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	args := graphql.GetFieldContext(ctx).Args
	raw, scoped := args["workspaceId"].(string)
	if !scoped {
		// A role in some workspace says nothing about another tenant's data: such fields are
		// @operator.
		return nil, errors.New("graph: @hasRole on a field without a workspaceId")
	}
	token, _ := args["consistentWith"].(*string)
	ws, err := r.enter(ctx, "workspaceId", raw, token)
	if err != nil {
		return nil, err
	}
	m, err := member(ctx, ws)
	if err != nil {
		return nil, err
	}
	if !domain.Role(m.Role).AtLeast(min) {
		return nil, domain.Forbidden("this needs the " + string(min) + " role in the workspace")
	}
	return next(ctx)
}

// operator is the @operator directive: cross-tenant fields are for operators only, however
// high the caller's role in their own workspaces (anyone can create a workspace and own it).
func (r *Resolver) operator(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return nil, auth.ErrUnauthenticated
	}
	if !p.HasRole(auth.RoleOperator) && !slices.Contains(r.Operators, p.UserID) {
		return nil, domain.Forbidden("this is for operators only")
	}
	return next(ctx)
}

var errNoReadSide = errors.New("graph: resolver needs the read queries, the inspector and the projection statuses")

// nodesOf is a connection's nodes field: its edges' nodes, in order (the page is read once, for
// edges; nodes costs what edges cost, listCosts).
func nodesOf[E, N any](edges []E, node func(E) N) []N {
	out := make([]N, len(edges))
	for i, e := range edges {
		out[i] = node(e)
	}
	return out
}

// forwardPage completes a forward page (Relay's first/after): n is the page size asked for,
// edges what was read for it and hasNext whether the list continues after them. first: 0 asks
// for no edges: the page is read with one (pageRead), so hasNextPage still says whether the list
// has any, and cut here. startCursor and endCursor are the edges' first and last cursors (null
// when there are none); hasPreviousPage is whether the page continues after a cursor.
func forwardPage[E any](n int, edges []E, cursor func(E) string, hasNext bool, after *string) ([]E, *model.PageInfo) {
	if n == 0 {
		hasNext, edges = hasNext || len(edges) > 0, edges[:0]
	}
	info := &model.PageInfo{HasNextPage: hasNext, HasPreviousPage: after != nil && *after != ""}
	if len(edges) > 0 {
		start, end := cursor(edges[0]), cursor(edges[len(edges)-1])
		info.StartCursor, info.EndCursor = &start, &end
	}
	return edges, info
}
