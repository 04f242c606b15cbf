package commands_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
)

// 50 concurrent creations on one project: every call succeeds thanks to
// retries, numbers are exactly 1..50, every success is in both the task
// numbers and the task streams, and the project stream does not move.
func TestCreateTaskConcurrently(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ws := f.team()
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws, Name: "Race", Key: "RC"})
	require.NoError(t, err)

	const n = 50
	results := make([]commands.TaskResult, n)
	errs := make([]error, n)
	took := parallel(n, func(i int) {
		results[i], errs[i] = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: p.ID, Title: title(i)})
	})

	byNumber := map[int64]uuid.UUID{}
	for i := range n {
		require.NoErrorf(t, errs[i], "call %d (code %q)", i, domain.CodeOf(errs[i]))
		r := results[i]
		require.NotContains(t, byNumber, r.Number, "duplicate number")
		byNumber[r.Number] = r.ID
		require.Equal(t, fmt.Sprintf("RC-%d", r.Number), r.Key)
		require.Equal(t, int64(1), r.Version)
		require.NotZero(t, r.Position.TransactionID)
		created := f.events(domain.TaskStream(r.ID))
		require.Len(t, created, 1)
		require.Equal(t, title(i), created[0].(domain.TaskCreated).Title)
		require.Equal(t, r.Number, created[0].(domain.TaskCreated).Number)
	}
	for want := int64(1); want <= n; want++ {
		require.Contains(t, byNumber, want, "gap at %d", want)
	}

	// The task numbers stream holds exactly one reservation per created
	// task, in number order; the project stream only its creation.
	numberEvents := f.events(domain.TaskNumbersStream(p.ID))
	require.Len(t, numberEvents, n)
	for i, e := range numberEvents {
		r := e.(domain.ProjectTaskNumberReserved)
		require.Equal(t, int64(i+1), r.Number)
		require.Equal(t, byNumber[r.Number], r.TaskID)
	}
	require.Equal(t, int64(1), f.version(domain.ProjectStream(p.ID)))
	t.Logf("%d concurrent createTask: %v, %.0f retries", n, took,
		f.counter("taskforge_command_retries_total", map[string]string{"command": "create_task"}))
}

// 50 concurrent status changes and edits of one task, none with an expected
// version: every one is applied, in some serial order that the stream shows
// (each status change starts where the previous one ended).
func TestConcurrentChangesToOneTask(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ws := f.team()
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws, Name: "Race", Key: "RC"})
	require.NoError(t, err)
	// Every move allowed, so that each status change applies whatever the
	// order.
	statuses := []string{"s0", "s1", "s2", "s3"}
	wf := domain.Workflow{Initial: "s0"}
	for _, s := range statuses {
		wf.Statuses = append(wf.Statuses, domain.Status{ID: s, Name: s, Category: domain.CategoryInProgress})
		for _, to := range statuses {
			if to != s {
				wf.Transitions = append(wf.Transitions, domain.Transition{From: s, To: to})
			}
		}
	}
	_, err = f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: p.ID, Workflow: wf})
	require.NoError(t, err)
	task := f.newTask(p.ID, "contended").ID

	const n = 50
	results := make([]commands.Result, n)
	errs := make([]error, n)
	target := func(i int) string { return statuses[(i/2)%len(statuses)] }
	took := parallel(n, func(i int) {
		if i%2 == 0 {
			results[i], errs[i] = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: task, Status: target(i)})
		} else {
			results[i], errs[i] = f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: member2, TaskID: task, Title: ptr(title(i))})
		}
	})

	stream := f.events(domain.TaskStream(task))
	for i := range n {
		require.NoErrorf(t, errs[i], "call %d", i)
		r := results[i]
		if r.Position.TransactionID == 0 {
			// Nothing to do: the task was already in that status when
			// this change was decided.
			require.Equal(t, 0, i%2, "an edit to a new title always applies")
			continue
		}
		// The event at the version the command reported is its own.
		switch e := stream[r.Version-1].(type) {
		case domain.TaskStatusChanged:
			require.Equal(t, target(i), e.To)
		case domain.TaskTitleChanged:
			require.Equal(t, title(i), e.Title)
		default:
			t.Fatalf("call %d: version %d is %T", i, r.Version, e)
		}
	}

	status, titles, lastTitle, applied := "s0", map[string]int{}, "contended", 0
	for _, e := range stream[1:] {
		switch e := e.(type) {
		case domain.TaskStatusChanged:
			require.Equal(t, status, e.From, "a status change was decided on a stale status")
			status = e.To
			applied++
		case domain.TaskTitleChanged:
			titles[e.Title]++
			lastTitle = e.Title
			applied++
		default:
			t.Fatalf("unexpected %T", e)
		}
	}
	require.Len(t, titles, n/2, "every edit is applied")
	for title, count := range titles {
		require.Equal(t, 1, count, title)
	}
	appended := 0
	for _, r := range results {
		if r.Position.TransactionID != 0 {
			appended++
		}
	}
	require.Equal(t, appended, applied, "one event per applied command, none lost")

	// The state the handlers load equals the fold of the stream.
	folded := f.loadTask(task)
	require.Equal(t, status, folded.Status())
	require.Equal(t, lastTitle, folded.Title())
	res, err := f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: member, TaskID: task, Title: ptr(lastTitle)})
	require.NoError(t, err)
	require.Equal(t, folded.Version(), res.Version, "a no-op reports the version it decided on")
	require.Zero(t, res.Position)
	t.Logf("%d concurrent changes to one task: %v, %.0f retries", n, took,
		f.counter("taskforge_command_retries_total", nil))
}

// With an expected version, a stale one is CONFLICT with the current
// version, and nothing is appended.
func TestStaleExpectedVersion(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	taskStream := domain.TaskStream(b.task)

	res, err := f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: member, TaskID: b.task, Title: ptr("v2"), ExpectedVersion: ptr(int64(1))})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Version)

	_, err = f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: member, TaskID: b.task, Title: ptr("stale"), ExpectedVersion: ptr(int64(1))})
	requireCode(t, err, domain.CodeConflict)
	var ce *commands.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, int64(2), ce.Current)
	current, ok := commands.CurrentVersion(err)
	require.True(t, ok)
	require.Equal(t, int64(2), current)
	require.Equal(t, int64(2), f.version(taskStream))

	// Ten users editing the version they all saw: one wins, the others get
	// CONFLICT with the winner's version.
	const n = 10
	errs := make([]error, n)
	parallel(n, func(i int) {
		_, errs[i] = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{
			Actor: member, TaskID: b.task, Status: []string{"in_progress", "cancelled"}[i%2], ExpectedVersion: ptr(int64(2)),
		})
	})
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.ErrorAs(t, err, &ce)
		require.Equal(t, int64(3), ce.Current)
	}
	require.Equal(t, 1, won)
	require.Equal(t, int64(3), f.version(taskStream))

	// The other aggregates with an expected version behave the same.
	_, err = f.h.RenameWorkspace.Handle(f.ctx, commands.RenameWorkspace{Actor: owner, WorkspaceID: b.ws, Name: "New", ExpectedVersion: ptr(int64(1))})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, f.version(domain.WorkspaceStream(b.ws)), ce.Current)
	_, err = f.h.RenameProject.Handle(f.ctx, commands.RenameProject{Actor: admin, ProjectID: b.project, Name: "New", ExpectedVersion: ptr(int64(7))})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, f.version(domain.ProjectStream(b.project)), ce.Current)
	// A non-member learns nothing, not even the version (nor that the task exists).
	_, err = f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: outsider, TaskID: b.task, Title: ptr("x"), ExpectedVersion: ptr(int64(1))})
	requireCode(t, err, domain.CodeNotFound)
	require.False(t, errors.As(err, &ce))
}

// The rule of doc.go: after a member removal raced with assignments to that
// member, no task is assigned to a non-member. Each assignment either
// committed first and was undone by the removal, or was refused.
func TestRemovalVersusAssignment(t *testing.T) {
	t.Parallel()
	f := setup(t)

	t.Run("assigned first, the removal unassigns", func(t *testing.T) {
		b := f.board()
		_, err := f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: member2.UserID})
		require.NoError(t, err)
		_, err = f.h.RemoveMember.Handle(f.ctx, commands.RemoveMember{Actor: admin, WorkspaceID: b.ws, UserID: member2.UserID})
		require.NoError(t, err)
		require.Empty(t, f.loadTask(b.task).Assignee())
		last := f.events(domain.TaskStream(b.task))
		require.Equal(t, domain.UnassignReasonMemberRemoved, last[len(last)-1].(domain.TaskUnassigned).Reason)
		requireIndexMatches(t, f, b.ws, b.project, member2.UserID)
	})
	t.Run("removed first, the assignment is refused", func(t *testing.T) {
		b := f.board()
		_, err := f.h.RemoveMember.Handle(f.ctx, commands.RemoveMember{Actor: admin, WorkspaceID: b.ws, UserID: member2.UserID})
		require.NoError(t, err)
		before := f.version(domain.TaskStream(b.task))
		_, err = f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: member2.UserID})
		requireCode(t, err, domain.CodeInvalidInput)
		_, err = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "x", Assignee: member2.UserID})
		requireCode(t, err, domain.CodeInvalidInput)
		require.Equal(t, before, f.version(domain.TaskStream(b.task)))
	})
	t.Run("leaving unassigns too", func(t *testing.T) {
		b := f.board()
		_, err := f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member2, TaskID: b.task, Assignee: member2.UserID})
		require.NoError(t, err)
		_, err = f.h.RemoveMember.Handle(f.ctx, commands.RemoveMember{Actor: member2, WorkspaceID: b.ws, UserID: member2.UserID})
		require.NoError(t, err)
		require.Empty(t, f.loadTask(b.task).Assignee())
	})

	t.Run("concurrently", func(t *testing.T) {
		const iterations, tasks, creations = 15, 6, 2
		var undone, refused int
		for range iterations {
			b := f.board()
			ids := []uuid.UUID{b.task}
			for i := 1; i < tasks; i++ {
				ids = append(ids, f.newTask(b.project, title(i)).ID)
			}
			// Some tasks start with another assignee: a reassignment.
			_, err := f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: ids[0], Assignee: member.UserID})
			require.NoError(t, err)

			errs := make([]error, tasks+creations+1)
			parallel(len(errs), func(i int) {
				switch {
				case i < tasks:
					_, errs[i] = f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: ids[i], Assignee: member2.UserID})
				case i < tasks+creations:
					_, errs[i] = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "new", Assignee: member2.UserID})
				default:
					_, errs[i] = f.h.RemoveMember.Handle(f.ctx, commands.RemoveMember{Actor: admin, WorkspaceID: b.ws, UserID: member2.UserID})
				}
			})
			require.NoError(t, errs[len(errs)-1], "the removal")
			for _, err := range errs[:len(errs)-1] {
				if err == nil {
					undone++
					continue
				}
				requireCode(t, err, domain.CodeInvalidInput)
				refused++
			}
			require.False(t, f.loadWorkspace(b.ws).IsMember(member2.UserID))
			requireIndexMatches(t, f, b.ws, b.project, member2.UserID)
		}
		t.Logf("%d iterations: %d assignments undone by the removal, %d refused", iterations, undone, refused)
	})
}

// requireIndexMatches checks that no task of the project is assigned to the
// removed user, that every assignment to them was followed by an
// unassignment, and that every member's index equals the tasks' assignees.
func requireIndexMatches(t *testing.T, f *fixture, ws, project uuid.UUID, removed domain.UserID) {
	t.Helper()
	byMember := map[domain.UserID][]uuid.UUID{}
	for _, e := range f.events(domain.TaskNumbersStream(project)) {
		r, ok := e.(domain.ProjectTaskNumberReserved)
		if !ok {
			continue
		}
		task := f.loadTask(r.TaskID)
		require.NotEqual(t, removed, task.Assignee(), "task %s assigned to a removed member", task.Key())
		if a := task.Assignee(); a != "" {
			byMember[a] = append(byMember[a], task.ID())
		}
	}
	for _, m := range []domain.UserID{owner.UserID, admin.UserID, member.UserID, member2.UserID, viewer.UserID} {
		index, err := domain.RestoreAssignments(ws, m, nil, f.events(domain.MemberStream(ws, m)))
		require.NoError(t, err)
		want := byMember[m]
		slices.SortFunc(want, func(a, b uuid.UUID) int { return compareUUID(a, b) })
		require.Equal(t, len(want), len(index.Tasks()), "index of %s", m)
		for i := range want {
			require.Equal(t, want[i], index.Tasks()[i])
		}
	}
}

func compareUUID(a, b uuid.UUID) int {
	switch as, bs := a.String(), b.String(); {
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

// The same idempotency key sent 20 times at once yields one set of events,
// and every caller gets the same result.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	const n = 20

	t.Run("create task", func(t *testing.T) {
		before := f.versions(domain.ProjectStream(b.project), domain.TaskNumbersStream(b.project))
		results := make([]commands.TaskResult, n)
		errs := make([]error, n)
		took := parallel(n, func(i int) {
			results[i], errs[i] = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "once", IdempotencyKey: "k-1"})
		})
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, results[0], results[i])
		}
		require.Equal(t, before[domain.TaskNumbersStream(b.project)]+1, f.version(domain.TaskNumbersStream(b.project)), "one number reserved")
		require.Equal(t, before[domain.ProjectStream(b.project)], f.version(domain.ProjectStream(b.project)))
		require.Equal(t, int64(1), f.version(domain.TaskStream(results[0].ID)))
		require.NotZero(t, results[0].Position)

		again, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "once", IdempotencyKey: "k-1"})
		require.NoError(t, err)
		require.Equal(t, results[0], again, "a later repeat too")
		other, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member2, ProjectID: b.project, Title: "once", IdempotencyKey: "k-1"})
		require.NoError(t, err)
		require.NotEqual(t, results[0].ID, other.ID, "keys are per actor")
		t.Logf("%d identical createTask: %v", n, took)
	})

	t.Run("comment", func(t *testing.T) {
		before := f.version(domain.TaskStream(b.task))
		results := make([]commands.CommentResult, n)
		errs := make([]error, n)
		parallel(n, func(i int) {
			results[i], errs[i] = f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: member, TaskID: b.task, Body: "hello @max", IdempotencyKey: "c-1"})
		})
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, results[0], results[i])
		}
		require.Equal(t, before+1, f.version(domain.TaskStream(b.task)))
	})

	t.Run("status change", func(t *testing.T) {
		before := f.version(domain.TaskStream(b.task))
		results := make([]commands.Result, n)
		errs := make([]error, n)
		parallel(n, func(i int) {
			results[i], errs[i] = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task, Status: "in_progress", IdempotencyKey: "s-1"})
		})
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, results[0], results[i], "even calls that load after the first committed")
		}
		require.Equal(t, before+1, f.version(domain.TaskStream(b.task)))
	})

	t.Run("member removal", func(t *testing.T) {
		_, err := f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: viewer.UserID})
		requireCode(t, err, domain.CodeInvalidInput) // viewers cannot be assigned
		_, err = f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: member2.UserID})
		require.NoError(t, err)
		results := make([]commands.Result, n)
		errs := make([]error, n)
		parallel(n, func(i int) {
			results[i], errs[i] = f.h.RemoveMember.Handle(f.ctx, commands.RemoveMember{Actor: admin, WorkspaceID: b.ws, UserID: member2.UserID, IdempotencyKey: "r-1"})
		})
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, results[0], results[i])
		}
		removed := 0
		for _, e := range f.events(domain.WorkspaceStream(b.ws)) {
			if _, ok := e.(domain.WorkspaceMemberRemoved); ok {
				removed++
			}
		}
		require.Equal(t, 1, removed)
	})
}
