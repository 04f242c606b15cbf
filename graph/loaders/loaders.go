// Package loaders holds the per-request dataloaders of the GraphQL API: members, projects and
// tasks by id, pages of comments by task and of members and projects by workspace, and boards
// by project (LoadBoards). Each response gets fresh loaders (the
// server's AroundResponses middleware puts them in the context; resolvers read them with For), so
// a cache never outlives a request, never serves a later subscription event and never crosses
// callers. Every key carries its workspace, and a batch is one statement over (workspace, id)
// pairs whatever the number of workspaces in it: a key only ever matches a row of its own
// workspace (the tenant the resolver already checked), exactly as a statement per workspace would.
//
// Batching has two sources. Keys loaded by concurrent resolvers within Wait share a batch; and a
// list resolver that knows which keys its children will need primes them with LoadAll (one fetch,
// not a timed batch: see Loader), so a board of 200 tasks costs the same statements as a board of
// 10 whatever the goroutine scheduling.
package loaders

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/taskforge/taskforge/projections"
)

// Wait is how long a batch waits for more keys after its first.
const Wait = 2 * time.Millisecond

// MemberKey names a member of a workspace.
type MemberKey = projections.MemberKey

// Key names a project or task of a workspace.
type Key = projections.Key

// Loaders are one request's dataloaders. A missing row loads as the zero value with ok false
// (see Member, Project, Task): absence is an answer, not an error.
type Loaders struct {
	Members  *Loader[MemberKey, Found[projections.Member]]
	Projects *Loader[Key, Found[projections.Project]]
	Tasks    *Loader[Key, Found[projections.Task]]
	// Comments, MemberPages and ProjectPages load a page of each parent's list (a task's
	// comments, a workspace's members or projects): one statement per window for any number of
	// parents (a board asking for every task's comments stays within its SQL budget).
	Comments     *Loader[PageKey, projections.Page[projections.Comment]]
	MemberPages  *Loader[PageKey, projections.Page[projections.Member]]
	ProjectPages *Loader[PageKey, projections.Page[projections.Project]]
	// TaskChanges loads tasks' latest changes (position, clientMutationId) for Task.position.
	TaskChanges *Loader[Key, Found[projections.TaskChange]]
	// UnreadCounts loads inboxes' unread notification counts: one statement for any number of
	// workspaces (a list of workspaces each showing its count).
	UnreadCounts *Loader[projections.InboxKey, int]

	boards boards
}

// boards are the request's loaded boards, by project (see LoadBoards).
type boards struct {
	q      *projections.Queries
	mu     sync.Mutex
	loaded map[Key][]projections.Task
}

// PageKey names a page of a parent's list: the parent (a task; a workspace, as Key{ws, ws}) and
// the window.
type PageKey struct {
	Key
	Window projections.Window
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
		Members: newLoader(rows(q.MembersByKeys, func(m projections.Member) MemberKey {
			return MemberKey{WorkspaceID: m.WorkspaceID, UserID: m.UserID}
		}), opts...),
		Projects: newLoader(rows(q.ProjectsByKeys, func(p projections.Project) Key {
			return Key{WorkspaceID: p.WorkspaceID, ID: p.ID}
		}), opts...),
		Tasks: newLoader(rows(q.TasksByKeys, func(t projections.Task) Key {
			return Key{WorkspaceID: t.WorkspaceID, ID: t.ID}
		}), opts...),
		Comments:     newLoader(pages(q.CommentPages), opts...),
		MemberPages:  newLoader(pages(byWorkspace(q.MemberPages)), opts...),
		ProjectPages: newLoader(pages(byWorkspace(q.ProjectPages)), opts...),
		TaskChanges: newLoader(rows(q.TaskChangesByKeys, func(c projections.TaskChange) Key {
			return Key{WorkspaceID: c.WorkspaceID, ID: c.TaskID}
		}), opts...),
		UnreadCounts: newLoader(mapped(q.UnreadNotificationCounts), opts...),
		boards:       boards{q: q, loaded: map[Key][]projections.Task{}},
	}
}

// Clear drops everything the request has loaded, for a read that must see a write made since
// (a mutation payload, in a document that may hold several mutations).
func (l *Loaders) Clear() {
	l.Members.ClearAll()
	l.Projects.ClearAll()
	l.Tasks.ClearAll()
	l.Comments.ClearAll()
	l.TaskChanges.ClearAll()
	l.UnreadCounts.ClearAll()
	l.MemberPages.ClearAll()
	l.ProjectPages.ClearAll()
	l.boards.mu.Lock()
	l.boards.loaded = map[Key][]projections.Task{}
	l.boards.mu.Unlock()
}

// LoadBoards returns projects' boards (their unarchived tasks in board order, at most
// projections.MaxPage each), in the order of keys: those the request has loaded already from
// memory, the others in one statement for any number of projects of any number of workspaces.
// Boards are only ever loaded by whole lists (a Project.board batch, or a list priming the boards
// of the projects below it), whose resolver knows every key it needs: unlike the other loaders
// there is no batch to wait for, so it fetches at once. Two concurrent calls missing the same
// board may both read it; what bounds the statements is that each list calls once.
func (l *Loaders) LoadBoards(ctx context.Context, keys []Key) ([][]projections.Task, error) {
	b := &l.boards
	out := make([][]projections.Task, len(keys))
	var missing []Key
	b.mu.Lock()
	for i, k := range keys {
		if tasks, ok := b.loaded[k]; ok {
			out[i] = tasks
		} else {
			missing = append(missing, k)
		}
	}
	b.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	tasks, err := b.q.BoardsByKeys(ctx, missing, projections.MaxPage)
	if err != nil {
		return nil, err
	}
	fetched := make(map[Key][]projections.Task, len(missing))
	for _, k := range missing {
		fetched[k] = nil // an empty board, or another workspace's project: no tasks
	}
	// BoardsByKeys returns each project's tasks together, in board order.
	for start := 0; start < len(tasks); {
		end := start + 1
		for end < len(tasks) && tasks[end].ProjectID == tasks[start].ProjectID {
			end++
		}
		t := tasks[start]
		fetched[Key{WorkspaceID: t.WorkspaceID, ID: t.ProjectID}] = tasks[start:end:end]
		start = end
	}
	b.mu.Lock()
	for k, ts := range fetched {
		b.loaded[k] = ts
	}
	b.mu.Unlock()
	for i, k := range keys {
		if out[i] == nil {
			out[i] = fetched[k]
		}
	}
	return out, nil
}

// rows turns a batch query of rows by key into a loader's fetch: one statement for the batch,
// results put back in key order (each row under the key it names: its own workspace and id),
// absent rows marked not found.
func rows[K comparable, V any](fetch func(context.Context, []K) ([]V, error), key func(V) K) func(context.Context, []K) ([]Found[V], []error) {
	return func(ctx context.Context, keys []K) ([]Found[V], []error) {
		rs, err := fetch(ctx, keys)
		if err != nil {
			return nil, []error{err} // one error: every key's
		}
		found := make(map[K]V, len(rs))
		for _, v := range rs {
			found[key(v)] = v
		}
		out := make([]Found[V], len(keys))
		for i, k := range keys {
			v, ok := found[k]
			out[i] = Found[V]{Value: v, OK: ok}
		}
		return out, nil
	}
}

// pages turns a query of pages by parent into a loader's fetch: one statement per window in the
// batch (the keys of one field share one), each parent's page put back under its key.
func pages[V any](fetch func(context.Context, []Key, projections.Window) (map[Key]projections.Page[V], error)) func(context.Context, []PageKey) ([]projections.Page[V], []error) {
	return func(ctx context.Context, keys []PageKey) ([]projections.Page[V], []error) {
		byWindow := map[projections.Window][]Key{}
		var windows []projections.Window
		for _, k := range keys {
			if _, ok := byWindow[k.Window]; !ok {
				windows = append(windows, k.Window)
			}
			byWindow[k.Window] = append(byWindow[k.Window], k.Key)
		}
		found := make(map[PageKey]projections.Page[V], len(keys))
		for _, w := range windows {
			ps, err := fetch(ctx, byWindow[w], w)
			if err != nil {
				return nil, []error{err} // one error: every key's
			}
			for k, p := range ps {
				found[PageKey{Key: k, Window: w}] = p
			}
		}
		out := make([]projections.Page[V], len(keys))
		for i, k := range keys {
			out[i] = found[k]
		}
		return out, nil
	}
}

// byWorkspace adapts a query of pages by workspace to pages keyed Key{ws, ws}.
func byWorkspace[V any](fetch func(context.Context, []uuid.UUID, projections.Window) (map[uuid.UUID]projections.Page[V], error)) func(context.Context, []Key, projections.Window) (map[Key]projections.Page[V], error) {
	return func(ctx context.Context, keys []Key, w projections.Window) (map[Key]projections.Page[V], error) {
		ids := make([]uuid.UUID, len(keys))
		for i, k := range keys {
			ids[i] = k.WorkspaceID
		}
		ps, err := fetch(ctx, ids, w)
		if err != nil {
			return nil, err
		}
		out := make(map[Key]projections.Page[V], len(ps))
		for ws, p := range ps {
			out[Key{WorkspaceID: ws, ID: ws}] = p
		}
		return out, nil
	}
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
