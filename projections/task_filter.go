package projections

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// TaskExpr is a task filter's condition tree (the API's TaskFilter grammar): a task matches when
// every one of Conds holds, every one of And matches and, when Or is not empty, at least one of Or
// matches. An empty expression matches every task. ListTasks compiles it to one parameterized SQL
// condition, checked before the page's LIMIT; values are always parameters, never SQL text.
type TaskExpr struct {
	Conds []TaskCond
	And   []TaskExpr
	Or    []TaskExpr
}

// TaskField is a filterable column of a task.
type TaskField string

// The filterable fields, with the value types their conditions take.
const (
	FieldID        TaskField = "id"        // uuid.UUID, []uuid.UUID
	FieldProject   TaskField = "project"   // uuid.UUID, []uuid.UUID
	FieldStatus    TaskField = "status"    // string, []string
	FieldPriority  TaskField = "priority"  // domain.Priority, []domain.Priority; ordered none < low < … < urgent
	FieldAssignee  TaskField = "assignee"  // string (user id), []string; nullable (unassigned)
	FieldLabels    TaskField = "labels"    // string, []string, compared ignoring case; Quantifier says how
	FieldDueDate   TaskField = "dueDate"   // time.Time; nullable
	FieldCreatedAt TaskField = "createdAt" // time.Time
	FieldUpdatedAt TaskField = "updatedAt" // time.Time
	FieldNumber    TaskField = "number"    // int64, []int64
	FieldTitle     TaskField = "title"     // string, []string
	FieldArchived  TaskField = "archived"  // bool (OpEq)
)

// TaskOp is a comparison.
type TaskOp string

// The comparisons. On a nullable field, OpNeq and OpNin hold for null (unassigned is "not bob"),
// the others never do; OpNull takes a bool (true: is null). OpIn with an empty list holds for no
// task, OpNin with one for every task. For labels, OpNull means "has no labels".
const (
	OpEq                 TaskOp = "eq"
	OpNeq                TaskOp = "neq"
	OpIn                 TaskOp = "in"
	OpNin                TaskOp = "nin"
	OpLt                 TaskOp = "lt"
	OpLte                TaskOp = "lte"
	OpGt                 TaskOp = "gt"
	OpGte                TaskOp = "gte"
	OpNull               TaskOp = "null"
	OpStartsWith         TaskOp = "startsWith"         // title: case-sensitive prefix
	OpContainsIgnoreCase TaskOp = "containsIgnoreCase" // title: substring, letter case ignored
)

// Quantifier says which of a task's labels a label condition is about.
type Quantifier string

// The label quantifiers: some label satisfies the comparison, every label does (true of a task
// without labels), no label does.
const (
	QuantSome  Quantifier = "some"
	QuantEvery Quantifier = "every"
	QuantNone  Quantifier = "none"
)

// TaskCond is one comparison of one field with a value (see the fields for the value types).
type TaskCond struct {
	Field TaskField
	Op    TaskOp
	// Quantifier is for FieldLabels (but OpNull): which labels must satisfy Op.
	Quantifier Quantifier
	Value      any
}

// taskColumns are the fields' columns in rm_tasks.
var taskColumns = map[TaskField]string{
	FieldID: "id", FieldProject: "project_id", FieldStatus: "status", FieldPriority: "priority_order", FieldAssignee: "assignee_id",
	FieldDueDate: "due_date", FieldCreatedAt: "created_at", FieldUpdatedAt: "updated_at", FieldNumber: "number",
	FieldTitle: "title", FieldArchived: "archived",
}

// labelsCI is the lower-cased copy of a labels array (the labels_ci column, and label filter
// values): PostgreSQL's lower, the same in the live statements, the bulk rebuild and the queries.
func labelsCI(array string) string { return "ARRAY(SELECT lower(l) FROM unnest(" + array + ") AS l)" }

// sqlArgs collects a statement's parameters.
type sqlArgs struct{ values []any }

// add appends v and returns its placeholder.
func (a *sqlArgs) add(v any) string {
	a.values = append(a.values, v)
	return "$" + strconv.Itoa(len(a.values))
}

// sql compiles e into a condition over rm_tasks' columns, "" when it has none.
func (e TaskExpr) sql(a *sqlArgs) (string, error) {
	var and []string
	for _, c := range e.Conds {
		s, err := c.sql(a)
		if err != nil {
			return "", err
		}
		and = append(and, s)
	}
	for _, sub := range e.And {
		s, err := sub.sql(a)
		if err != nil {
			return "", err
		}
		if s != "" {
			and = append(and, s)
		}
	}
	if len(e.Or) > 0 {
		var or []string
		for _, sub := range e.Or {
			s, err := sub.sql(a)
			if err != nil {
				return "", err
			}
			if s == "" { // a branch without conditions: the whole or holds
				or = nil
				break
			}
			or = append(or, s)
		}
		if len(or) > 0 {
			and = append(and, "("+strings.Join(or, " OR ")+")")
		}
	}
	if len(and) == 0 {
		return "", nil
	}
	return "(" + strings.Join(and, " AND ") + ")", nil
}

func (c TaskCond) sql(a *sqlArgs) (string, error) {
	bad := func() (string, error) {
		return "", fmt.Errorf("projections: filter %s %s %s: unsupported value %T", c.Field, c.Quantifier, c.Op, c.Value)
	}
	if c.Field == FieldLabels {
		return c.labelsSQL(a)
	}
	col, ok := taskColumns[c.Field]
	if !ok {
		return bad()
	}
	nullable := c.Field == FieldAssignee || c.Field == FieldDueDate
	switch c.Op {
	case OpNull:
		isNull, ok := c.Value.(bool)
		if !ok || !nullable {
			return bad()
		}
		if isNull {
			return col + " IS NULL", nil
		}
		return col + " IS NOT NULL", nil
	case OpStartsWith:
		prefix, ok := c.Value.(string)
		if !ok || c.Field != FieldTitle {
			return bad()
		}
		// A byte-wise range (C collation: UTF-8 byte order is code point order) that
		// rm_tasks_vN_title_idx serves with a parameter, which LIKE 'p%' cannot in a generic plan.
		if prefix == "" {
			return "true", nil
		}
		s := `title COLLATE "C" >= ` + a.add(prefix)
		if hi, ok := prefixEnd(prefix); ok {
			s += ` AND title COLLATE "C" < ` + a.add(hi)
		}
		return "(" + s + ")", nil
	case OpContainsIgnoreCase:
		sub, ok := c.Value.(string)
		if !ok || c.Field != FieldTitle {
			return bad()
		}
		return `title ILIKE ` + a.add("%"+likeEscape(sub)+"%"), nil
	}
	v, ok := c.value()
	if !ok {
		return bad()
	}
	switch c.Op {
	case OpEq:
		return col + " = " + a.add(v), nil
	case OpNeq:
		if nullable {
			return col + " IS DISTINCT FROM " + a.add(v), nil
		}
		return col + " <> " + a.add(v), nil
	case OpIn:
		return col + " = ANY (" + a.add(v) + ")", nil
	case OpNin:
		if nullable {
			return "(" + col + " IS NULL OR " + col + " <> ALL (" + a.add(v) + "))", nil
		}
		return col + " <> ALL (" + a.add(v) + ")", nil
	case OpLt:
		return col + " < " + a.add(v), nil
	case OpLte:
		return col + " <= " + a.add(v), nil
	case OpGt:
		return col + " > " + a.add(v), nil
	case OpGte:
		return col + " >= " + a.add(v), nil
	}
	return bad()
}

// value is c's value as its column's parameter, if c's field and op take it.
func (c TaskCond) value() (any, bool) {
	list := c.Op == OpIn || c.Op == OpNin
	ordered := c.Op == OpLt || c.Op == OpLte || c.Op == OpGt || c.Op == OpGte
	switch c.Field {
	case FieldID, FieldProject:
		if list {
			v, ok := c.Value.([]uuid.UUID)
			return v, ok
		}
		v, ok := c.Value.(uuid.UUID)
		return v, ok && !ordered
	case FieldStatus, FieldAssignee, FieldTitle:
		if list {
			v, ok := c.Value.([]string)
			return v, ok
		}
		v, ok := c.Value.(string)
		return v, ok && !ordered
	case FieldPriority: // compared by rank (priority_order), which reads a missing priority as none
		if list {
			ps, ok := c.Value.([]domain.Priority)
			out := make([]int16, len(ps))
			for i, p := range ps {
				out[i] = priorityOrder(p)
			}
			return out, ok
		}
		p, ok := c.Value.(domain.Priority)
		return priorityOrder(p), ok
	case FieldNumber:
		if list {
			v, ok := c.Value.([]int64)
			return v, ok
		}
		v, ok := c.Value.(int64)
		return v, ok
	case FieldDueDate, FieldCreatedAt, FieldUpdatedAt:
		v, ok := c.Value.(time.Time)
		return v, ok && !list
	case FieldArchived:
		v, ok := c.Value.(bool)
		return v, ok && c.Op == OpEq
	}
	return nil, false
}

// labelsSQL compiles a label condition to array operators on labels_ci, which
// rm_tasks_vN_labels_idx (GIN) serves: @> (contains), && (overlaps), <@ (contained in).
func (c TaskCond) labelsSQL(a *sqlArgs) (string, error) {
	bad := func() (string, error) {
		return "", fmt.Errorf("projections: filter labels %s %s: unsupported value %T", c.Quantifier, c.Op, c.Value)
	}
	if c.Op == OpNull {
		none, ok := c.Value.(bool)
		if !ok {
			return bad()
		}
		if none {
			return "labels_ci = '{}'", nil
		}
		return "labels_ci <> '{}'", nil
	}
	var set string
	switch c.Op {
	case OpEq, OpNeq:
		v, ok := c.Value.(string)
		if !ok {
			return bad()
		}
		set = "ARRAY[lower(" + a.add(v) + "::text)]"
	case OpIn, OpNin:
		v, ok := c.Value.([]string)
		if !ok {
			return bad()
		}
		set = labelsCI(a.add(v) + "::text[]")
	default:
		return bad()
	}
	// some: a label equal to (in) the set; some neq/nin: a label outside it.
	some := map[TaskOp]string{
		OpEq: "labels_ci @> " + set, OpIn: "labels_ci && " + set,
		OpNeq: "NOT (labels_ci <@ " + set + ")", OpNin: "NOT (labels_ci <@ " + set + ")",
	}[c.Op]
	switch c.Quantifier {
	case QuantSome:
		return some, nil
	case QuantNone:
		return "NOT (" + some + ")", nil
	case QuantEvery: // every label satisfies op: no label satisfies its negation
		return map[TaskOp]string{
			OpEq: "labels_ci <@ " + set, OpIn: "labels_ci <@ " + set,
			OpNeq: "NOT (labels_ci @> " + set + ")", OpNin: "NOT (labels_ci && " + set + ")",
		}[c.Op], nil
	}
	return bad()
}

// prefixEnd is the least string above every string that starts with prefix (byte-wise): prefix
// with its last code point raised by one (past the surrogates, which UTF-8 never holds); false
// when every code point of prefix is the greatest.
func prefixEnd(prefix string) (string, bool) {
	for s := prefix; s != ""; {
		r, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
		if r == utf8.RuneError && size <= 1 || r >= unicode.MaxRune {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF {
			r = 0xE000
		}
		return s + string(r), true
	}
	return "", false
}

// likeEscape escapes LIKE's wildcards and its escape character in s.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// prefixTSQuery is the tsquery of a search text's prefixes in configuration cfg: the text's own
// lexemes, from the parser and dictionaries that made the indexed column (so "TF-12" is 'tf' and
// '-12', "authentication" the English stem 'authent'), each a prefix, all required: "auth lo"
// is 'auth':* & 'lo':*, which "login authentication" matches. NULL when the text has no lexeme
// (English stop words only), which matches nothing. The lexemes are quoted for tsquery input
// (backslash and quote escaped); the text is the parameter p, never SQL.
func prefixTSQuery(cfg, p string) string {
	return `(SELECT string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '\''') || ''':*', ' & ')
		FROM unnest(to_tsvector('` + cfg + `', ` + p + `::text)))::tsquery`
}

// IsSearch reports whether search has a word to search for (TaskFilter.Search): a text of
// punctuation only searches for nothing and filters nothing.
func IsSearch(search string) bool {
	return strings.IndexFunc(search, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}
