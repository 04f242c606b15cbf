// Package fastlist writes lists of tasks (a board column's tasks, a page's nodes or edges) straight
// to JSON when their selection holds only fields read off the models: the same bytes gqlgen's
// generated code writes, without its per-element goroutine, per-object field collection and
// per-field contexts, which were most of a 200-task board's CPU on a cache miss (README, "Go CPU
// per read on a miss").
//
// The generated list marshalers call Tasks and TaskEdges first (make generate inserts the calls:
// see internal/tools/fastlists) and fall back to their own code whenever fastlist declines: a field
// it does not write (a resolver such as comments or board, or one with arguments), a directive
// other than @include/@skip in the query or other than @deprecated in the schema, a deferred
// fragment, a nil element, an assignee or project the list did not load, or a value that would be
// an error (a zero time in a non-null field). So whatever it writes, gqlgen would have written the
// same, and every error and null is gqlgen's own (TestFastTaskListsMatchGqlgen compares the two).
package fastlist

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/taskforge/taskforge/graph/model"
)

type (
	offKey   struct{} // a context in which fastlist always declines
	countKey struct{} // the *atomic.Int64 that counts the lists fastlist writes
)

// Off returns ctx in which the generated code writes every list itself: tests compare its output
// with this package's.
func Off(ctx context.Context) context.Context { return context.WithValue(ctx, offKey{}, true) }

// Count returns ctx in which every list fastlist writes adds one to n: tests check that it did.
func Count(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, countKey{}, n)
}

// Types are the generated code's implementors of each type fastlist writes (the types whose
// fragments apply to it), handed over by the generated code so that a schema change reaches both.
type Types struct {
	Task, TaskEdge, Member, Project []string
}

// Tasks returns v written as the JSON array gqlgen would write for the selection sel, or false
// when the generated code must write it (see the package doc).
func Tasks(ctx context.Context, oc *graphql.OperationContext, sel ast.SelectionSet, v []*model.Task, types Types) (graphql.Marshaler, bool) {
	return list(ctx, oc, sel, v, taskShape, types)
}

// TaskEdges is Tasks for a page's edges: each edge's cursor and its task (node).
func TaskEdges(ctx context.Context, oc *graphql.OperationContext, sel ast.SelectionSet, v []*model.TaskEdge, types Types) (graphql.Marshaler, bool) {
	return list(ctx, oc, sel, v, edgeShape, types)
}

// A shape is what fastlist writes of one model type T: the names of the fields it writes (its
// value function declines any other) and, for its object fields, their shapes.
type shape struct {
	implementors func(Types) []string
	fields       map[string]bool
	objects      map[string]*shape
	// value returns field f of obj (a *T), or nil to decline.
	value func(f graphql.CollectedField, obj any) graphql.Marshaler
	// child returns object field f of obj: the nested object (nil for null) or false to decline.
	child func(f graphql.CollectedField, obj any) (any, bool)
}

var taskShape, edgeShape, memberShape, projectShape *shape

func init() {
	memberShape = &shape{
		implementors: func(t Types) []string { return t.Member },
		fields:       set("__typename", "userId", "displayName", "email", "role", "joinedAt"),
		value:        memberValue,
	}
	projectShape = &shape{
		implementors: func(t Types) []string { return t.Project },
		fields:       set("__typename", "id", "key", "name", "archived", "openCount", "overdueCount", "updatedAt", "version"),
		value:        projectValue,
	}
	taskShape = &shape{
		implementors: func(t Types) []string { return t.Task },
		fields: set("__typename", "id", "key", "number", "title", "description", "status", "priority", "assigneeId",
			"labels", "dueDate", "rank", "commentCount", "archived", "createdAt", "updatedAt", "version"),
		objects: map[string]*shape{"assignee": memberShape, "project": projectShape},
		value:   taskValue,
		child:   taskChild,
	}
	edgeShape = &shape{
		implementors: func(t Types) []string { return t.TaskEdge },
		fields:       set("__typename", "cursor"),
		objects:      map[string]*shape{"node": taskShape},
		value:        edgeValue,
		child:        edgeChild,
	}
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// A plan is a selection fastlist can write for one shape: its collected fields and, for each
// object field among them, that field's own plan.
type plan struct {
	shape  *shape
	fields []graphql.CollectedField
	sub    []*plan
}

// planFor collects sel for s, every field plain and one s writes, the object fields planned in
// turn; false when fastlist cannot write it.
func planFor(oc *graphql.OperationContext, sel ast.SelectionSet, s *shape, types Types) (*plan, bool) {
	p := &plan{shape: s, fields: graphql.CollectFields(oc, sel, s.implementors(types))}
	p.sub = make([]*plan, len(p.fields))
	for i, f := range p.fields {
		// CollectFields merges a field's repeats; it keeps two of one alias only for fields
		// selected through a union's fragment (the schema has no union), which gqlgen writes once.
		if !plain(f) || aliasBefore(p.fields[:i], f.Alias) {
			return nil, false
		}
		if child := s.objects[f.Name]; child != nil {
			sub, ok := planFor(oc, f.Selections, child, types)
			if !ok {
				return nil, false
			}
			p.sub[i] = sub
		} else if !s.fields[f.Name] {
			return nil, false
		}
	}
	return p, true
}

// list writes v as a JSON array of objects of shape s, or declines.
func list[T any](ctx context.Context, oc *graphql.OperationContext, sel ast.SelectionSet, v []*T, s *shape, types Types) (graphql.Marshaler, bool) {
	if len(v) == 0 || oc == nil || ctx.Value(offKey{}) != nil {
		return nil, false
	}
	p, ok := planFor(oc, sel, s, types)
	if !ok {
		return nil, false
	}
	var buf bytes.Buffer
	buf.Grow(len(v) * 32 * len(p.fields))
	buf.WriteByte('[')
	for i, e := range v {
		if i > 0 {
			buf.WriteByte(',')
		}
		if e == nil || !p.write(&buf, e) {
			return nil, false
		}
	}
	buf.WriteByte(']')
	if n, _ := ctx.Value(countKey{}).(*atomic.Int64); n != nil {
		n.Add(1)
	}
	return raw(buf.Bytes()), true
}

// write writes obj as gqlgen's FieldSet does (the fields in collection order under their
// aliases), or returns false when a value declines. A decline leaves buf
// half written: the whole list is then left to gqlgen, so nothing of buf is used.
func (p *plan) write(buf *bytes.Buffer, obj any) bool {
	buf.WriteByte('{')
	for i, f := range p.fields {
		var (
			m     graphql.Marshaler
			child any
		)
		if p.sub[i] != nil {
			var ok bool
			if child, ok = p.shape.child(f, obj); !ok {
				return false
			}
			if child == nil {
				m = graphql.Null
			}
		} else if m = p.shape.value(f, obj); m == nil {
			return false
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		graphql.MarshalString(f.Alias).MarshalGQL(buf)
		buf.WriteByte(':')
		if m != nil {
			m.MarshalGQL(buf)
		} else if !p.sub[i].write(buf, child) {
			return false
		}
	}
	buf.WriteByte('}')
	return true
}

func taskValue(f graphql.CollectedField, obj any) graphql.Marshaler {
	t := obj.(*model.Task)
	switch f.Name {
	case "__typename":
		return graphql.MarshalString("Task")
	case "id":
		return graphql.MarshalID(t.ID)
	case "key":
		return graphql.MarshalString(t.Key)
	case "number":
		return graphql.MarshalInt(t.Number)
	case "title":
		return graphql.MarshalString(t.Title)
	case "description":
		return graphql.MarshalString(t.Description)
	case "status":
		return graphql.MarshalString(t.Status)
	case "priority":
		return t.Priority
	case "assigneeId":
		if t.AssigneeID == nil {
			return graphql.Null
		}
		return graphql.MarshalID(*t.AssigneeID)
	case "labels":
		a := make(graphql.Array, len(t.Labels))
		for i, l := range t.Labels {
			a[i] = graphql.MarshalString(l)
		}
		return a
	case "dueDate":
		if t.DueDate == nil {
			return graphql.Null
		}
		return model.MarshalTime(*t.DueDate)
	case "rank":
		return graphql.MarshalString(t.Rank)
	case "commentCount":
		return graphql.MarshalInt(t.CommentCount)
	case "archived":
		return graphql.MarshalBoolean(t.Archived)
	case "createdAt":
		return nonNull(model.MarshalTime(t.CreatedAt))
	case "updatedAt":
		return nonNull(model.MarshalTime(t.UpdatedAt))
	case "version":
		return graphql.MarshalInt(t.Version)
	}
	return nil
}

func taskChild(f graphql.CollectedField, obj any) (any, bool) {
	t := obj.(*model.Task)
	switch f.Name {
	case "assignee":
		if t.AssigneeID != nil && !t.AssigneeLoaded {
			return nil, false // its resolver would load it
		}
		if t.LoadedAssignee == nil {
			return nil, true // no assignee, or one who left
		}
		return t.LoadedAssignee, true
	case "project":
		if t.LoadedProject == nil {
			return nil, false // its resolver would load it (non-null: never null here)
		}
		return t.LoadedProject, true
	}
	return nil, false
}

func edgeValue(f graphql.CollectedField, obj any) graphql.Marshaler {
	e := obj.(*model.TaskEdge)
	switch f.Name {
	case "__typename":
		return graphql.MarshalString("TaskEdge")
	case "cursor":
		return graphql.MarshalString(e.Cursor)
	}
	return nil
}

func edgeChild(f graphql.CollectedField, obj any) (any, bool) {
	if e := obj.(*model.TaskEdge); f.Name == "node" && e.Node != nil {
		return e.Node, true
	}
	return nil, false // a nil node (non-null): gqlgen's error
}

func memberValue(f graphql.CollectedField, obj any) graphql.Marshaler {
	m := obj.(*model.Member)
	switch f.Name {
	case "__typename":
		return graphql.MarshalString("Member")
	case "userId":
		return graphql.MarshalID(m.UserID)
	case "displayName":
		return graphql.MarshalString(m.DisplayName)
	case "email":
		return graphql.MarshalString(m.Email)
	case "role":
		return m.Role
	case "joinedAt":
		return nonNull(model.MarshalTime(m.JoinedAt))
	}
	return nil
}

func projectValue(f graphql.CollectedField, obj any) graphql.Marshaler {
	pr := obj.(*model.Project)
	switch f.Name {
	case "__typename":
		return graphql.MarshalString("Project")
	case "id":
		return graphql.MarshalID(pr.ID)
	case "key":
		return graphql.MarshalString(pr.Key)
	case "name":
		return graphql.MarshalString(pr.Name)
	case "archived":
		return graphql.MarshalBoolean(pr.Archived)
	case "openCount":
		return graphql.MarshalInt(pr.OpenCount)
	case "overdueCount":
		return graphql.MarshalInt(pr.OverdueCount)
	case "updatedAt":
		return nonNull(model.MarshalTime(pr.UpdatedAt))
	case "version":
		return graphql.MarshalInt(pr.Version)
	}
	return nil
}

// plain reports whether f is a field this package may write in gqlgen's place: no arguments, no
// deferral, no directive that would run code (the query's @include/@skip are already applied by
// CollectFields; the schema's @deprecated only documents).
func plain(f graphql.CollectedField) bool {
	if len(f.Arguments) > 0 || len(f.Deferrables) > 0 || f.Definition == nil {
		return false
	}
	for _, d := range f.Directives {
		if d.Name != "include" && d.Name != "skip" {
			return false
		}
	}
	for _, d := range f.Definition.Directives {
		if d.Name != "deprecated" {
			return false
		}
	}
	return true
}

// aliasBefore reports whether one of fields has the alias (gqlgen writes an alias once).
func aliasBefore(fields []graphql.CollectedField, alias string) bool {
	for _, f := range fields {
		if f.Alias == alias {
			return true
		}
	}
	return false
}

// nonNull turns the Null of a non-null field (an error in gqlgen's hands) into a decline.
func nonNull(m graphql.Marshaler) graphql.Marshaler {
	if m == graphql.Null {
		return nil
	}
	return m
}

// raw is JSON written already.
type raw []byte

func (r raw) MarshalGQL(w io.Writer) { _, _ = w.Write(r) }
