package graph

import (
	"context"
	"fmt"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/internal/cursor"
	"github.com/taskforge/taskforge/projections"
)

// Connections (Relay). Every list that may grow is a connection read in pages: first/after
// forward, last/before backward, never both (INVALID_INPUT naming the argument), first or last
// 0 to projections.MaxPage, 50 when neither is given. A cursor is opaque (internal/cursor: a
// version, the list's kind, the item's key) and a cursor of another list is INVALID_INPUT. Each
// page is one keyset statement (projections.Window) that also answers hasPreviousPage and
// hasNextPage exactly, in either direction; nested connections (a workspace's members and
// projects, a task's comments) are one statement per window for a whole page of parents.

// defaultPage is a connection's page size when the client gives neither first nor last.
const defaultPage = 50

// window is a connection's page arguments, checked.
type window struct {
	n int // the edges asked for; 0: none (pageInfo only)
	w projections.Window
}

// readWindow checks a connection's arguments; valid says whether a cursor is one of the list's.
func readWindow(first *int, after *string, last *int, before *string, valid func(string) bool) (window, error) {
	if first != nil && last != nil {
		return window{}, domain.InvalidInput("last", "give first or last, not both")
	}
	if last != nil && str(after) != "" {
		return window{}, domain.InvalidInput("after", "pages backward (last) start before a cursor: use before")
	}
	if first != nil && str(before) != "" {
		return window{}, domain.InvalidInput("before", "pages forward (first) start after a cursor: use after")
	}
	backward := last != nil || (first == nil && str(before) != "")
	n, arg, size := defaultPage, "first", first
	if backward {
		arg, size = "last", last
	}
	if size != nil {
		if *size < 0 || *size > projections.MaxPage {
			return window{}, domain.InvalidInput(arg, fmt.Sprintf("must be between 0 and %d", projections.MaxPage))
		}
		n = *size
	}
	at, cursorArg := str(after), "after"
	if backward {
		at, cursorArg = str(before), "before"
	}
	if at != "" && !valid(at) {
		return window{}, domain.InvalidInput(cursorArg, "not a cursor of this list")
	}
	return window{n: n, w: projections.Window{Limit: pageRead(n), Backward: backward, Cursor: at}}, nil
}

// validCursor is the validity check of a projections list's cursors.
func validCursor(kind byte) func(string) bool {
	return func(s string) bool { return projections.ValidCursor(kind, s) }
}

// windowOf reads the page arguments of a collected field (for the list above it to prime its
// loaders); false when they are not valid (the field's resolver will say why).
func windowOf(ctx context.Context, f graphql.CollectedField, kind byte) (window, bool) {
	args := f.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
	w, err := readWindow(intArg(args["first"]), strArg(args["after"]), intArg(args["last"]), strArg(args["before"]), validCursor(kind))
	return w, err == nil
}

func intArg(v any) *int {
	n, ok := argInt(v)
	if !ok {
		return nil
	}
	i := int(n)
	return &i
}

func strArg(v any) *string {
	if s, ok := v.(string); ok {
		return &s
	}
	return nil
}

// page lays out a page as edges and PageInfo. first: 0 (last: 0) read one item to learn whether
// the list goes on, cut here: no edges, and hasNextPage (hasPreviousPage) says whether it has any
// item beyond the cursor.
func page[T, E any](win window, p projections.Page[T], edge func(T) E, cursorOf func(E) string) ([]E, *model.PageInfo) {
	info := &model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: p.HasPrevious}
	if win.n == 0 {
		if win.w.Backward {
			info.HasPreviousPage = p.HasPrevious || len(p.Items) > 0
		} else {
			info.HasNextPage = p.HasNext || len(p.Items) > 0
		}
		return []E{}, info
	}
	edges := make([]E, len(p.Items))
	for i, it := range p.Items {
		edges[i] = edge(it)
	}
	if len(edges) > 0 {
		start, end := cursorOf(edges[0]), cursorOf(edges[len(edges)-1])
		info.StartCursor, info.EndCursor = &start, &end
	}
	return edges, info
}

// pageRead is the number of items to read for a page of n: first: 0 reads one, to answer
// hasNextPage (page cuts it).
func pageRead(n int) int {
	if n == 0 {
		return 1
	}
	return n
}

// fieldsAt returns the fields the current field's selection reaches at path (by name, through
// fragments; every alias of the last name, each with its own arguments).
func fieldsAt(ctx context.Context, path ...string) []graphql.CollectedField {
	oc := graphql.GetOperationContext(ctx)
	fields := graphql.CollectFieldsCtx(ctx, nil)
	for i, name := range path {
		var next []graphql.CollectedField
		for _, f := range fields {
			if f.Name != name {
				continue
			}
			if i == len(path)-1 {
				next = append(next, f)
			} else {
				next = append(next, graphql.CollectFields(oc, f.Selections, nil)...)
			}
		}
		fields = next
	}
	return fields
}

// nodePaths are the two ways a connection's selection reaches its nodes.
func nodePaths(path ...string) [][]string {
	return [][]string{append(slices.Clip(path), "edges", "node"), append(slices.Clip(path), "nodes")}
}

// primeWorkspaces loads what the selection under path asks of a page of workspaces: each members
// and projects field's page of every workspace and the caller's unread counts (one statement per
// field, whatever the number of workspaces and the goroutine scheduling), and what the selection
// asks of those projects (primeProjects). The Workspace
// batch resolvers below then find their pages loaded: a connection's edges are not a list of
// workspaces, so without this each edge's workspace would read its own.
func primeWorkspaces(ctx context.Context, workspaces []*model.Workspace, path ...string) error {
	if len(workspaces) == 0 {
		return nil
	}
	l := loaders.For(ctx)
	for _, f := range fieldsAt(ctx, append(slices.Clip(path), "members")...) {
		if win, ok := windowOf(ctx, f, cursor.Member); ok {
			if _, err := l.MemberPages.LoadAll(ctx, workspaceKeys(workspaces, win)); err != nil {
				return err
			}
		}
	}
	if len(fieldsAt(ctx, append(slices.Clip(path), "unreadNotificationCount")...)) > 0 {
		a, err := actor(ctx)
		if err != nil {
			return err
		}
		keys := make([]projections.InboxKey, len(workspaces))
		for i, w := range workspaces {
			keys[i] = projections.InboxKey{WorkspaceID: w.WorkspaceID, UserID: string(a.UserID)}
		}
		if _, err := l.UnreadCounts.LoadAll(ctx, keys); err != nil {
			return err
		}
	}
	for _, f := range fieldsAt(ctx, append(slices.Clip(path), "projects")...) {
		win, ok := windowOf(ctx, f, cursor.Project)
		if !ok {
			continue
		}
		pages, err := l.ProjectPages.LoadAll(ctx, workspaceKeys(workspaces, win))
		if err != nil {
			return err
		}
		var projects []projections.Project
		for _, p := range pages {
			projects = append(projects, p.Items...)
		}
		if err := primeProjects(ctx, projects, append(slices.Clip(path), "projects")...); err != nil {
			return err
		}
	}
	return nil
}

func workspaceKeys(workspaces []*model.Workspace, win window) []loaders.PageKey {
	keys := make([]loaders.PageKey, 0, len(workspaces))
	seen := make(map[loaders.Key]bool, len(workspaces))
	for _, w := range workspaces {
		k := loaders.Key{WorkspaceID: w.WorkspaceID, ID: w.WorkspaceID}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, loaders.PageKey{Key: k, Window: win.w})
		}
	}
	return keys
}

// primeProjects puts projects in the request's project loader (a board task's project is then a
// cache hit) and loads their boards, with what the selection asks of the boards' tasks, when the
// selection under path (a connection of projects) reaches them: one batch for all the projects,
// however they are spread over workspaces and edges.
func primeProjects(ctx context.Context, projects []projections.Project, path ...string) error {
	if len(projects) == 0 {
		return nil
	}
	l := loaders.For(ctx)
	keys := make([]loaders.Key, len(projects))
	for i, p := range projects {
		keys[i] = loaders.Key{WorkspaceID: p.WorkspaceID, ID: p.ID}
		l.Projects.Prime(keys[i], loaders.Found[projections.Project]{Value: p, OK: true})
	}
	for _, np := range nodePaths(path...) {
		if err := primeBoards(ctx, keys, append(np, "board")...); err != nil {
			return err
		}
	}
	return nil
}

// primeComments loads the page of comments each comments field under path asks of tasks: one
// statement per field for all the tasks.
func primeComments(ctx context.Context, tasks []projections.Task, path ...string) error {
	for _, f := range fieldsAt(ctx, append(slices.Clip(path), "comments")...) {
		win, ok := windowOf(ctx, f, cursor.Comment)
		if !ok {
			continue
		}
		keys := make([]loaders.PageKey, 0, len(tasks))
		seen := make(map[loaders.Key]bool, len(tasks))
		for _, t := range tasks {
			k := loaders.Key{WorkspaceID: t.WorkspaceID, ID: t.ID}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, loaders.PageKey{Key: k, Window: win.w})
			}
		}
		if _, err := loaders.For(ctx).Comments.LoadAll(ctx, keys); err != nil {
			return err
		}
	}
	return nil
}
