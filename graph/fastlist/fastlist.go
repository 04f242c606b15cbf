// Package fastlist writes lists of tasks (a board column's, a page's) straight to JSON when their
// selection holds only fields read off the task model: the same bytes gqlgen's generated code
// writes, without its per-element goroutine, per-object field collection and per-field contexts,
// which were most of a 200-task board's CPU on a cache miss (README, "Go CPU per read on a miss").
//
// The generated list marshaler calls Tasks first (make generate inserts the call: see
// internal/tools/fastlists) and falls back to its own code whenever Tasks declines: a field it
// does not write (a resolver such as comments or project, or one with arguments), a directive
// other than @include/@skip in the query or other than @deprecated in the schema, a deferred
// fragment, a nil task, an assignee the list did not load, or a value that would be an error (a
// zero time in a non-null field). So whatever it writes, gqlgen would have written the same, and
// every error and null is gqlgen's own (TestFastTaskListsMatchGqlgen compares the two).
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
	offKey   struct{} // a context in which Tasks always declines
	countKey struct{} // the *atomic.Int64 that counts the lists Tasks writes
)

// Off returns ctx in which the generated code writes every list itself: tests compare its output
// with this package's.
func Off(ctx context.Context) context.Context { return context.WithValue(ctx, offKey{}, true) }

// Count returns ctx in which every list Tasks writes adds one to n: tests check that it did.
func Count(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, countKey{}, n)
}

// Tasks returns v written as the JSON array gqlgen would write for the selection sel, or false
// when the generated code must write it (see the package doc). taskTypes and memberTypes are the
// generated code's implementors of Task and Member (the types whose fragments apply), so that a
// schema change reaches both.
func Tasks(ctx context.Context, oc *graphql.OperationContext, sel ast.SelectionSet, v []*model.Task,
	taskTypes, memberTypes []string) (graphql.Marshaler, bool) {
	if len(v) == 0 || oc == nil || ctx.Value(offKey{}) != nil {
		return nil, false
	}
	fields := graphql.CollectFields(oc, sel, taskTypes)
	sub := make([][]graphql.CollectedField, len(fields)) // each assignee field's own selection
	for i, f := range fields {
		if !plain(f) {
			return nil, false
		}
		switch f.Name {
		case "assignee":
			sub[i] = graphql.CollectFields(oc, f.Selections, memberTypes)
			for _, m := range sub[i] {
				if !plain(m) || !memberField[m.Name] {
					return nil, false
				}
			}
		default:
			if !taskField[f.Name] {
				return nil, false
			}
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(v) * 32 * len(fields))
	buf.WriteByte('[')
	for i, t := range v {
		if t == nil {
			return nil, false
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		if !writeTask(&buf, fields, sub, t) {
			return nil, false
		}
	}
	buf.WriteByte(']')
	if n, _ := ctx.Value(countKey{}).(*atomic.Int64); n != nil {
		n.Add(1)
	}
	return raw(buf.Bytes()), true
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

// The fields writeTask and writeMember write, each as the generated code marshals it.
var (
	taskField = map[string]bool{"__typename": true, "id": true, "key": true, "number": true, "title": true,
		"description": true, "status": true, "priority": true, "assigneeId": true, "labels": true, "dueDate": true,
		"rank": true, "commentCount": true, "archived": true, "createdAt": true, "updatedAt": true, "version": true}
	memberField = map[string]bool{"__typename": true, "userId": true, "displayName": true, "email": true,
		"role": true, "joinedAt": true}
)

// writeTask writes t's object, sub[i] being the selection of fields[i] when an assignee; false
// when a value would be an error or the assignee is not loaded.
func writeTask(buf *bytes.Buffer, fields []graphql.CollectedField, sub [][]graphql.CollectedField, t *model.Task) bool {
	return writeObject(buf, fields, func(i int, f graphql.CollectedField) graphql.Marshaler {
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
		case "assignee":
			if t.AssigneeID != nil && !t.AssigneeLoaded {
				return nil // its resolver would load it
			}
			if t.LoadedAssignee == nil {
				return graphql.Null
			}
			var b bytes.Buffer
			if !writeMember(&b, sub[i], t.LoadedAssignee) {
				return nil
			}
			return raw(b.Bytes())
		}
		return nil
	})
}

// writeMember writes m's object; false when a value would be an error.
func writeMember(buf *bytes.Buffer, fields []graphql.CollectedField, m *model.Member) bool {
	return writeObject(buf, fields, func(_ int, f graphql.CollectedField) graphql.Marshaler {
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
	})
}

// writeObject writes one object as gqlgen's FieldSet does: the fields in collection order under
// their aliases, an alias written once. value returns field i's value, or nil to decline.
func writeObject(buf *bytes.Buffer, fields []graphql.CollectedField, value func(int, graphql.CollectedField) graphql.Marshaler) bool {
	buf.WriteByte('{')
	written := 0
	for i, f := range fields {
		if aliasBefore(fields[:i], f.Alias) {
			continue
		}
		m := value(i, f)
		if m == nil {
			return false
		}
		if written > 0 {
			buf.WriteByte(',')
		}
		graphql.MarshalString(f.Alias).MarshalGQL(buf)
		buf.WriteByte(':')
		m.MarshalGQL(buf)
		written++
	}
	buf.WriteByte('}')
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
