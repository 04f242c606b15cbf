package graph

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// Bounds of a task filter (TaskFilter): how deep and/or nest, how many conditions it holds in
// all (each comparison, each and/or entry), how long an in/nin list and a value may be. They keep
// the SQL statement a filter compiles to small; a violation is INVALID_INPUT naming its path.
const (
	maxFilterDepth = 4
	maxFilterConds = 50
	maxFilterList  = 100
	maxFilterText  = domain.MaxUserIDLen // the longest value a field holds (titles 200, labels 50)
	maxSearchText  = 200
)

// taskFilter is a TaskFilter read into the read side's terms: its condition tree, and what only
// its top level may say.
type taskFilter struct {
	where    projections.TaskExpr
	search   string
	project  uuid.UUID // the top level's project.eq (or projectId): what orderBy NUMBER needs
	archived bool      // includeArchived, or a condition on archived somewhere
	conds    int
	now      time.Time // relative dates count from it
}

// readTaskFilter checks f against the grammar's bounds and compiles it; nil is no filter.
func readTaskFilter(f *model.TaskFilter, now time.Time) (*taskFilter, error) {
	tf := &taskFilter{now: now}
	if f == nil {
		return tf, nil
	}
	if f.Search != nil {
		if utf8.RuneCountInString(*f.Search) > maxSearchText {
			return nil, domain.InvalidInput("filter.search", fmt.Sprintf("must be at most %d characters", maxSearchText))
		}
		tf.search = *f.Search
	}
	tf.archived = f.IncludeArchived != nil && *f.IncludeArchived
	where, err := tf.expr("filter", f, 0)
	if err != nil {
		return nil, err
	}
	tf.where = where
	for _, c := range where.Conds {
		if id, ok := c.Value.(uuid.UUID); ok && c.Field == projections.FieldProject && c.Op == projections.OpEq {
			tf.project = id
		}
	}
	return tf, nil
}

// condSink collects one filter object's conditions.
type condSink struct {
	tf   *taskFilter
	expr *projections.TaskExpr
}

func (s condSink) add(path string, field projections.TaskField, q projections.Quantifier, op projections.TaskOp, v any) error {
	s.tf.conds++
	if s.tf.conds > maxFilterConds {
		return domain.InvalidInput(path, fmt.Sprintf("the filter has more than %d conditions", maxFilterConds))
	}
	if field == projections.FieldArchived {
		s.tf.archived = true
	}
	s.expr.Conds = append(s.expr.Conds, projections.TaskCond{Field: field, Op: op, Quantifier: q, Value: v})
	return nil
}

func (tf *taskFilter) expr(path string, f *model.TaskFilter, depth int) (projections.TaskExpr, error) {
	var e projections.TaskExpr
	s := condSink{tf: tf, expr: &e}
	if depth > 0 {
		if f.Search != nil {
			return e, domain.InvalidInput(path+".search", "only at the top level of the filter")
		}
		if f.IncludeArchived != nil {
			return e, domain.InvalidInput(path+".includeArchived", "only at the top level of the filter")
		}
	}
	for _, sub := range []struct {
		name string
		list []*model.TaskFilter
		out  *[]projections.TaskExpr
	}{{"and", f.And, &e.And}, {"or", f.Or, &e.Or}} {
		if sub.list == nil {
			continue
		}
		p := path + "." + sub.name
		if depth+1 > maxFilterDepth {
			return e, domain.InvalidInput(p, fmt.Sprintf("and/or nest at most %d deep", maxFilterDepth))
		}
		for i, child := range sub.list {
			cp := fmt.Sprintf("%s[%d]", p, i)
			tf.conds++
			if tf.conds > maxFilterConds {
				return e, domain.InvalidInput(cp, fmt.Sprintf("the filter has more than %d conditions", maxFilterConds))
			}
			if child == nil {
				continue
			}
			ce, err := tf.expr(cp, child, depth+1)
			if err != nil {
				return e, err
			}
			*sub.out = append(*sub.out, ce)
		}
	}
	var err error
	add := func(e2 error) {
		if err == nil {
			err = e2
		}
	}
	if c := f.ID; c != nil {
		add(idComparator(s, path+".id", projections.FieldID, c.Eq, c.Neq, c.In, c.Nin))
	}
	if c := f.Project; c != nil {
		add(idComparator(s, path+".project", projections.FieldProject, c.Eq, c.Neq, c.In, c.Nin))
	}
	// The deprecated shorthands: an eq each, named by their own path.
	shorthand := func(name string, v *string, field projections.TaskField, q projections.Quantifier, conv func(string, string) (any, error)) {
		if v == nil || *v == "" {
			return
		}
		x, e2 := conv(path+"."+name, *v)
		if e2 == nil {
			e2 = s.add(path+"."+name, field, q, projections.OpEq, x)
		}
		add(e2)
	}
	text := func(p, v string) (any, error) { return v, checkText(p, v) }
	shorthand("projectId", f.ProjectID, projections.FieldProject, "", func(p, v string) (any, error) { return parseID(p, v) })
	if c := f.Status; c != nil {
		add(stringComparator(s, path+".status", projections.FieldStatus, "", c.Eq, c.Neq, c.In, c.Nin))
	}
	if c := f.Priority; c != nil {
		add(priorityComparator(s, path+".priority", c))
	}
	if c := f.Assignee; c != nil {
		add(stringComparator(s, path+".assignee", projections.FieldAssignee, "", c.Eq, c.Neq, c.In, c.Nin))
		add(nullComparator(s, path+".assignee.null", projections.FieldAssignee, c.Null))
	}
	shorthand("assigneeId", f.AssigneeID, projections.FieldAssignee, "", text)
	if c := f.Labels; c != nil {
		for _, q := range []struct {
			name string
			q    projections.Quantifier
			c    *model.StringComparator
		}{{"some", projections.QuantSome, c.Some}, {"every", projections.QuantEvery, c.Every}, {"none", projections.QuantNone, c.None}} {
			if q.c != nil {
				add(stringComparator(s, path+".labels."+q.name, projections.FieldLabels, q.q, q.c.Eq, q.c.Neq, q.c.In, q.c.Nin))
			}
		}
		add(nullComparator(s, path+".labels.empty", projections.FieldLabels, c.Empty))
	}
	shorthand("label", f.Label, projections.FieldLabels, projections.QuantSome, text)
	if c := f.DueDate; c != nil {
		add(tf.dateComparator(s, path+".dueDate", projections.FieldDueDate, &model.DateComparator{Eq: c.Eq, Neq: c.Neq, Lt: c.Lt, Lte: c.Lte, Gt: c.Gt, Gte: c.Gte}))
		add(nullComparator(s, path+".dueDate.null", projections.FieldDueDate, c.Null))
	}
	if f.DueBefore != nil {
		add(s.add(path+".dueBefore", projections.FieldDueDate, "", projections.OpLt, *f.DueBefore))
	}
	if c := f.CreatedAt; c != nil {
		add(tf.dateComparator(s, path+".createdAt", projections.FieldCreatedAt, c))
	}
	if c := f.UpdatedAt; c != nil {
		add(tf.dateComparator(s, path+".updatedAt", projections.FieldUpdatedAt, c))
	}
	if c := f.Number; c != nil {
		add(numberComparator(s, path+".number", c))
	}
	if c := f.Title; c != nil {
		p := path + ".title"
		add(stringComparator(s, p, projections.FieldTitle, "", c.Eq, c.Neq, c.In, c.Nin))
		for _, o := range []struct {
			op projections.TaskOp
			v  *string
		}{{projections.OpStartsWith, c.StartsWith}, {projections.OpContainsIgnoreCase, c.ContainsIgnoreCase}} {
			if o.v != nil {
				op := p + "." + string(o.op)
				if e2 := checkText(op, *o.v); e2 != nil {
					add(e2)
				} else {
					add(s.add(op, projections.FieldTitle, "", o.op, *o.v))
				}
			}
		}
	}
	if c := f.Archived; c != nil {
		if c.Eq != nil {
			add(s.add(path+".archived.eq", projections.FieldArchived, "", projections.OpEq, *c.Eq))
		}
		if c.Neq != nil {
			add(s.add(path+".archived.neq", projections.FieldArchived, "", projections.OpEq, !*c.Neq))
		}
	}
	return e, err
}

func checkText(path, s string) error {
	if utf8.RuneCountInString(s) > maxFilterText {
		return domain.InvalidInput(path, fmt.Sprintf("must be at most %d characters", maxFilterText))
	}
	return nil
}

func checkList[T any](path string, l []T) error {
	if len(l) > maxFilterList {
		return domain.InvalidInput(path, fmt.Sprintf("must list at most %d values", maxFilterList))
	}
	return nil
}

// comparisons adds eq, neq, in and nin of values read by conv.
func comparisons[T, V any](s condSink, path string, field projections.TaskField, q projections.Quantifier,
	eq, neq *T, in, nin []T, conv func(path string, v T) (V, error)) error {
	for _, c := range []struct {
		op projections.TaskOp
		v  *T
	}{{projections.OpEq, eq}, {projections.OpNeq, neq}} {
		if c.v == nil {
			continue
		}
		p := path + "." + string(c.op)
		v, err := conv(p, *c.v)
		if err != nil {
			return err
		}
		if err := s.add(p, field, q, c.op, v); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		op projections.TaskOp
		l  []T
	}{{projections.OpIn, in}, {projections.OpNin, nin}} {
		if c.l == nil {
			continue
		}
		p := path + "." + string(c.op)
		if err := checkList(p, c.l); err != nil {
			return err
		}
		vs := make([]V, len(c.l))
		for i, x := range c.l {
			v, err := conv(fmt.Sprintf("%s[%d]", p, i), x)
			if err != nil {
				return err
			}
			vs[i] = v
		}
		if err := s.add(p, field, q, c.op, vs); err != nil {
			return err
		}
	}
	return nil
}

func idComparator(s condSink, path string, field projections.TaskField, eq, neq *string, in, nin []string) error {
	return comparisons(s, path, field, "", eq, neq, in, nin, parseID)
}

func stringComparator(s condSink, path string, field projections.TaskField, q projections.Quantifier, eq, neq *string, in, nin []string) error {
	return comparisons(s, path, field, q, eq, neq, in, nin, func(p, v string) (string, error) { return v, checkText(p, v) })
}

func nullComparator(s condSink, path string, field projections.TaskField, isNull *bool) error {
	if isNull == nil {
		return nil
	}
	return s.add(path, field, "", projections.OpNull, *isNull)
}

func priorityComparator(s condSink, path string, c *model.PriorityComparator) error {
	conv := func(p string, v model.Priority) (domain.Priority, error) {
		pr, err := domain.ParsePriority(string(v))
		if err != nil {
			return "", domain.InvalidInput(p, "not a priority")
		}
		return pr, nil
	}
	if err := comparisons(s, path, projections.FieldPriority, "", c.Eq, c.Neq, c.In, c.Nin, conv); err != nil {
		return err
	}
	return ordered(s, path, projections.FieldPriority, c.Lt, c.Lte, c.Gt, c.Gte, conv)
}

func numberComparator(s condSink, path string, c *model.NumberComparator) error {
	conv := func(_ string, v int) (int64, error) { return int64(v), nil }
	if err := comparisons(s, path, projections.FieldNumber, "", c.Eq, c.Neq, c.In, c.Nin, conv); err != nil {
		return err
	}
	return ordered(s, path, projections.FieldNumber, c.Lt, c.Lte, c.Gt, c.Gte, conv)
}

func (tf *taskFilter) dateComparator(s condSink, path string, field projections.TaskField, c *model.DateComparator) error {
	conv := func(p string, v model.DateTimeOrDuration) (time.Time, error) {
		t, err := v.At(tf.now)
		var de *domain.Error
		if errors.As(err, &de) {
			return t, domain.InvalidInput(p, de.Message)
		}
		return t, err
	}
	if err := comparisons(s, path, field, "", c.Eq, c.Neq, nil, nil, conv); err != nil {
		return err
	}
	return ordered(s, path, field, c.Lt, c.Lte, c.Gt, c.Gte, conv)
}

// ordered adds lt, lte, gt and gte of values read by conv.
func ordered[T, V any](s condSink, path string, field projections.TaskField, lt, lte, gt, gte *T, conv func(string, T) (V, error)) error {
	for _, c := range []struct {
		op projections.TaskOp
		v  *T
	}{{projections.OpLt, lt}, {projections.OpLte, lte}, {projections.OpGt, gt}, {projections.OpGte, gte}} {
		if c.v == nil {
			continue
		}
		p := path + "." + string(c.op)
		v, err := conv(p, *c.v)
		if err != nil {
			return err
		}
		if err := s.add(p, field, "", c.op, v); err != nil {
			return err
		}
	}
	return nil
}
