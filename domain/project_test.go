package domain

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestCreateProject(t *testing.T) {
	t.Parallel()
	create := func(a Actor, pid uuid.UUID, name, key string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) {
			wsEvents, projectEvents, err := CreateProject(w.workspace, a, pid, name, key, now)
			if err != nil {
				return nil, err
			}
			if len(wsEvents) != 1 || len(projectEvents) != 1 {
				t.Errorf("want one event per stream, got %d and %d", len(wsEvents), len(projectEvents))
			}
			return evs(wsEvents, projectEvents), nil
		}
	}
	run(t, []scenario{
		{
			name: "member creates a project", given: team(), when: create(member, projectID, " Taskforge ", "TF"),
			then: []Event{
				WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "TF", By: "mia", At: now},
				ProjectCreated{ProjectID: projectID, WorkspaceID: wsID, Key: "TF", Name: "Taskforge", Workflow: DefaultWorkflow(), By: "mia", At: now},
			},
		},
		{name: "viewer is forbidden", given: team(), when: create(viewer, projectID, "Taskforge", "TF"), err: CodeForbidden},
		{name: "non-member is forbidden", given: team(), when: create(stranger, projectID, "Taskforge", "TF"), err: CodeForbidden},
		{name: "key taken", given: evs(team(), WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: otherID, Key: "TF", At: t0}), when: create(member, projectID, "Taskforge", "TF"), err: CodeConflict},
		{name: "invalid key", given: team(), when: create(member, projectID, "Taskforge", "tf"), err: CodeInvalidInput},
		{name: "empty name", given: team(), when: create(member, projectID, " ", "TF"), err: CodeInvalidInput},
		{name: "name too long", given: team(), when: create(member, projectID, strings.Repeat("n", 101), "TF"), err: CodeInvalidInput},
		{name: "nil id", given: team(), when: create(member, uuid.Nil, "Taskforge", "TF"), err: CodeInvalidInput},
	})
}

func TestProjectRenameArchive(t *testing.T) {
	t.Parallel()
	given := evs(team(), projectCreated())
	archived := evs(given, projectArchived())
	rename := func(a Actor, name string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.project.Rename(w.workspace, a, name, now) }
	}
	archive := func(a Actor) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.project.Archive(w.workspace, a, now) }
	}
	unarchive := func(a Actor) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.project.Unarchive(w.workspace, a, now) }
	}
	run(t, []scenario{
		{name: "admin renames", given: given, when: rename(admin, "Forge"), then: []Event{ProjectRenamed{ProjectID: projectID, Name: "Forge", By: "adam", At: now}}},
		{name: "rename to the same name", given: given, when: rename(admin, " Taskforge ")},
		{name: "rename with an empty name", given: given, when: rename(admin, ""), err: CodeInvalidInput},
		{name: "member cannot rename", given: given, when: rename(member, "Forge"), err: CodeForbidden},
		{name: "viewer cannot rename", given: given, when: rename(viewer, "Forge"), err: CodeForbidden},
		{name: "archived project cannot be renamed", given: archived, when: rename(admin, "Forge"), err: CodePreconditionFailed},

		{name: "admin archives", given: given, when: archive(admin), then: []Event{ProjectArchived{ProjectID: projectID, By: "adam", At: now}}},
		{name: "archive twice changes nothing", given: archived, when: archive(owner)},
		{name: "member cannot archive", given: given, when: archive(member), err: CodeForbidden},
		{name: "viewer cannot archive", given: given, when: archive(viewer), err: CodeForbidden},

		{name: "admin unarchives", given: archived, when: unarchive(admin), then: []Event{ProjectUnarchived{ProjectID: projectID, By: "adam", At: now}}},
		{name: "unarchive an active project changes nothing", given: given, when: unarchive(admin)},
		{name: "member cannot unarchive", given: archived, when: unarchive(member), err: CodeForbidden},
		{name: "unarchived project can be renamed", given: evs(archived, ProjectUnarchived{ProjectID: projectID, At: t0}), when: rename(admin, "Forge"), then: []Event{ProjectRenamed{ProjectID: projectID, Name: "Forge", By: "adam", At: now}}},
	})
}

func TestDefineWorkflow(t *testing.T) {
	t.Parallel()
	given := evs(team(), projectCreated())
	define := func(a Actor, wf Workflow) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.project.DefineWorkflow(w.workspace, a, wf, now) }
	}
	kanban := Workflow{
		Statuses: []Status{
			{ID: "backlog", Name: " Backlog ", Category: CategoryTodo},
			{ID: "doing", Name: "Doing", Category: CategoryInProgress},
			{ID: "shipped", Name: "Shipped", Category: CategoryDone},
		},
		Transitions: []Transition{{From: "backlog", To: "doing"}, {From: "doing", To: "shipped"}},
		Initial:     "backlog",
	}
	cleanKanban := kanban.Clone()
	cleanKanban.Statuses[0].Name = "Backlog"
	modify := func(f func(wf *Workflow)) Workflow {
		wf := kanban.Clone()
		f(&wf)
		return wf
	}
	run(t, []scenario{
		{name: "admin defines a workflow", given: given, when: define(admin, kanban), then: []Event{ProjectWorkflowDefined{ProjectID: projectID, Workflow: cleanKanban, By: "adam", At: now}}},
		{name: "a single status without transitions", given: given, when: define(admin, Workflow{Statuses: []Status{{ID: "open", Name: "Open", Category: CategoryTodo}}, Initial: "open"}),
			then: []Event{ProjectWorkflowDefined{ProjectID: projectID, Workflow: Workflow{Statuses: []Status{{ID: "open", Name: "Open", Category: CategoryTodo}}, Transitions: []Transition{}, Initial: "open"}, By: "adam", At: now}}},
		{name: "the same workflow changes nothing", given: given, when: define(admin, DefaultWorkflow())},
		{name: "member is forbidden", given: given, when: define(member, kanban), err: CodeForbidden},
		{name: "viewer is forbidden", given: given, when: define(viewer, kanban), err: CodeForbidden},
		{name: "archived project", given: evs(given, projectArchived()), when: define(admin, kanban), err: CodePreconditionFailed},
		{name: "no status", given: given, when: define(admin, Workflow{Initial: "todo"}), err: CodeInvalidInput},
		{name: "duplicate status", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Statuses[1].ID = "backlog" })), err: CodeInvalidInput},
		{name: "upper-case status id", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Statuses[1].ID = "Doing" })), err: CodeInvalidInput},
		{name: "status id too long", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Statuses[1].ID = "d" + strings.Repeat("o", 32) })), err: CodeInvalidInput},
		{name: "empty status name", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Statuses[1].Name = " " })), err: CodeInvalidInput},
		{name: "unknown category", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Statuses[1].Category = "blocked" })), err: CodeInvalidInput},
		{name: "transition from an unknown status", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Transitions[0].From = "nowhere" })), err: CodeInvalidInput},
		{name: "transition to an unknown status", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Transitions[0].To = "nowhere" })), err: CodeInvalidInput},
		{name: "transition to itself", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Transitions[0].To = "backlog" })), err: CodeInvalidInput},
		{name: "duplicate transition", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Transitions[1] = wf.Transitions[0] })), err: CodeInvalidInput},
		{name: "unknown initial status", given: given, when: define(admin, modify(func(wf *Workflow) { wf.Initial = "todo" })), err: CodeInvalidInput},
	})
}

func TestDefaultWorkflow(t *testing.T) {
	t.Parallel()
	wf := DefaultWorkflow()
	if err := wf.Validate(); err != nil {
		t.Fatal(err)
	}
	if wf.Initial != "todo" {
		t.Fatalf("initial = %s", wf.Initial)
	}
	allowed := map[[2]string]bool{
		{"todo", "in_progress"}: true, {"in_progress", "in_review"}: true, {"in_review", "done"}: true,
		{"in_review", "in_progress"}: true,                              // changes requested
		{"done", "todo"}:             true, {"cancelled", "todo"}: true, // reopen
		{"todo", "cancelled"}: true, {"in_progress", "cancelled"}: true, {"in_review", "cancelled"}: true, {"done", "cancelled"}: true,
	}
	for _, from := range wf.Statuses {
		for _, to := range wf.Statuses {
			if got := wf.Allows(from.ID, to.ID); got != allowed[[2]string{from.ID, to.ID}] {
				t.Errorf("Allows(%s, %s) = %v", from.ID, to.ID, got)
			}
		}
	}
	if s, ok := wf.Status("in_review"); !ok || s.Category != CategoryInProgress {
		t.Fatalf("Status(in_review) = %+v", s)
	}
	c := wf.Clone()
	c.Statuses[0].Name = "changed"
	c.Transitions[0].To = "done"
	if !wf.Equal(DefaultWorkflow()) || wf.Equal(c) {
		t.Fatal("Clone must not share memory with the original")
	}
}

func TestProjectQueries(t *testing.T) {
	t.Parallel()
	kanban := Workflow{Statuses: []Status{{ID: "open", Name: "Open", Category: CategoryTodo}}, Initial: "open"}
	// Reservations on the project stream: a project created before TaskNumbers.
	p, err := LoadProject(evs(projectCreated(), numberReserved(1), numberReserved(2),
		ProjectRenamed{ProjectID: projectID, Name: "Forge", At: t0}, projectArchived(),
		ProjectWorkflowDefined{ProjectID: projectID, Workflow: kanban, At: t0}))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() != projectID || p.WorkspaceID() != wsID || p.Key() != "TF" || p.Name() != "Forge" || !p.Archived() ||
		p.LastTaskNumber() != 2 || p.Version() != 6 || !p.CreatedAt().Equal(t0) || !reflect.DeepEqual(p.Workflow(), kanban) {
		t.Fatalf("unexpected state: %+v", p.state)
	}
	p.Workflow().Statuses[0].ID = "changed"
	if p.Workflow().Statuses[0].ID != "open" {
		t.Fatal("Workflow must return a copy")
	}
	_, err = LoadProject(nil)
	mustCode(t, err, CodeNotFound)
	if _, err := LoadProject([]Event{numberReserved(1)}); err == nil {
		t.Fatal("a stream must start with project.created")
	}
}
