package projections_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
)

// filterWorld is a workspace of varied tasks (two projects, assignees, labels in mixed letter
// case, due dates, priorities, statuses, archived ones) and a second workspace whose tasks no
// filter may ever reach.
type filterWorld struct {
	ws       uuid.UUID
	projects []uuid.UUID
	tasks    []projections.Task // the workspace's, archived included: the truth a filter is checked on
	foreign  uuid.UUID          // a project of the other workspace
}

var (
	filterWords  = []string{"Login", "logout", "billing", "Auth", "authentication", "export", "widget", "Loader", "database", "UI"}
	filterLabels = []string{"Bug", "bug", "UI", "ui", "Backend", "urgent", "Été", "feature"}
)

func newFilterWorld(t *testing.T, f *fixture, rng *rand.Rand, n int) filterWorld {
	t.Helper()
	w0 := f.world(0)
	ctx := f.ctx
	fw := filterWorld{ws: w0.ws, projects: []uuid.UUID{w0.project}}
	p2, err := f.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: member, WorkspaceID: w0.ws, Name: "Ops", Key: "OP"})
	require.NoError(t, err)
	fw.projects = append(fw.projects, p2.ID)
	ows, err := f.h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: owner, Name: "Other"})
	require.NoError(t, err)
	op, err := f.h.CreateProject.Handle(ctx, commands.CreateProject{Actor: owner, WorkspaceID: ows.ID, Name: "Else", Key: "EL"})
	require.NoError(t, err)
	fw.foreign = op.ID
	now := time.Now().UTC().Truncate(time.Second)
	priorities := []domain.Priority{domain.PriorityNone, domain.PriorityLow, domain.PriorityMedium, domain.PriorityHigh, domain.PriorityUrgent}
	var last commands.Result
	for i := range n {
		cmd := commands.CreateTask{Actor: member, ProjectID: fw.projects[rng.IntN(2)], Priority: priorities[rng.IntN(5)],
			Title:       filterWords[rng.IntN(len(filterWords))] + " " + filterWords[rng.IntN(len(filterWords))] + fmt.Sprint(" ", i),
			Description: filterWords[rng.IntN(len(filterWords))]}
		if rng.IntN(3) > 0 {
			d := now.Add(time.Duration(rng.IntN(40)-20) * 24 * time.Hour)
			cmd.DueDate = &d
		}
		for range rng.IntN(3) {
			cmd.Labels = append(cmd.Labels, filterLabels[rng.IntN(len(filterLabels))])
		}
		switch rng.IntN(3) {
		case 0:
			cmd.Assignee = member.UserID
		case 1:
			cmd.Assignee = other.UserID
		}
		res, err := f.h.CreateTask.Handle(ctx, cmd)
		require.NoError(t, err)
		last = res.Result
		switch rng.IntN(6) {
		case 0:
			last, err = f.h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: member, TaskID: res.ID, Status: "in_progress"})
		case 1:
			last, err = f.h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: member, TaskID: res.ID})
		case 2:
			last, err = f.h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: member, TaskID: res.ID, Status: "cancelled"})
		}
		require.NoError(t, err)
	}
	// The other workspace's tasks look like these (same words, labels, people).
	for i := range 10 {
		res, err := f.h.CreateTask.Handle(ctx, commands.CreateTask{Actor: owner, ProjectID: op.ID, Title: filterWords[i%len(filterWords)],
			Labels: []string{filterLabels[i%len(filterLabels)]}, Priority: priorities[i%5]})
		require.NoError(t, err)
		last = res.Result
	}
	f.applied(last.Position)
	all, err := f.q.ListTasks(ctx, fw.ws, projections.TaskFilter{IncludeArchived: true, Limit: projections.MaxPage})
	require.NoError(t, err)
	require.Len(t, all.Tasks, n)
	fw.tasks = all.Tasks
	return fw
}

// priorityRank is projections' priority order, restated.
var priorityRank = map[string]int{"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}

// matches is the Go reading of the grammar's semantics (projections/task_filter.go), the
// reference the SQL is compared with.
func matches(e projections.TaskExpr, t projections.Task) bool {
	for _, c := range e.Conds {
		if !condHolds(c, t) {
			return false
		}
	}
	for _, sub := range e.And {
		if !matches(sub, t) {
			return false
		}
	}
	if len(e.Or) == 0 {
		return true
	}
	for _, sub := range e.Or {
		if matches(sub, t) {
			return true
		}
	}
	return false
}

func condHolds(c projections.TaskCond, t projections.Task) bool {
	if c.Field == projections.FieldLabels {
		return labelsHold(c, t.Labels)
	}
	var v any // the task's value; nil when null
	switch c.Field {
	case projections.FieldID:
		v = t.ID
	case projections.FieldProject:
		v = t.ProjectID
	case projections.FieldStatus:
		v = t.Status
	case projections.FieldTitle:
		v = t.Title
	case projections.FieldAssignee:
		if t.AssigneeID != nil {
			v = *t.AssigneeID
		}
	case projections.FieldPriority:
		v = int64(priorityRank[t.Priority])
	case projections.FieldNumber:
		v = t.Number
	case projections.FieldDueDate:
		if t.DueDate != nil {
			v = *t.DueDate
		}
	case projections.FieldCreatedAt:
		v = t.CreatedAt
	case projections.FieldUpdatedAt:
		v = t.UpdatedAt
	case projections.FieldArchived:
		v = t.Archived
	}
	want := c.Value
	switch x := want.(type) {
	case domain.Priority:
		want = int64(priorityRank[string(x)])
	case []domain.Priority:
		l := make([]any, len(x))
		for i, p := range x {
			l[i] = int64(priorityRank[string(p)])
		}
		want = l
	}
	switch c.Op {
	case projections.OpNull:
		return (v == nil) == c.Value.(bool)
	case projections.OpStartsWith:
		return strings.HasPrefix(t.Title, c.Value.(string))
	case projections.OpContainsIgnoreCase:
		return strings.Contains(strings.ToLower(t.Title), strings.ToLower(c.Value.(string)))
	case projections.OpEq:
		return v != nil && compare(v, want) == 0
	case projections.OpNeq:
		return v == nil || compare(v, want) != 0
	case projections.OpIn, projections.OpNin:
		in := v != nil && slices.ContainsFunc(anySlice(want), func(x any) bool { return compare(v, x) == 0 })
		if c.Op == projections.OpIn {
			return in
		}
		return v == nil || !in
	case projections.OpLt:
		return v != nil && compare(v, want) < 0
	case projections.OpLte:
		return v != nil && compare(v, want) <= 0
	case projections.OpGt:
		return v != nil && compare(v, want) > 0
	case projections.OpGte:
		return v != nil && compare(v, want) >= 0
	}
	panic(fmt.Sprintf("no Go reading of %+v", c))
}

func anySlice(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []int64:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []uuid.UUID:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	panic(fmt.Sprintf("not a list: %T", v))
}

func compare(a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int64:
		return int(x - b.(int64))
	case uuid.UUID:
		return bytes.Compare(x[:], func() []byte { y := b.(uuid.UUID); return y[:] }())
	case time.Time:
		return x.Compare(b.(time.Time))
	case bool:
		if x == b.(bool) {
			return 0
		}
		return 1
	}
	panic(fmt.Sprintf("cannot compare %T", a))
}

func labelsHold(c projections.TaskCond, labels []string) bool {
	if c.Op == projections.OpNull {
		return (len(labels) == 0) == c.Value.(bool)
	}
	var set []string
	switch x := c.Value.(type) {
	case string:
		set = []string{strings.ToLower(x)}
	case []string:
		for _, s := range x {
			set = append(set, strings.ToLower(s))
		}
	}
	one := func(l string) bool {
		in := slices.Contains(set, strings.ToLower(l))
		if c.Op == projections.OpNeq || c.Op == projections.OpNin {
			return !in
		}
		return in
	}
	some := slices.ContainsFunc(labels, one)
	switch c.Quantifier {
	case projections.QuantSome:
		return some
	case projections.QuantNone:
		return !some
	case projections.QuantEvery:
		for _, l := range labels {
			if !one(l) {
				return false
			}
		}
		return true
	}
	panic(c.Quantifier)
}

// randomExpr draws a filter over w's values (and some that match nothing), nested up to depth.
func randomExpr(rng *rand.Rand, w filterWorld, depth int) projections.TaskExpr {
	var e projections.TaskExpr
	pick := func() projections.Task { return w.tasks[rng.IntN(len(w.tasks))] }
	for range 1 + rng.IntN(2) {
		e.Conds = append(e.Conds, randomCond(rng, w, pick))
	}
	if depth > 0 && rng.IntN(2) == 0 {
		for range rng.IntN(3) {
			e.Or = append(e.Or, randomExpr(rng, w, depth-1))
		}
	}
	if depth > 0 && rng.IntN(3) == 0 {
		e.And = append(e.And, randomExpr(rng, w, depth-1))
	}
	return e
}

func randomCond(rng *rand.Rand, w filterWorld, pick func() projections.Task) projections.TaskCond {
	eqOps := []projections.TaskOp{projections.OpEq, projections.OpNeq, projections.OpIn, projections.OpNin}
	allOps := append(slices.Clone(eqOps), projections.OpLt, projections.OpLte, projections.OpGt, projections.OpGte)
	dateOps := []projections.TaskOp{projections.OpEq, projections.OpNeq, projections.OpLt, projections.OpLte, projections.OpGt, projections.OpGte}
	op := func(ops []projections.TaskOp) projections.TaskOp { return ops[rng.IntN(len(ops))] }
	list := func(o projections.TaskOp) bool { return o == projections.OpIn || o == projections.OpNin }
	ids := func(one func() uuid.UUID, o projections.TaskOp) any {
		if !list(o) {
			return one()
		}
		l := []uuid.UUID{}
		for range rng.IntN(3) {
			l = append(l, one())
		}
		return l
	}
	strs := func(one func() string, o projections.TaskOp) any {
		if !list(o) {
			return one()
		}
		l := []string{}
		for range rng.IntN(3) {
			l = append(l, one())
		}
		return l
	}
	people := func() string { return []string{"mia", "max", "olga", "nobody"}[rng.IntN(4)] }
	switch rng.IntN(13) {
	case 0:
		o := op(eqOps)
		return projections.TaskCond{Field: projections.FieldID, Op: o, Value: ids(func() uuid.UUID { return pick().ID }, o)}
	case 1:
		o := op(eqOps)
		return projections.TaskCond{Field: projections.FieldProject, Op: o, Value: ids(func() uuid.UUID {
			return append(slices.Clone(w.projects), w.foreign)[rng.IntN(3)]
		}, o)}
	case 2:
		o := op(eqOps)
		return projections.TaskCond{Field: projections.FieldStatus, Op: o, Value: strs(func() string {
			return []string{"todo", "in_progress", "cancelled", "done"}[rng.IntN(4)]
		}, o)}
	case 3:
		o := op(allOps)
		ps := []domain.Priority{domain.PriorityNone, domain.PriorityLow, domain.PriorityMedium, domain.PriorityHigh, domain.PriorityUrgent}
		if list(o) {
			l := []domain.Priority{}
			for range rng.IntN(3) {
				l = append(l, ps[rng.IntN(5)])
			}
			return projections.TaskCond{Field: projections.FieldPriority, Op: o, Value: l}
		}
		return projections.TaskCond{Field: projections.FieldPriority, Op: o, Value: ps[rng.IntN(5)]}
	case 4:
		if rng.IntN(4) == 0 {
			return projections.TaskCond{Field: projections.FieldAssignee, Op: projections.OpNull, Value: rng.IntN(2) == 0}
		}
		o := op(eqOps)
		return projections.TaskCond{Field: projections.FieldAssignee, Op: o, Value: strs(people, o)}
	case 5:
		if rng.IntN(5) == 0 {
			return projections.TaskCond{Field: projections.FieldLabels, Op: projections.OpNull, Value: rng.IntN(2) == 0}
		}
		o := op(eqOps)
		q := []projections.Quantifier{projections.QuantSome, projections.QuantEvery, projections.QuantNone}[rng.IntN(3)]
		return projections.TaskCond{Field: projections.FieldLabels, Quantifier: q, Op: o, Value: strs(func() string {
			l := filterLabels[rng.IntN(len(filterLabels))]
			if rng.IntN(2) == 0 {
				l = strings.ToUpper(l)
			}
			return l
		}, o)}
	case 6:
		if rng.IntN(4) == 0 {
			return projections.TaskCond{Field: projections.FieldDueDate, Op: projections.OpNull, Value: rng.IntN(2) == 0}
		}
		due := time.Now().UTC().Truncate(time.Microsecond).Add(time.Duration(rng.IntN(40)-20) * 24 * time.Hour)
		if t := pick(); t.DueDate != nil && rng.IntN(2) == 0 {
			due = *t.DueDate
		}
		return projections.TaskCond{Field: projections.FieldDueDate, Op: op(dateOps), Value: due}
	case 7:
		return projections.TaskCond{Field: projections.FieldCreatedAt, Op: op(dateOps), Value: pick().CreatedAt}
	case 8:
		return projections.TaskCond{Field: projections.FieldUpdatedAt, Op: op(dateOps), Value: pick().UpdatedAt}
	case 9:
		o := op(allOps)
		if list(o) {
			l := []int64{}
			for range rng.IntN(4) {
				l = append(l, pick().Number)
			}
			return projections.TaskCond{Field: projections.FieldNumber, Op: o, Value: l}
		}
		return projections.TaskCond{Field: projections.FieldNumber, Op: o, Value: pick().Number}
	case 10:
		word := filterWords[rng.IntN(len(filterWords))]
		switch rng.IntN(3) {
		case 0:
			return projections.TaskCond{Field: projections.FieldTitle, Op: projections.OpStartsWith, Value: word[:1+rng.IntN(len(word))]}
		case 1:
			return projections.TaskCond{Field: projections.FieldTitle, Op: projections.OpContainsIgnoreCase, Value: strings.ToUpper(word[:2])}
		}
		o := op(eqOps)
		return projections.TaskCond{Field: projections.FieldTitle, Op: o, Value: strs(func() string { return pick().Title }, o)}
	case 11:
		return projections.TaskCond{Field: projections.FieldArchived, Op: projections.OpEq, Value: rng.IntN(2) == 0}
	}
	o := op(eqOps)
	return projections.TaskCond{Field: projections.FieldStatus, Op: o, Value: strs(func() string { return "todo" }, o)}
}

// TestTaskFilterAgainstGo: random filters (every field, comparator, quantifier, nested and/or)
// select in SQL exactly the tasks the Go reading of the grammar selects, in order, and page
// forward (first/after) and backward (last/before) through them with full pages, never reaching
// another workspace.
func TestTaskFilterAgainstGo(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	w := newFilterWorld(t, f, rng, 60)
	for i := range 150 {
		expr := randomExpr(rng, w, 2)
		archived := rng.IntN(2) == 0
		order := []string{projections.OrderUpdated, projections.OrderUpdatedAsc}[rng.IntN(2)]
		var want []uuid.UUID
		sorted := slices.Clone(w.tasks)
		sort.SliceStable(sorted, func(a, b int) bool {
			x, y := sorted[a], sorted[b]
			c := x.UpdatedAt.Compare(y.UpdatedAt)
			if c == 0 {
				c = bytes.Compare(x.ID[:], y.ID[:])
			}
			if order == projections.OrderUpdated {
				return c > 0
			}
			return c < 0
		})
		for _, tk := range sorted {
			if (archived || !tk.Archived) && matches(expr, tk) {
				want = append(want, tk.ID)
			}
		}
		limit := 1 + rng.IntN(7)
		filter := projections.TaskFilter{Where: expr, IncludeArchived: archived, Order: order, Limit: limit}
		msg := fmt.Sprintf("filter %d: %+v (archived %v, %s)", i, expr, archived, order)

		var got []uuid.UUID
		for page := (projections.TaskPage{}); ; {
			filter.After = page.Next
			var err error
			page, err = f.q.ListTasks(f.ctx, w.ws, filter)
			require.NoError(t, err, msg)
			for _, tk := range page.Tasks {
				got = append(got, tk.ID)
			}
			if page.Next == "" {
				break
			}
			require.Len(t, page.Tasks, limit, "full pages: %s", msg)
		}
		require.Equal(t, want, got, msg)
		if want == nil {
			want = []uuid.UUID{}
		}

		// Backward from the end, each page in list order, the pages prepended.
		filter.After, filter.Last = "", true
		got = nil
		for page := (projections.TaskPage{}); ; {
			filter.Before = page.Previous
			var err error
			page, err = f.q.ListTasks(f.ctx, w.ws, filter)
			require.NoError(t, err, msg)
			got = append(idsOf(page.Tasks), got...)
			if page.Previous == "" {
				break
			}
			require.Len(t, page.Tasks, limit, "full pages: %s", msg)
		}
		require.Equal(t, want, got, "backward: %s", msg)
	}
}

func idsOf(tasks []projections.Task) []uuid.UUID {
	out := make([]uuid.UUID, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

// TestTaskListBetweenCursors: after and before together bound the list on both sides (Relay's
// slice), first or last of it; the number order and prefix search page both ways too.
func TestTaskListBetweenCursors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(12)
	f.caughtUp()
	ctx := f.ctx
	all, err := f.q.ListTasks(ctx, w.ws, projections.TaskFilter{ProjectID: w.project, Order: projections.OrderNumber})
	require.NoError(t, err)
	require.Len(t, all.Tasks, 12)
	cur := func(i int) string { return all.Cursor(all.Tasks[i]) }
	page, err := f.q.ListTasks(ctx, w.ws, projections.TaskFilter{ProjectID: w.project, Order: projections.OrderNumber,
		After: cur(2), Before: cur(9), Limit: 3})
	require.NoError(t, err)
	require.Equal(t, idsOf(all.Tasks[3:6]), idsOf(page.Tasks))
	require.NotEmpty(t, page.Next)
	page, err = f.q.ListTasks(ctx, w.ws, projections.TaskFilter{ProjectID: w.project, Order: projections.OrderNumber,
		After: cur(2), Before: cur(9), Limit: 3, Last: true})
	require.NoError(t, err)
	require.Equal(t, idsOf(all.Tasks[6:9]), idsOf(page.Tasks))
	require.NotEmpty(t, page.Previous)
	page, err = f.q.ListTasks(ctx, w.ws, projections.TaskFilter{ProjectID: w.project, Order: projections.OrderNumber,
		After: cur(2), Before: cur(9), Limit: 10, Last: true})
	require.NoError(t, err)
	require.Equal(t, idsOf(all.Tasks[3:9]), idsOf(page.Tasks))
	require.Empty(t, page.Previous, "the slice begins after the after cursor")

	// Prefix search: "task num" finds every "Task number N", "nu" and "TAS" too; a key's
	// prefix its tasks (TF-1, TF-10, TF-11, TF-12); punctuation only is no search.
	every := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for text, numbers := range map[string][]int{"task num": every, "nu": every, "TAS": every, "xyz": nil, "---": every,
		"TF-1": {1, 10, 11, 12}, "number 1": {1, 10, 11, 12}} {
		filter := projections.TaskFilter{Search: text, Limit: 3, Last: true}
		if projections.IsSearch(text) {
			filter.Order = projections.OrderRelevance
		}
		var got []uuid.UUID
		for page := (projections.TaskPage{}); ; {
			filter.Before = page.Previous
			page, err = f.q.ListTasks(ctx, w.ws, filter)
			require.NoError(t, err, text)
			got = append(idsOf(page.Tasks), got...)
			if page.Previous == "" {
				break
			}
		}
		var want []uuid.UUID
		for _, n := range numbers {
			want = append(want, all.Tasks[n-1].ID)
		}
		require.ElementsMatch(t, want, got, text)
	}
}
