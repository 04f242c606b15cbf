// Package loaders holds the per-request dataloaders of the GraphQL API: members, projects and
// tasks by id, and comments by task. Each response gets fresh loaders (the server's
// AroundResponses middleware puts them in the context; resolvers read them with For), so a cache
// never outlives a request, never serves a later subscription event and never crosses callers. Every key carries its workspace: a loader can only return rows of the tenant the
// resolver already checked, and a batch costs one statement per workspace in it (one, in practice).
//
// Batching has two sources. Keys loaded by concurrent resolvers within Wait share a batch; and a
// list resolver that knows which keys its children will need primes them with LoadAll, so a board
// of 200 tasks costs the same statements as a board of 10 whatever the goroutine scheduling.
package loaders

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/taskforge/taskforge/projections"
)

// Wait is how long a batch waits for more keys after its first.
const Wait = 2 * time.Millisecond

// MemberKey names a member of a workspace.
type MemberKey struct {
	WorkspaceID uuid.UUID
	UserID      string
}

// Key names a project or task of a workspace.
type Key struct {
	WorkspaceID uuid.UUID
	ID          uuid.UUID
}

// Loaders are one request's dataloaders. A missing row loads as the zero value with ok false
// (see Member, Project, Task): absence is an answer, not an error.
type Loaders struct {
	Members  *dataloadgen.Loader[MemberKey, Found[projections.Member]]
	Projects *dataloadgen.Loader[Key, Found[projections.Project]]
	Tasks    *dataloadgen.Loader[Key, Found[projections.Task]]
	// Comments loads tasks' comments: one statement per workspace in the batch, whatever the
	// number of tasks (a board asking for every task's comments stays within its SQL budget).
	Comments *dataloadgen.Loader[Key, []projections.Comment]
}

// Found is a loaded row and whether it exists.
type Found[T any] struct {
	Value T
	OK    bool
}

// New returns fresh loaders over q.
func New(q *projections.Queries) *Loaders {
	opts := []dataloadgen.Option{dataloadgen.WithWait(Wait)}
	return &Loaders{
		Members: dataloadgen.NewLoader(byWorkspace(func(ctx context.Context, ws uuid.UUID, keys []MemberKey) (map[MemberKey]projections.Member, error) {
			ids := make([]string, len(keys))
			for i, k := range keys {
				ids[i] = k.UserID
			}
			rows, err := q.MembersByIDs(ctx, ws, ids)
			out := make(map[MemberKey]projections.Member, len(rows))
			for _, m := range rows {
				out[MemberKey{WorkspaceID: ws, UserID: m.UserID}] = m
			}
			return out, err
		}, func(k MemberKey) uuid.UUID { return k.WorkspaceID }), opts...),
		Projects: dataloadgen.NewLoader(byWorkspace(func(ctx context.Context, ws uuid.UUID, keys []Key) (map[Key]projections.Project, error) {
			rows, err := q.ProjectsByIDs(ctx, ws, ids(keys))
			out := make(map[Key]projections.Project, len(rows))
			for _, p := range rows {
				out[Key{WorkspaceID: ws, ID: p.ID}] = p
			}
			return out, err
		}, func(k Key) uuid.UUID { return k.WorkspaceID }), opts...),
		Tasks: dataloadgen.NewLoader(byWorkspace(func(ctx context.Context, ws uuid.UUID, keys []Key) (map[Key]projections.Task, error) {
			rows, err := q.TasksByIDs(ctx, ws, ids(keys))
			out := make(map[Key]projections.Task, len(rows))
			for _, t := range rows {
				out[Key{WorkspaceID: ws, ID: t.ID}] = t
			}
			return out, err
		}, func(k Key) uuid.UUID { return k.WorkspaceID }), opts...),
		Comments: dataloadgen.NewLoader(func(ctx context.Context, keys []Key) ([][]projections.Comment, []error) {
			found, errs := byWorkspace(func(ctx context.Context, ws uuid.UUID, keys []Key) (map[Key][]projections.Comment, error) {
				rows, err := q.CommentsByTasks(ctx, ws, ids(keys), projections.MaxPage)
				out := make(map[Key][]projections.Comment, len(keys))
				for _, c := range rows {
					k := Key{WorkspaceID: ws, ID: c.TaskID}
					out[k] = append(out[k], c)
				}
				return out, err
			}, func(k Key) uuid.UUID { return k.WorkspaceID })(ctx, keys)
			out := make([][]projections.Comment, len(keys))
			for i, f := range found {
				out[i] = f.Value // a task without comments: not found, an empty list
			}
			return out, errs
		}, opts...),
	}
}

// byWorkspace turns a per-workspace batch query into a loader's fetch: keys are grouped by
// workspace (one statement each), results put back in key order, absent rows marked not found.
func byWorkspace[K comparable, V any](fetch func(context.Context, uuid.UUID, []K) (map[K]V, error),
	workspace func(K) uuid.UUID) func(context.Context, []K) ([]Found[V], []error) {
	return func(ctx context.Context, keys []K) ([]Found[V], []error) {
		groups := map[uuid.UUID][]K{}
		for _, k := range keys {
			groups[workspace(k)] = append(groups[workspace(k)], k)
		}
		found := make(map[K]V, len(keys))
		failed := map[uuid.UUID]error{}
		for ws, ks := range groups {
			rows, err := fetch(ctx, ws, ks)
			if err != nil {
				failed[ws] = err
				continue
			}
			for k, v := range rows {
				found[k] = v
			}
		}
		out := make([]Found[V], len(keys))
		errs := make([]error, len(keys))
		for i, k := range keys {
			if err, ok := failed[workspace(k)]; ok {
				errs[i] = err
				continue
			}
			v, ok := found[k]
			out[i] = Found[V]{Value: v, OK: ok}
		}
		return out, errs
	}
}

func ids(keys []Key) []uuid.UUID {
	out := make([]uuid.UUID, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

type ctxKey struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// For returns the request's loaders. It panics when the request has none: that is a wiring bug
// (the recover function reports it as INTERNAL), not a client's error.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("loaders: no loaders in the request context")
	}
	return l
}
