package domain

import (
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"
)

func TestIndexAssignments(t *testing.T) {
	t.Parallel()
	created := taskCreated()
	createdFor := func(u UserID) TaskCreated { c := created; c.Assignee = u; return c }
	assigned := func(m UserID) MemberTaskAssigned {
		return MemberTaskAssigned{WorkspaceID: wsID, UserID: m, TaskID: taskID, ProjectID: projectID, At: now}
	}
	unassigned := func(m UserID) MemberTaskUnassigned {
		return MemberTaskUnassigned{WorkspaceID: wsID, UserID: m, TaskID: taskID, ProjectID: projectID, At: now}
	}
	withAt := func(c TaskCreated) TaskCreated { c.At = now; return c }
	for _, c := range []struct {
		name  string
		given []Event
		want  []MemberIndexUpdate
	}{
		{"created unassigned", []Event{created}, []MemberIndexUpdate{}},
		{"created with an assignee", []Event{withAt(createdFor("max"))}, []MemberIndexUpdate{{"max", []Event{assigned("max")}}}},
		{"first assignment", []Event{TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", By: "mia", At: now}},
			[]MemberIndexUpdate{{"max", []Event{assigned("max")}}}},
		{"reassignment updates both members, sorted", []Event{TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "olga", Previous: "max", By: "mia", At: now}},
			[]MemberIndexUpdate{{"max", []Event{unassigned("max")}}, {"olga", []Event{assigned("olga")}}}},
		{"unassignment", []Event{TaskUnassigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", Reason: UnassignReasonUnassigned, At: now}},
			[]MemberIndexUpdate{{"max", []Event{unassigned("max")}}}},
		{"several events for one member keep their order", []Event{
			TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", At: now},
			TaskUnassigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", At: now},
		}, []MemberIndexUpdate{{"max", []Event{assigned("max"), unassigned("max")}}}},
		{"other task events", []Event{statusChanged("todo", "in_progress"), TaskArchived{TaskID: taskID}}, []MemberIndexUpdate{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := IndexAssignments(wsID, c.given)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			reg := NewRegistry()
			for _, u := range got {
				for _, e := range u.Events {
					roundTrip(t, reg, e)
				}
			}
		})
	}
}

func TestAssignmentsFold(t *testing.T) {
	t.Parallel()
	a1 := MemberTaskAssigned{WorkspaceID: wsID, UserID: "max", TaskID: id(1), ProjectID: projectID, At: t0}
	a2 := MemberTaskAssigned{WorkspaceID: wsID, UserID: "max", TaskID: id(2), ProjectID: projectID, At: t0}
	u1 := MemberTaskUnassigned{WorkspaceID: wsID, UserID: "max", TaskID: id(1), ProjectID: projectID, At: t0}

	empty, err := RestoreAssignments(wsID, "max", nil, nil)
	if err != nil || empty.Version() != 0 || len(empty.Tasks()) != 0 || empty.UserID() != "max" || empty.WorkspaceID() != wsID {
		t.Fatalf("an empty stream is an empty index: %+v, %v", empty, err)
	}

	history := []Event{a1, a2, u1, a1}
	full, err := RestoreAssignments(wsID, "max", nil, history)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uuid.UUID{id(1), id(2)}; !reflect.DeepEqual(full.Tasks(), want) || full.Version() != 4 || !full.Has(id(2)) || full.Has(id(3)) {
		t.Fatalf("tasks %v version %d", full.Tasks(), full.Version())
	}
	want, _ := full.Snapshot()
	for cut := 0; cut <= len(history); cut++ {
		part, err := RestoreAssignments(wsID, "max", nil, history[:cut])
		if err != nil {
			t.Fatal(err)
		}
		snap, _ := part.Snapshot()
		back, err := RestoreAssignments(wsID, "max", snap, history[cut:])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if got, _ := back.Snapshot(); string(got) != string(want) {
			t.Fatalf("cut %d: %s, want %s", cut, got, want)
		}
	}

	released := MemberAssignmentsReleased{WorkspaceID: wsID, UserID: "max", TaskIDs: []uuid.UUID{id(1), id(2)}, At: now}
	after, err := RestoreAssignments(wsID, "max", nil, append(history, released))
	if err != nil || len(after.Tasks()) != 0 {
		t.Fatalf("release must empty the index: %v %v", after.Tasks(), err)
	}

	for name, events := range map[string][]Event{
		"another member's event":    {MemberTaskAssigned{WorkspaceID: wsID, UserID: "mia", TaskID: id(1)}},
		"another workspace's event": {MemberTaskAssigned{WorkspaceID: otherID, UserID: "max", TaskID: id(1)}},
		"a task event":              {taskCreated()},
		"a nil event":               {nil},
	} {
		if _, err := RestoreAssignments(wsID, "max", nil, events); err == nil || CodeOf(err) != "" {
			t.Errorf("%s: want an internal error, got %v", name, err)
		}
	}
	if _, err := RestoreAssignments(wsID, "mia", want, nil); err == nil {
		t.Error("a snapshot of another member must not load")
	}
}

func TestReleaseAssignments(t *testing.T) {
	t.Parallel()
	index := func(tasks ...uuid.UUID) *Assignments {
		var es []Event
		for _, id := range tasks {
			es = append(es, MemberTaskAssigned{WorkspaceID: wsID, UserID: "max", TaskID: id, ProjectID: projectID, At: t0})
		}
		a, err := RestoreAssignments(wsID, "max", nil, es)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	removed := WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "max", Reason: MemberRemovedReasonRemoved, By: "adam", At: t0}
	for _, c := range []struct {
		name  string
		given []Event
		index *Assignments
		then  []Event
		err   Code
	}{
		{"removed member with tasks", evs(team(), removed), index(id(2), id(1)),
			[]Event{MemberAssignmentsReleased{WorkspaceID: wsID, UserID: "max", TaskIDs: []uuid.UUID{id(1), id(2)}, At: now}}, ""},
		{"removed member without tasks still records the release", evs(team(), removed), index(),
			[]Event{MemberAssignmentsReleased{WorkspaceID: wsID, UserID: "max", TaskIDs: []uuid.UUID{}, At: now}}, ""},
		{"still a member", team(), index(id(1)), nil, CodePreconditionFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ws, err := LoadWorkspace(c.given)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.index.Release(ws, now)
			expect(t, got, err, c.then, c.err)
		})
	}
	other, _ := LoadWorkspace([]Event{WorkspaceCreated{WorkspaceID: otherID, Name: "Other", Plan: PlanFree, By: "olga", At: t0}})
	if _, err := index().Release(other, now); !errors.Is(err, errWrongWorkspace) {
		t.Fatalf("another workspace must be an internal error, got %v", err)
	}
}

func TestSnapshotFormat(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{StreamTypeUser, StreamTypeWorkspace, StreamTypeProject, StreamTypeTask, StreamTypeMember} {
		if v, ok := SnapshotFormat(kind); !ok || v < 1 {
			t.Errorf("%s: format %d, %v", kind, v, ok)
		}
	}
	if _, ok := SnapshotFormat("nope"); ok {
		t.Error("unknown stream type has a snapshot format")
	}
}
