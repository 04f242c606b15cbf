package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// StatusCategory groups statuses across workflows, so that boards, reports
// and "is it finished?" questions work whatever the status ids are.
type StatusCategory string

const (
	CategoryTodo       StatusCategory = "todo"
	CategoryInProgress StatusCategory = "in_progress"
	CategoryDone       StatusCategory = "done"
	CategoryCancelled  StatusCategory = "cancelled"
)

func (c StatusCategory) Valid() bool {
	switch c {
	case CategoryTodo, CategoryInProgress, CategoryDone, CategoryCancelled:
		return true
	}
	return false
}

// MaxStatuses bounds a workflow's size.
const MaxStatuses = 50

var statusIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

type Status struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Category StatusCategory `json:"category"`
}

// Transition allows a task to move From one status To another.
type Transition struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Workflow is a project's statuses and the moves allowed between them. New
// tasks start in Initial. Workflows are stored whole in project events, so
// changing DefaultWorkflow never changes existing projects.
type Workflow struct {
	Statuses    []Status     `json:"statuses"`
	Transitions []Transition `json:"transitions"`
	Initial     string       `json:"initial"`
}

// DefaultWorkflow is todo → in_progress → in_review → done, with changes
// requested (in_review → in_progress), any → cancelled, and reopening
// (done → todo, cancelled → todo).
func DefaultWorkflow() Workflow {
	return Workflow{
		Statuses: []Status{
			{ID: "todo", Name: "To do", Category: CategoryTodo},
			{ID: "in_progress", Name: "In progress", Category: CategoryInProgress},
			{ID: "in_review", Name: "In review", Category: CategoryInProgress},
			{ID: "done", Name: "Done", Category: CategoryDone},
			{ID: "cancelled", Name: "Cancelled", Category: CategoryCancelled},
		},
		Transitions: []Transition{
			{From: "todo", To: "in_progress"},
			{From: "in_progress", To: "in_review"},
			{From: "in_review", To: "done"},
			{From: "in_review", To: "in_progress"},
			{From: "todo", To: "cancelled"},
			{From: "in_progress", To: "cancelled"},
			{From: "in_review", To: "cancelled"},
			{From: "done", To: "cancelled"},
			{From: "done", To: "todo"},
			{From: "cancelled", To: "todo"},
		},
		Initial: "todo",
	}
}

// Status returns the status with the given id.
func (wf Workflow) Status(id string) (Status, bool) {
	for _, s := range wf.Statuses {
		if s.ID == id {
			return s, true
		}
	}
	return Status{}, false
}

// Allows reports whether a task may move from one status to another.
func (wf Workflow) Allows(from, to string) bool {
	return slices.Contains(wf.Transitions, Transition{From: from, To: to})
}

// Clone returns a deep copy of wf.
func (wf Workflow) Clone() Workflow {
	return Workflow{Statuses: slices.Clone(wf.Statuses), Transitions: slices.Clone(wf.Transitions), Initial: wf.Initial}
}

// Equal reports whether two workflows are identical, order included.
func (wf Workflow) Equal(other Workflow) bool {
	return wf.Initial == other.Initial && slices.Equal(wf.Statuses, other.Statuses) &&
		slices.Equal(wf.Transitions, other.Transitions)
}

// Validate returns INVALID_INPUT unless wf is a well-formed workflow.
func (wf Workflow) Validate() error {
	_, err := cleanWorkflow(wf)
	return err
}

// cleanWorkflow validates wf and returns a copy with trimmed names.
func cleanWorkflow(wf Workflow) (Workflow, error) {
	if len(wf.Statuses) == 0 {
		return Workflow{}, InvalidInput("statuses", "must contain at least one status")
	}
	if len(wf.Statuses) > MaxStatuses {
		return Workflow{}, InvalidInput("statuses", fmt.Sprintf("must contain at most %d statuses", MaxStatuses))
	}
	out := Workflow{Statuses: make([]Status, 0, len(wf.Statuses)), Transitions: make([]Transition, 0, len(wf.Transitions))}
	ids := make(map[string]bool, len(wf.Statuses))
	for i, s := range wf.Statuses {
		field := fmt.Sprintf("statuses[%d]", i)
		if !statusIDPattern.MatchString(s.ID) {
			return Workflow{}, InvalidInput(field+".id", "must be 1 to 32 lower-case letters, digits or underscores, starting with a letter")
		}
		if ids[s.ID] {
			return Workflow{}, InvalidInput(field+".id", "status "+s.ID+" appears twice")
		}
		ids[s.ID] = true
		name, err := cleanLine(field+".name", s.Name, MaxNameLen)
		if err != nil {
			return Workflow{}, err
		}
		if !s.Category.Valid() {
			return Workflow{}, InvalidInput(field+".category", "must be one of todo, in_progress, done, cancelled")
		}
		out.Statuses = append(out.Statuses, Status{ID: s.ID, Name: name, Category: s.Category})
	}
	for i, t := range wf.Transitions {
		field := fmt.Sprintf("transitions[%d]", i)
		switch {
		case !ids[t.From]:
			return Workflow{}, InvalidInput(field+".from", "unknown status "+quote(t.From))
		case !ids[t.To]:
			return Workflow{}, InvalidInput(field+".to", "unknown status "+quote(t.To))
		case t.From == t.To:
			return Workflow{}, InvalidInput(field, "a status cannot transition to itself")
		case slices.Contains(out.Transitions, t):
			return Workflow{}, InvalidInput(field, "transition "+t.From+" → "+t.To+" appears twice")
		}
		out.Transitions = append(out.Transitions, t)
	}
	if !ids[wf.Initial] {
		return Workflow{}, InvalidInput("initial", "must be one of the workflow's statuses")
	}
	out.Initial = wf.Initial
	return out, nil
}

// quote shows user input in a message without letting it break the message.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return fmt.Sprintf("%q", s)
}
