package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestCreateTask(t *testing.T) {
	t.Parallel()
	create := func(a Actor, tid uuid.UUID, in NewTask) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) {
			numberEvents, taskEvents, err := CreateTask(w.workspace, w.project, w.numbers, a, tid, in, now)
			if err != nil {
				return nil, err
			}
			if len(numberEvents) != 1 || len(taskEvents) != 1 {
				t.Errorf("want one event per stream, got %d and %d", len(numberEvents), len(taskEvents))
			}
			return evs(numberEvents, taskEvents), nil
		}
	}
	given := evs(team(), projectCreated())
	paris := time.FixedZone("Paris", 3600)
	due := time.Date(2025, 4, 1, 18, 0, 0, 0, paris)
	dueUTC := time.Date(2025, 4, 1, 17, 0, 0, 0, time.UTC)
	reserved := func(n int64) ProjectTaskNumberReserved {
		return ProjectTaskNumberReserved{ProjectID: projectID, TaskID: taskID, Number: n, By: "mia", At: now}
	}
	minimal := func(n int64, key string) TaskCreated {
		return TaskCreated{
			TaskID: taskID, ProjectID: projectID, WorkspaceID: wsID, Number: n, Key: key, Title: "Ship it",
			Priority: PriorityNone, Labels: []string{}, Status: "todo", Rank: rankForNumber(n), By: "mia", At: now,
		}
	}
	run(t, []scenario{
		{
			name: "every field", given: given,
			when: create(member, taskID, NewTask{
				Title: "  Ship it ", Description: "Line one\n\tLine two", Priority: PriorityUrgent, DueDate: &due,
				Labels: []string{" backend", "Bug", "api", "bug", "Backend "}, Assignee: "max",
			}),
			then: []Event{reserved(1), TaskCreated{
				TaskID: taskID, ProjectID: projectID, WorkspaceID: wsID, Number: 1, Key: "TF-1", Title: "Ship it",
				Description: "Line one\n\tLine two", Priority: PriorityUrgent, DueDate: &dueUTC,
				Labels: []string{"api", "backend", "Bug"}, Assignee: "max", Status: "todo", Rank: rankForNumber(1), By: "mia", At: now,
			}},
		},
		{name: "only a title", given: given, when: create(member, taskID, NewTask{Title: "Ship it"}), then: []Event{reserved(1), minimal(1, "TF-1")}},
		{name: "numbers are dense", given: evs(given, numberReserved(1), numberReserved(2), numberReserved(41)), when: create(member, taskID, NewTask{Title: "Ship it"}), then: []Event{reserved(42), minimal(42, "TF-42")}},
		{name: "numbers continue after those on the project stream", given: evs(given, legacyReserved(1), legacyReserved(2)), when: create(member, taskID, NewTask{Title: "Ship it"}), then: []Event{reserved(3), minimal(3, "TF-3")}},
		{
			name: "initial status of a custom workflow", given: evs(given, ProjectWorkflowDefined{ProjectID: projectID, Workflow: Workflow{Statuses: []Status{{ID: "open", Name: "Open", Category: CategoryTodo}}, Initial: "open"}, At: t0}),
			when: create(member, taskID, NewTask{Title: "Ship it"}),
			then: []Event{reserved(1), func() TaskCreated { e := minimal(1, "TF-1"); e.Status = "open"; return e }()},
		},
		{name: "admin may assign themselves", given: given, when: create(admin, taskID, NewTask{Title: "Ship it", Assignee: "adam"}),
			then: []Event{ProjectTaskNumberReserved{ProjectID: projectID, TaskID: taskID, Number: 1, By: "adam", At: now},
				func() TaskCreated { e := minimal(1, "TF-1"); e.Assignee, e.By = "adam", "adam"; return e }()}},
		{name: "a 200-character title", given: given, when: create(member, taskID, NewTask{Title: strings.Repeat("ü", 200)}),
			then: []Event{reserved(1), func() TaskCreated { e := minimal(1, "TF-1"); e.Title = strings.Repeat("ü", 200); return e }()}},
		{name: "a 64 KiB description", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Description: strings.Repeat("d", 64*1024)}),
			then: []Event{reserved(1), func() TaskCreated { e := minimal(1, "TF-1"); e.Description = strings.Repeat("d", 64*1024); return e }()}},
		{name: "twenty distinct labels after deduplication", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Labels: append(labels(20), labels(5)...)}),
			then: []Event{reserved(1), func() TaskCreated { e := minimal(1, "TF-1"); e.Labels = labels(20); return e }()}},

		{name: "viewer is forbidden", given: given, when: create(viewer, taskID, NewTask{Title: "Ship it"}), err: CodeForbidden},
		{name: "non-member is forbidden", given: given, when: create(stranger, taskID, NewTask{Title: "Ship it"}), err: CodeForbidden},
		{name: "archived project", given: evs(given, projectArchived()), when: create(member, taskID, NewTask{Title: "Ship it"}), err: CodePreconditionFailed},
		{name: "nil task id", given: given, when: create(member, uuid.Nil, NewTask{Title: "Ship it"}), err: CodeInvalidInput},
		{name: "blank title", given: given, when: create(member, taskID, NewTask{Title: " \t "}), err: CodeInvalidInput},
		{name: "title too long", given: given, when: create(member, taskID, NewTask{Title: strings.Repeat("t", 201)}), err: CodeInvalidInput},
		{name: "title with a line break", given: given, when: create(member, taskID, NewTask{Title: "Ship\nit"}), err: CodeInvalidInput},
		{name: "title with invalid UTF-8", given: given, when: create(member, taskID, NewTask{Title: "Ship \xff"}), err: CodeInvalidInput},
		{name: "description too long", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Description: strings.Repeat("d", 64*1024+1)}), err: CodeInvalidInput},
		{name: "description with a NUL byte", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Description: "a\x00b"}), err: CodeInvalidInput},
		{name: "unknown priority", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Priority: "asap"}), err: CodeInvalidInput},
		{name: "due date beyond year 9999", given: given, when: create(member, taskID, NewTask{Title: "Ship it", DueDate: ptr(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}), err: CodeInvalidInput},
		{name: "due date before 1970", given: given, when: create(member, taskID, NewTask{Title: "Ship it", DueDate: ptr(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC))}), err: CodeInvalidInput},
		{name: "21 labels", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Labels: labels(21)}), err: CodeInvalidInput},
		{name: "empty label", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Labels: []string{"ok", " "}}), err: CodeInvalidInput},
		{name: "label too long", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Labels: []string{strings.Repeat("l", 51)}}), err: CodeInvalidInput},
		{name: "assignee is not a member", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Assignee: "sam"}), err: CodeInvalidInput},
		{name: "assignee is a viewer", given: given, when: create(member, taskID, NewTask{Title: "Ship it", Assignee: "vic"}), err: CodeInvalidInput},
	})
}

// labels returns n distinct labels.
func labels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	return out
}

func TestEditTask(t *testing.T) {
	t.Parallel()
	edit := func(a Actor, ch TaskChanges) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.Edit(w.workspace, w.project, a, ch, now) }
	}
	due := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	withDue := board(TaskDueDateChanged{TaskID: taskID, ProjectID: projectID, DueDate: &due, At: t0})
	run(t, []scenario{
		{name: "title only", given: board(), when: edit(member, TaskChanges{Title: ptr(" Write it "), Description: ptr("Pure Go."), Priority: ptr(PriorityMedium)}),
			then: []Event{TaskTitleChanged{TaskID: taskID, ProjectID: projectID, Title: "Write it", By: "mia", At: now}}},
		{name: "every field", given: board(), when: edit(admin, TaskChanges{Title: ptr("Write it"), Description: ptr(""), Priority: ptr(PriorityLow), DueDate: &due, Labels: &[]string{"api", "backend"}}),
			then: []Event{
				TaskTitleChanged{TaskID: taskID, ProjectID: projectID, Title: "Write it", By: "adam", At: now},
				TaskDescriptionChanged{TaskID: taskID, ProjectID: projectID, Description: "", By: "adam", At: now},
				TaskPriorityChanged{TaskID: taskID, ProjectID: projectID, Priority: PriorityLow, By: "adam", At: now},
				TaskDueDateChanged{TaskID: taskID, ProjectID: projectID, DueDate: &due, By: "adam", At: now},
				TaskLabelsChanged{TaskID: taskID, ProjectID: projectID, Labels: []string{"api", "backend"}, By: "adam", At: now},
			}},
		{name: "nothing given", given: board(), when: edit(member, TaskChanges{})},
		{name: "a label's new spelling is a change, an equal due date is not", given: withDue, when: edit(member, TaskChanges{Title: ptr("Write the domain"), Labels: &[]string{"Backend", "backend"}, DueDate: ptr(due.In(time.FixedZone("x", 7200)))}),
			then: []Event{TaskLabelsChanged{TaskID: taskID, ProjectID: projectID, Labels: []string{"Backend"}, By: "mia", At: now}}},
		{name: "same values, exactly", given: withDue, when: edit(member, TaskChanges{Title: ptr("Write the domain"), Labels: &[]string{"backend"}, DueDate: &due, Priority: ptr(PriorityMedium)})},
		{name: "clear the due date", given: withDue, when: edit(member, TaskChanges{ClearDueDate: true}),
			then: []Event{TaskDueDateChanged{TaskID: taskID, ProjectID: projectID, DueDate: nil, By: "mia", At: now}}},
		{name: "clear a missing due date", given: board(), when: edit(member, TaskChanges{ClearDueDate: true})},
		{name: "clear the labels", given: board(), when: edit(member, TaskChanges{Labels: &[]string{}}),
			then: []Event{TaskLabelsChanged{TaskID: taskID, ProjectID: projectID, Labels: []string{}, By: "mia", At: now}}},
		{name: "set and clear the due date", given: board(), when: edit(member, TaskChanges{DueDate: &due, ClearDueDate: true}), err: CodeInvalidInput},
		{name: "blank title", given: board(), when: edit(member, TaskChanges{Title: ptr(" ")}), err: CodeInvalidInput},
		{name: "title too long", given: board(), when: edit(member, TaskChanges{Title: ptr(strings.Repeat("t", 201))}), err: CodeInvalidInput},
		{name: "description too long", given: board(), when: edit(member, TaskChanges{Description: ptr(strings.Repeat("d", 64*1024+1))}), err: CodeInvalidInput},
		{name: "unknown priority", given: board(), when: edit(member, TaskChanges{Priority: ptr(Priority("asap"))}), err: CodeInvalidInput},
		{name: "invalid due date", given: board(), when: edit(member, TaskChanges{DueDate: ptr(time.Time{})}), err: CodeInvalidInput},
		{name: "too many labels", given: board(), when: edit(member, TaskChanges{Labels: ptr(labels(21))}), err: CodeInvalidInput},
		{name: "a valid field does not hide an invalid one", given: board(), when: edit(member, TaskChanges{Title: ptr("ok"), Labels: &[]string{""}}), err: CodeInvalidInput},
		{name: "viewer is forbidden", given: board(), when: edit(viewer, TaskChanges{Title: ptr("x")}), err: CodeForbidden},
		{name: "non-member is forbidden", given: board(), when: edit(stranger, TaskChanges{Title: ptr("x")}), err: CodeForbidden},
	})
}

func TestChangeStatus(t *testing.T) {
	t.Parallel()
	move := func(a Actor, status string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.ChangeStatus(w.workspace, w.project, a, status, now) }
	}
	moved := func(from, to string) []Event {
		return []Event{TaskStatusChanged{TaskID: taskID, ProjectID: projectID, From: from, To: to, By: "mia", At: now}}
	}
	in := func(path ...string) []Event {
		extra := []any{}
		from := "todo"
		for _, to := range path {
			extra = append(extra, statusChanged(from, to))
			from = to
		}
		return board(extra...)
	}
	shrunk := Workflow{Statuses: []Status{{ID: "open", Name: "Open", Category: CategoryTodo}, {ID: "closed", Name: "Closed", Category: CategoryDone}}, Transitions: []Transition{{From: "open", To: "closed"}}, Initial: "open"}
	run(t, []scenario{
		{name: "todo → in_progress", given: in(), when: move(member, "in_progress"), then: moved("todo", "in_progress")},
		{name: "in_progress → in_review", given: in("in_progress"), when: move(member, "in_review"), then: moved("in_progress", "in_review")},
		{name: "in_review → done", given: in("in_progress", "in_review"), when: move(member, "done"), then: moved("in_review", "done")},
		{name: "changes requested: in_review → in_progress", given: in("in_progress", "in_review"), when: move(member, "in_progress"), then: moved("in_review", "in_progress")},
		{name: "reopen: done → todo", given: in("in_progress", "in_review", "done"), when: move(member, "todo"), then: moved("done", "todo")},
		{name: "reopen: cancelled → todo", given: in("cancelled"), when: move(member, "todo"), then: moved("cancelled", "todo")},
		{name: "todo → cancelled", given: in(), when: move(member, "cancelled"), then: moved("todo", "cancelled")},
		{name: "in_progress → cancelled", given: in("in_progress"), when: move(member, "cancelled"), then: moved("in_progress", "cancelled")},
		{name: "in_review → cancelled", given: in("in_progress", "in_review"), when: move(member, "cancelled"), then: moved("in_review", "cancelled")},
		{name: "done → cancelled", given: in("in_progress", "in_review", "done"), when: move(member, "cancelled"), then: moved("done", "cancelled")},
		{name: "todo → done is not allowed", given: in(), when: move(member, "done"), err: CodePreconditionFailed},
		{name: "in_progress → todo is not allowed", given: in("in_progress"), when: move(member, "todo"), err: CodePreconditionFailed},
		{name: "cancelled → done is not allowed", given: in("cancelled"), when: move(member, "done"), err: CodePreconditionFailed},
		{name: "same status changes nothing", given: in(), when: move(member, "todo")},
		{name: "unknown status", given: in(), when: move(member, "blocked"), err: CodeInvalidInput},
		{name: "a status removed from the workflow can move anywhere", given: board(ProjectWorkflowDefined{ProjectID: projectID, Workflow: shrunk, At: t0}), when: move(member, "closed"), then: moved("todo", "closed")},
		{name: "viewer is forbidden", given: in(), when: move(viewer, "in_progress"), err: CodeForbidden},
		{name: "non-member is forbidden", given: in(), when: move(stranger, "in_progress"), err: CodeForbidden},
	})
}

func TestAssign(t *testing.T) {
	t.Parallel()
	assign := func(a Actor, to UserID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.Assign(w.workspace, w.project, a, to, now) }
	}
	unassign := func(a Actor) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.Unassign(w.workspace, w.project, a, now) }
	}
	assignedToMax := board(TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", By: "mia", At: t0})
	run(t, []scenario{
		{name: "member assigns a member", given: board(), when: assign(member, "max"), then: []Event{TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", By: "mia", At: now}}},
		{name: "reassign records the previous assignee", given: assignedToMax, when: assign(member, "olga"), then: []Event{TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "olga", Previous: "max", By: "mia", At: now}}},
		{name: "same assignee changes nothing", given: assignedToMax, when: assign(member, "max")},
		{name: "non-member assignee", given: board(), when: assign(member, "sam"), err: CodeInvalidInput},
		{name: "viewer assignee", given: board(), when: assign(member, "vic"), err: CodeInvalidInput},
		{name: "removed member assignee", given: board(WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "max", Reason: MemberRemovedReasonLeft, At: t0}), when: assign(member, "max"), err: CodeInvalidInput},
		{name: "empty assignee", given: board(), when: assign(member, ""), err: CodeInvalidInput},
		{name: "viewer is forbidden", given: board(), when: assign(viewer, "max"), err: CodeForbidden},
		{name: "non-member is forbidden", given: board(), when: assign(stranger, "max"), err: CodeForbidden},

		{name: "unassign", given: assignedToMax, when: unassign(member), then: []Event{TaskUnassigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", Reason: UnassignReasonUnassigned, By: "mia", At: now}}},
		{name: "unassign an unassigned task changes nothing", given: board(), when: unassign(member)},
		{name: "viewer cannot unassign", given: assignedToMax, when: unassign(viewer), err: CodeForbidden},
	})
}

func TestUnassignBecauseMemberRemoved(t *testing.T) {
	t.Parallel()
	unassign := func(m UserID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.UnassignBecauseMemberRemoved(w.workspace, m, now) }
	}
	assigned := TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", By: "mia", At: t0}
	left := WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "max", Reason: MemberRemovedReasonLeft, By: "max", At: t0}
	want := []Event{TaskUnassigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", Reason: UnassignReasonMemberRemoved, At: now}}
	run(t, []scenario{
		{name: "removed assignee", given: board(assigned, left), when: unassign("max"), then: want},
		{name: "also on an archived task in an archived project", given: board(assigned, TaskArchived{TaskID: taskID, ProjectID: projectID, At: t0}, projectArchived(), left), when: unassign("max"), then: want},
		{name: "assignee still a member", given: board(assigned), when: unassign("max"), err: CodePreconditionFailed},
		{name: "someone else's task", given: board(assigned, WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "mia", At: t0}), when: unassign("mia")},
		{name: "unassigned task", given: board(left), when: unassign("max")},
	})
}

func TestReorder(t *testing.T) {
	t.Parallel()
	reorder := func(a Actor, before, after string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.Reorder(w.workspace, w.project, a, before, after, now) }
	}
	r1, r2, r3 := rankForNumber(1), rankForNumber(2), rankForNumber(3)
	between23, _ := RankBetween(r2, r3)
	start, _ := RankBetween("", r2)
	end, _ := RankBetween(r3, "")
	reordered := func(rank string) []Event {
		return []Event{TaskReordered{TaskID: taskID, ProjectID: projectID, Rank: rank, By: "mia", At: now}}
	}
	run(t, []scenario{
		{name: "between two tasks", given: board(), when: reorder(member, r2, r3), then: reordered(between23)},
		{name: "to the top", given: board(TaskReordered{TaskID: taskID, ProjectID: projectID, Rank: "z", At: t0}), when: reorder(member, "", r2), then: reordered(start)},
		{name: "to the bottom", given: board(), when: reorder(member, r3, ""), then: reordered(end)},
		{name: "already there", given: board(), when: reorder(member, "", r2)},
		{name: "already there, alone in the list", given: board(), when: reorder(member, "", "")},
		{name: "bounds in the wrong order", given: board(), when: reorder(member, r3, r2), err: CodeInvalidInput},
		{name: "equal bounds", given: board(), when: reorder(member, r2, r2), err: CodeInvalidInput},
		{name: "invalid rank", given: board(), when: reorder(member, "a b", ""), err: CodeInvalidInput},
		{name: "rank with a trailing zero", given: board(), when: reorder(member, r1+"0", ""), err: CodeInvalidInput},
		{name: "viewer is forbidden", given: board(), when: reorder(viewer, r2, r3), err: CodeForbidden},
	})
}

func TestArchiveRestoreTask(t *testing.T) {
	t.Parallel()
	archive := func(a Actor) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.Archive(w.workspace, w.project, a, now) }
	}
	restore := func(a Actor) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.Restore(w.workspace, w.project, a, now) }
	}
	archived := TaskArchived{TaskID: taskID, ProjectID: projectID, By: "mia", At: t0}
	run(t, []scenario{
		{name: "member archives", given: board(), when: archive(member), then: []Event{TaskArchived{TaskID: taskID, ProjectID: projectID, By: "mia", At: now}}},
		{name: "archive twice changes nothing", given: board(archived), when: archive(member)},
		{name: "viewer cannot archive", given: board(), when: archive(viewer), err: CodeForbidden},
		{name: "not in an archived project", given: board(projectArchived()), when: archive(member), err: CodePreconditionFailed},
		{name: "member restores", given: board(archived), when: restore(member), then: []Event{TaskRestored{TaskID: taskID, ProjectID: projectID, By: "mia", At: now}}},
		{name: "restore in an archived project", given: board(archived, projectArchived()), when: restore(member), then: []Event{TaskRestored{TaskID: taskID, ProjectID: projectID, By: "mia", At: now}}},
		{name: "restore an active task changes nothing", given: board(), when: restore(member)},
		{name: "viewer cannot restore", given: board(archived), when: restore(viewer), err: CodeForbidden},
		{name: "restored task can be edited", given: board(archived, TaskRestored{TaskID: taskID, ProjectID: projectID, At: t0}),
			when: func(w world) ([]Event, error) {
				return w.task.Edit(w.workspace, w.project, member, TaskChanges{Title: ptr("Back")}, now)
			},
			then: []Event{TaskTitleChanged{TaskID: taskID, ProjectID: projectID, Title: "Back", By: "mia", At: now}}},
	})
}

// TestFrozenTasks checks that nothing but Restore changes an archived task,
// nor a task of an archived project, whoever asks.
func TestFrozenTasks(t *testing.T) {
	t.Parallel()
	withComment := func(extra ...any) []Event {
		return board(append([]any{commentAdded(commentID, member, "hi")}, extra...)...)
	}
	histories := map[string][]Event{
		"archived task":    withComment(TaskArchived{TaskID: taskID, ProjectID: projectID, At: t0}),
		"archived project": withComment(projectArchived()),
	}
	calls := map[string]func(w world, a Actor) ([]Event, error){
		"edit": func(w world, a Actor) ([]Event, error) {
			return w.task.Edit(w.workspace, w.project, a, TaskChanges{Title: ptr("x")}, now)
		},
		"change status": func(w world, a Actor) ([]Event, error) {
			return w.task.ChangeStatus(w.workspace, w.project, a, "in_progress", now)
		},
		"assign":   func(w world, a Actor) ([]Event, error) { return w.task.Assign(w.workspace, w.project, a, "max", now) },
		"unassign": func(w world, a Actor) ([]Event, error) { return w.task.Unassign(w.workspace, w.project, a, now) },
		"reorder": func(w world, a Actor) ([]Event, error) {
			return w.task.Reorder(w.workspace, w.project, a, "", "1", now)
		},
		"comment": func(w world, a Actor) ([]Event, error) {
			return w.task.AddComment(w.workspace, w.project, a, otherID, "x", now)
		},
		"edit comment": func(w world, a Actor) ([]Event, error) {
			return w.task.EditComment(w.workspace, w.project, a, commentID, "x", now)
		},
		"delete comment": func(w world, a Actor) ([]Event, error) {
			return w.task.DeleteComment(w.workspace, w.project, a, commentID, now)
		},
	}
	var cases []scenario
	for hname, history := range histories {
		for cname, call := range calls {
			for _, a := range []Actor{member, owner} {
				cases = append(cases, scenario{
					name: cname + " on " + hname + " by " + string(a.UserID), given: history,
					when: func(w world) ([]Event, error) { return call(w, a) },
					err:  CodePreconditionFailed,
				})
			}
			cases = append(cases, scenario{
				name: cname + " on " + hname + " by a viewer", given: history,
				when: func(w world) ([]Event, error) { return call(w, viewer) },
				err:  CodeForbidden,
			})
		}
	}
	run(t, cases)
}

func TestTaskQueries(t *testing.T) {
	t.Parallel()
	due := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	c2 := uuid.MustParse("00000000-0000-4000-8000-000000000031")
	tk, err := LoadTask(evs(taskCreated(),
		TaskTitleChanged{TaskID: taskID, Title: "T"},
		TaskDescriptionChanged{TaskID: taskID, Description: "D"},
		TaskPriorityChanged{TaskID: taskID, Priority: PriorityHigh},
		TaskDueDateChanged{TaskID: taskID, DueDate: &due},
		TaskLabelsChanged{TaskID: taskID, Labels: []string{"x", "y"}},
		statusChanged("todo", "in_progress"),
		TaskAssigned{TaskID: taskID, Assignee: "max"},
		TaskReordered{TaskID: taskID, Rank: "V"},
		commentAdded(commentID, member, "one @adam", "adam"),
		commentAdded(c2, admin, "two"),
		TaskCommentEdited{TaskID: taskID, CommentID: commentID, Body: "uno", Mentions: []UserID{}, At: now},
		TaskCommentDeleted{TaskID: taskID, CommentID: c2},
		TaskArchived{TaskID: taskID},
	))
	if err != nil {
		t.Fatal(err)
	}
	if tk.ID() != taskID || tk.ProjectID() != projectID || tk.WorkspaceID() != wsID || tk.Number() != 1 || tk.Key() != "TF-1" ||
		tk.Title() != "T" || tk.Description() != "D" || tk.Priority() != PriorityHigh || !tk.DueDate().Equal(due) ||
		!reflect.DeepEqual(tk.Labels(), []string{"x", "y"}) || tk.Status() != "in_progress" || tk.Assignee() != "max" ||
		tk.Rank() != "V" || !tk.Archived() || tk.CreatedBy() != "mia" || !tk.CreatedAt().Equal(t0) || tk.Version() != 14 {
		t.Fatalf("unexpected state: %+v", tk.state)
	}
	comments := tk.Comments()
	if len(comments) != 2 || comments[0].Body != "uno" || comments[0].EditedAt == nil || len(comments[0].Mentions) != 0 ||
		!comments[1].Deleted || comments[1].Body != "" || comments[1].Author != "adam" {
		t.Fatalf("comments: %+v", comments)
	}
	if c, ok := tk.Comment(commentID); !ok || c.Author != "mia" {
		t.Fatalf("Comment = %+v", c)
	}
	tk.Labels()[0] = "changed"
	*tk.DueDate() = t0
	if tk.Labels()[0] != "x" || !tk.DueDate().Equal(due) {
		t.Fatal("queries must return copies")
	}
	unassigned, err := LoadTask(evs(taskCreated(), TaskAssigned{TaskID: taskID, Assignee: "max"},
		TaskUnassigned{TaskID: taskID, Assignee: "max", Reason: UnassignReasonMemberRemoved}))
	if err != nil || unassigned.Assignee() != "" {
		t.Fatalf("unassign: %v %q", err, unassigned.Assignee())
	}
	_, err = LoadTask(nil)
	mustCode(t, err, CodeNotFound)
}

func TestPriority(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"none", "low", "Medium", " HIGH ", "urgent"} {
		if p, err := ParsePriority(s); err != nil || !p.Valid() {
			t.Errorf("ParsePriority(%q) = %q, %v", s, p, err)
		}
	}
	_, err := ParsePriority("asap")
	mustCode(t, err, CodeInvalidInput)
}

func TestWrongProjectIsAnInternalError(t *testing.T) {
	t.Parallel()
	w, err := loadWorld(board())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadProject([]Event{ProjectCreated{ProjectID: otherID, WorkspaceID: wsID, Key: "OPS", Name: "Ops", Workflow: DefaultWorkflow()}})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"edit":    func() error { _, err := w.task.Edit(w.workspace, other, member, TaskChanges{}, now); return err },
		"restore": func() error { _, err := w.task.Restore(w.workspace, nil, member, now); return err },
		"create task": func() error {
			_, _, err := CreateTask(w.workspace, nil, w.numbers, member, id(9), NewTask{Title: "x"}, now)
			return err
		},
	} {
		if err := call(); !errors.Is(err, errWrongProject) || CodeOf(err) != "" {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
