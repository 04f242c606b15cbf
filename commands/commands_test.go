package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// appended returns the types of the events a stream gained since version
// before.
func (f *fixture) appended(stream string, before int64) []string {
	f.t.Helper()
	var types []string
	for _, r := range f.recorded(stream) {
		if r.StreamVersion > before {
			types = append(types, r.Type)
		}
	}
	return types
}

// TestEveryCommand runs each command once on a board and checks what it
// appends and returns.
func TestEveryCommand(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	wsStream, projectStream, taskStream := domain.WorkspaceStream(b.ws), domain.ProjectStream(b.project), domain.TaskStream(b.task)

	// step runs a command and checks the event types stream gained and that
	// the result points at them.
	step := func(name, stream string, do func() (commands.Result, error), want ...string) commands.Result {
		t.Helper()
		before := f.version(stream)
		res, err := do()
		require.NoError(t, err, name)
		require.Equal(t, want, f.appended(stream, before), name)
		require.Equal(t, f.version(stream), res.Version, name)
		require.NotZero(t, res.Position.TransactionID, name)
		last := f.recorded(stream)
		require.Equal(t, last[len(last)-1].Position, res.Position.Position, name)
		return res
	}
	// Workspace.
	step("rename workspace", wsStream, func() (commands.Result, error) {
		return f.h.RenameWorkspace.Handle(f.ctx, commands.RenameWorkspace{Actor: admin, WorkspaceID: b.ws, Name: "Acme Corp"})
	}, domain.EventWorkspaceRenamed)
	var invitation uuid.UUID
	step("invite", wsStream, func() (commands.Result, error) {
		res, err := f.h.InviteMember.Handle(f.ctx, commands.InviteMember{Actor: admin, WorkspaceID: b.ws, Email: "pat@example.com", Role: domain.RoleMember})
		invitation = res.InvitationID
		return res.Result, err
	}, domain.EventWorkspaceMemberInvited)
	require.NotEqual(t, uuid.Nil, invitation)
	step("revoke", wsStream, func() (commands.Result, error) {
		return f.h.RevokeInvitation.Handle(f.ctx, commands.RevokeInvitation{Actor: admin, WorkspaceID: b.ws, InvitationID: invitation})
	}, domain.EventWorkspaceInvitationRevoked)
	pat := domain.Actor{UserID: "pat", Email: "pat@example.com", EmailVerified: true}
	_, err := f.h.AcceptInvitation.Handle(f.ctx, commands.AcceptInvitation{Actor: pat, WorkspaceID: b.ws, InvitationID: invitation})
	requireCode(t, err, domain.CodePreconditionFailed)
	inv2, err := f.h.InviteMember.Handle(f.ctx, commands.InviteMember{Actor: admin, WorkspaceID: b.ws, Email: "pat@example.com", Role: domain.RoleViewer})
	require.NoError(t, err)
	step("accept", wsStream, func() (commands.Result, error) {
		return f.h.AcceptInvitation.Handle(f.ctx, commands.AcceptInvitation{Actor: pat, WorkspaceID: b.ws, InvitationID: inv2.InvitationID})
	}, domain.EventWorkspaceMemberJoined)
	step("change role", wsStream, func() (commands.Result, error) {
		return f.h.ChangeMemberRole.Handle(f.ctx, commands.ChangeMemberRole{Actor: admin, WorkspaceID: b.ws, UserID: "pat", Role: domain.RoleMember})
	}, domain.EventWorkspaceMemberRoleChanged)
	var hook uuid.UUID
	step("register webhook", wsStream, func() (commands.Result, error) {
		res, err := f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "https://hooks.example.com/x", Secret: "0123456789abcdef"})
		hook = res.WebhookID
		return res.Result, err
	}, domain.EventWebhookRegistered)
	step("update webhook", wsStream, func() (commands.Result, error) {
		return f.h.UpdateWebhook.Handle(f.ctx, commands.UpdateWebhook{Actor: admin, WorkspaceID: b.ws, WebhookID: hook, EventTypes: &[]string{domain.EventTaskCreated}})
	}, domain.EventWebhookUpdated)
	step("remove webhook", wsStream, func() (commands.Result, error) {
		return f.h.RemoveWebhook.Handle(f.ctx, commands.RemoveWebhook{Actor: admin, WorkspaceID: b.ws, WebhookID: hook})
	}, domain.EventWebhookRemoved)

	// Project.
	step("rename project", projectStream, func() (commands.Result, error) {
		return f.h.RenameProject.Handle(f.ctx, commands.RenameProject{Actor: admin, ProjectID: b.project, Name: "Forge"})
	}, domain.EventProjectRenamed)
	wf := domain.DefaultWorkflow()
	wf.Statuses = append(wf.Statuses, domain.Status{ID: "blocked", Name: "Blocked", Category: domain.CategoryInProgress})
	wf.Transitions = append(wf.Transitions, domain.Transition{From: "in_progress", To: "blocked"}, domain.Transition{From: "blocked", To: "in_progress"})
	step("define workflow", projectStream, func() (commands.Result, error) {
		return f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: b.project, Workflow: wf})
	}, domain.EventProjectWorkflowDefined)

	// Task.
	due := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	step("edit", taskStream, func() (commands.Result, error) {
		return f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: member, TaskID: b.task, Title: ptr("Renamed"),
			Description: ptr("**md**"), Priority: ptr(domain.PriorityHigh), DueDate: &due, Labels: &[]string{"api"}})
	}, domain.EventTaskTitleChanged, domain.EventTaskDescriptionChanged, domain.EventTaskPriorityChanged,
		domain.EventTaskDueDateChanged, domain.EventTaskLabelsChanged)
	step("status", taskStream, func() (commands.Result, error) {
		return f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task, Status: "in_progress"})
	}, domain.EventTaskStatusChanged)
	step("assign", taskStream, func() (commands.Result, error) {
		return f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: member2.UserID})
	}, domain.EventTaskAssigned)
	require.Equal(t, []string{domain.EventMemberTaskAssigned}, f.appended(domain.MemberStream(b.ws, member2.UserID), 0))
	step("reassign", taskStream, func() (commands.Result, error) {
		return f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: member.UserID})
	}, domain.EventTaskAssigned)
	require.Equal(t, []string{domain.EventMemberTaskAssigned, domain.EventMemberTaskUnassigned}, f.appended(domain.MemberStream(b.ws, member2.UserID), 0))
	step("unassign", taskStream, func() (commands.Result, error) {
		return f.h.UnassignTask.Handle(f.ctx, commands.UnassignTask{Actor: member, TaskID: b.task})
	}, domain.EventTaskUnassigned)
	require.Equal(t, []string{domain.EventMemberTaskAssigned, domain.EventMemberTaskUnassigned}, f.appended(domain.MemberStream(b.ws, member.UserID), 0))

	second := f.newTask(b.project, "Second")
	require.Equal(t, int64(2), second.Number)
	require.Equal(t, "TF-2", second.Key)
	step("reorder before TF-1", domain.TaskStream(second.ID), func() (commands.Result, error) {
		return f.h.ReorderTask.Handle(f.ctx, commands.ReorderTask{Actor: member, TaskID: second.ID, NextTaskID: b.task})
	}, domain.EventTaskReordered)
	require.Less(t, f.loadTask(second.ID).Rank(), f.loadTask(b.task).Rank())

	var comment uuid.UUID
	step("comment", taskStream, func() (commands.Result, error) {
		res, err := f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: member, TaskID: b.task, Body: "cc @max"})
		comment = res.CommentID
		return res.Result, err
	}, domain.EventTaskCommentAdded)
	added := f.events(taskStream)[f.version(taskStream)-1].(domain.TaskCommentAdded)
	require.Equal(t, []domain.UserID{member2.UserID}, added.Mentions)
	step("edit comment", taskStream, func() (commands.Result, error) {
		return f.h.EditComment.Handle(f.ctx, commands.EditComment{Actor: member, TaskID: b.task, CommentID: comment, Body: "cc @max @adam"})
	}, domain.EventTaskCommentEdited)
	step("delete comment (admin)", taskStream, func() (commands.Result, error) {
		return f.h.DeleteComment.Handle(f.ctx, commands.DeleteComment{Actor: admin, TaskID: b.task, CommentID: comment})
	}, domain.EventTaskCommentDeleted)
	step("archive task", taskStream, func() (commands.Result, error) {
		return f.h.ArchiveTask.Handle(f.ctx, commands.ArchiveTask{Actor: member, TaskID: b.task})
	}, domain.EventTaskArchived)
	_, err = f.h.EditTask.Handle(f.ctx, commands.EditTask{Actor: member, TaskID: b.task, Title: ptr("frozen")})
	requireCode(t, err, domain.CodePreconditionFailed)
	step("restore task", taskStream, func() (commands.Result, error) {
		return f.h.RestoreTask.Handle(f.ctx, commands.RestoreTask{Actor: member, TaskID: b.task})
	}, domain.EventTaskRestored)

	step("archive project", projectStream, func() (commands.Result, error) {
		return f.h.ArchiveProject.Handle(f.ctx, commands.ArchiveProject{Actor: admin, ProjectID: b.project})
	}, domain.EventProjectArchived)
	_, err = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "late"})
	requireCode(t, err, domain.CodePreconditionFailed)
	step("unarchive project", projectStream, func() (commands.Result, error) {
		return f.h.UnarchiveProject.Handle(f.ctx, commands.UnarchiveProject{Actor: admin, ProjectID: b.project})
	}, domain.EventProjectUnarchived)

	// The same key in another project is another project (keys are unique
	// per workspace, which the domain checks).
	_, err = f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: b.ws, Name: "Dup", Key: "TF"})
	requireCode(t, err, domain.CodeConflict)

	step("remove member", wsStream, func() (commands.Result, error) {
		return f.h.RemoveMember.Handle(f.ctx, commands.RemoveMember{Actor: admin, WorkspaceID: b.ws, UserID: "pat"})
	}, domain.EventWorkspaceMemberRemoved)
	require.Equal(t, []string{domain.EventMemberAssignmentsReleased}, f.appended(domain.MemberStream(b.ws, "pat"), 0))

	// A command that changes nothing appends nothing.
	before := f.version(wsStream)
	res, err := f.h.RenameWorkspace.Handle(f.ctx, commands.RenameWorkspace{Actor: admin, WorkspaceID: b.ws, Name: "Acme Corp"})
	require.NoError(t, err)
	require.Equal(t, commands.Result{ID: b.ws, Version: before}, res)
	require.Equal(t, before, f.version(wsStream))
}

func TestCreatingReturnsNewAggregates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ws, err := f.h.CreateWorkspace.Handle(f.ctx, commands.CreateWorkspace{Actor: owner, Name: "Mine"})
	require.NoError(t, err)
	require.Equal(t, int64(2), ws.Version, "created + owner joined")
	require.Equal(t, domain.PlanFree, f.loadWorkspace(ws.ID).Plan())
	role, ok := f.loadWorkspace(ws.ID).RoleOf(owner.UserID)
	require.True(t, ok)
	require.Equal(t, domain.RoleOwner, role)

	chosen := uuid.New()
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: owner, WorkspaceID: ws.ID, ProjectID: chosen, Name: "P", Key: "PX"})
	require.NoError(t, err)
	require.Equal(t, chosen, p.ID)
	require.Equal(t, int64(1), p.Version)
	require.Equal(t, []string{domain.EventWorkspaceProjectKeyReserved}, f.appended(domain.WorkspaceStream(ws.ID), 2))

	// A caller-chosen id that is taken is CONFLICT, and nothing changes.
	wsBefore := f.version(domain.WorkspaceStream(ws.ID))
	_, err = f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: owner, WorkspaceID: ws.ID, ProjectID: chosen, Name: "Q", Key: "QX"})
	requireCode(t, err, domain.CodeConflict)
	require.Equal(t, wsBefore, f.version(domain.WorkspaceStream(ws.ID)))
	_, err = f.h.CreateWorkspace.Handle(f.ctx, commands.CreateWorkspace{Actor: owner, WorkspaceID: ws.ID, Name: "Again"})
	requireCode(t, err, domain.CodeConflict)

	task := uuid.New()
	tr, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: owner, ProjectID: p.ID, TaskID: task, Title: "T", Assignee: owner.UserID, Priority: domain.PriorityLow})
	require.NoError(t, err)
	require.Equal(t, commands.TaskResult{Result: commands.Result{ID: task, Version: 1, Position: tr.Position}, Number: 1, Key: "PX-1"}, tr)
	require.Equal(t, owner.UserID, f.loadTask(task).Assignee())
	require.Equal(t, []string{domain.EventMemberTaskAssigned}, f.appended(domain.MemberStream(ws.ID, owner.UserID), 0))
	_, err = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: owner, ProjectID: p.ID, TaskID: task, Title: "T"})
	requireCode(t, err, domain.CodeConflict)
	require.Equal(t, int64(1), f.version(domain.TaskNumbersStream(p.ID)), "the failed creation reserved no number")
	require.Equal(t, int64(1), f.version(domain.ProjectStream(p.ID)), "creations only assert the project")
}

// Every event carries the actor, the request's correlation and request ids,
// the command id as causation (shared by all events of one command) and the
// workspace.
func TestEventMetadata(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	correlation := uuid.New()
	ctx := commands.WithRequest(context.Background(), commands.RequestInfo{CorrelationID: correlation, RequestID: "req-42"})
	before := f.version(domain.TaskStream(b.task))
	_, err := f.h.EditTask.Handle(ctx, commands.EditTask{Actor: member, TaskID: b.task, Title: ptr("a"), Description: ptr("b")})
	require.NoError(t, err)
	var causation uuid.UUID
	for _, r := range f.recorded(domain.TaskStream(b.task)) {
		if r.StreamVersion <= before {
			continue
		}
		require.Equal(t, eventstore.Metadata{Actor: "mia", CorrelationID: correlation, CausationID: r.Metadata.CausationID, WorkspaceID: b.ws, RequestID: "req-42"}, r.Metadata)
		if causation == uuid.Nil {
			causation = r.Metadata.CausationID
		}
		require.Equal(t, causation, r.Metadata.CausationID)
	}
	require.NotEqual(t, uuid.Nil, causation)
	require.NotEqual(t, correlation, causation)

	// Without request info the command id correlates its own events.
	_, err = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task, Status: "in_progress"})
	require.NoError(t, err)
	rs := f.recorded(domain.TaskStream(b.task))
	meta := rs[len(rs)-1].Metadata
	require.Equal(t, meta.CausationID, meta.CorrelationID)
	require.NotEqual(t, causation, meta.CausationID)
	info, ok := commands.RequestFrom(ctx)
	require.True(t, ok)
	require.Equal(t, "req-42", info.RequestID)
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	f := setup(t)
	me := domain.Actor{UserID: domain.UserID("auth0|" + uuid.NewString()), Email: "me@example.com", EmailVerified: true, DisplayName: "Me"}
	res, err := f.h.RegisterUser.Handle(f.ctx, commands.RegisterUser{Actor: me})
	require.NoError(t, err)
	require.Equal(t, me.UserID, res.UserID)
	require.Equal(t, int64(1), res.Version)
	// Again, as at every sign-in: the same user, nothing recorded when the token changed nothing.
	res, err = f.h.RegisterUser.Handle(f.ctx, commands.RegisterUser{Actor: me})
	require.NoError(t, err)
	require.Equal(t, me.UserID, res.UserID)
	require.Equal(t, int64(1), res.Version)
	require.Equal(t, int64(1), f.version(domain.UserStream(me.UserID)))

	_, err = f.h.UpdateUserProfile.Handle(f.ctx, commands.UpdateUserProfile{Actor: me, DisplayName: "Me Too", Email: "me2@example.com", ExpectedVersion: ptr(int64(1))})
	requireCode(t, err, domain.CodeInvalidInput) // an address the token does not vouch for
	me.Email, me.EmailVerified = "me2@example.com", true
	res, err = f.h.UpdateUserProfile.Handle(f.ctx, commands.UpdateUserProfile{Actor: me, DisplayName: "Me Too", Email: "me2@example.com", ExpectedVersion: ptr(int64(1))})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Version)
	_, err = f.h.UpdateUserProfile.Handle(f.ctx, commands.UpdateUserProfile{Actor: me, DisplayName: "Stale", Email: "me2@example.com", ExpectedVersion: ptr(int64(1))})
	current, ok := commands.CurrentVersion(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, int64(2), current)
	// Signing in with a token whose name changed refreshes the profile.
	me.DisplayName = "Me, renamed"
	res, err = f.h.RegisterUser.Handle(f.ctx, commands.RegisterUser{Actor: me})
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Version)

	stranger := domain.Actor{UserID: domain.UserID(uuid.NewString()), Email: "x@example.com", EmailVerified: true, DisplayName: "X"}
	_, err = f.h.UpdateUserProfile.Handle(f.ctx, commands.UpdateUserProfile{Actor: stranger, DisplayName: "X", Email: "x@example.com"})
	requireCode(t, err, domain.CodeNotFound)
	_, err = f.h.RegisterUser.Handle(f.ctx, commands.RegisterUser{Actor: domain.Actor{UserID: stranger.UserID, Email: "not an email", EmailVerified: true, DisplayName: "X"}})
	requireCode(t, err, domain.CodeInvalidInput)
	require.Equal(t, int64(0), f.version(domain.UserStream(stranger.UserID)))
}

// A status can leave the workflow only once no task uses it; the check
// reads the tasks' own streams.
func TestDefineWorkflowRefusesRemovingAUsedStatus(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()
	for _, s := range []string{"in_progress", "in_review"} {
		_, err := f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task, Status: s})
		require.NoError(t, err)
	}
	wf := domain.DefaultWorkflow()
	wf.Statuses = wf.Statuses[:2] // todo, in_progress
	wf.Transitions = []domain.Transition{{From: "todo", To: "in_progress"}, {From: "in_progress", To: "todo"}}
	before := f.version(domain.ProjectStream(b.project))
	_, err := f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: b.project, Workflow: wf})
	requireCode(t, err, domain.CodePreconditionFailed)
	require.Contains(t, err.Error(), "TF-1")
	require.Equal(t, before, f.version(domain.ProjectStream(b.project)))

	_, err = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task, Status: "in_progress"})
	require.NoError(t, err)
	res, err := f.h.DefineWorkflow.Handle(f.ctx, commands.DefineWorkflow{Actor: admin, ProjectID: b.project, Workflow: wf, ExpectedVersion: ptr(before)})
	require.NoError(t, err)
	require.Equal(t, before+1, res.Version)
	_, err = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task, Status: "in_review"})
	requireCode(t, err, domain.CodeInvalidInput)
}

// Aggregates load from snapshot + tail; a snapshot that does not match its
// stream is ignored.
func TestSnapshots(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *commands.Options) { o.SnapshotEvery = 3 })
	b := f.board()
	// Task numbers streams grow by one event per task.
	stream := domain.TaskNumbersStream(b.project)
	format, _ := domain.SnapshotFormat(domain.StreamTypeTaskNumbers)
	for i := range 7 {
		f.newTask(b.project, title(i))
	}
	snap, err := f.store.LoadSnapshot(f.ctx, stream, format)
	require.NoError(t, err)
	require.GreaterOrEqual(t, snap.StreamVersion, int64(6))

	// Numbering continues correctly from the snapshot.
	next := f.newTask(b.project, "after snapshot")
	require.Equal(t, int64(9), next.Number)

	// A snapshot saved under the wrong version must not be trusted.
	head := f.version(stream)
	require.NoError(t, f.store.SaveSnapshot(f.ctx, eventstore.Snapshot{StreamID: stream, SchemaVersion: format, StreamVersion: head + 1, Data: snap.Data}))
	after := f.newTask(b.project, "after a bad snapshot")
	require.Equal(t, int64(10), after.Number)
	require.Equal(t, int64(10), f.loadTask(after.ID).Number())
}

func TestConstructorsRejectNil(t *testing.T) {
	t.Parallel()
	_, err := commands.NewRuntime(nil, domain.NewRegistry(), commands.Options{})
	require.Error(t, err)
	f := setup(t)
	_, err = commands.NewRuntime(f.store, nil, commands.Options{})
	require.Error(t, err)
	_, err = commands.NewCodec(nil)
	require.Error(t, err)
	_, err = commands.NewHandlers(nil, nil, nil)
	require.Error(t, err)
	_, err = commands.NewHandlers(f.rt, nil, nil)
	require.Error(t, err)
	_, err = commands.NewMetrics(nil)
	require.Error(t, err)
}
