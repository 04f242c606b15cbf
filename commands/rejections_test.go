package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
)

// rejectionBoard is a board with something for every command to act on: a
// pending invitation, a webhook, a comment, an assigned task, an archived
// task and a second task to reorder against.
type rejectionBoard struct {
	board
	invitation, hook, comment, archived, other uuid.UUID
	streams                                    []string
}

func (f *fixture) rejectionBoard() rejectionBoard {
	f.t.Helper()
	b := rejectionBoard{board: f.board()}
	inv, err := f.h.InviteMember.Handle(f.ctx, commands.InviteMember{Actor: admin, WorkspaceID: b.ws, Email: "pending@example.com", Role: domain.RoleMember})
	require.NoError(f.t, err)
	b.invitation = inv.InvitationID
	hook, err := f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "https://h.example.com", Secret: "0123456789abcdef"})
	require.NoError(f.t, err)
	b.hook = hook.WebhookID
	c, err := f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: member, TaskID: b.task, Body: "mine"})
	require.NoError(f.t, err)
	b.comment = c.CommentID
	_, err = f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: member.UserID})
	require.NoError(f.t, err)
	b.archived = f.newTask(b.project, "archived").ID
	_, err = f.h.ArchiveTask.Handle(f.ctx, commands.ArchiveTask{Actor: member, TaskID: b.archived})
	require.NoError(f.t, err)
	b.other = f.newTask(b.project, "other").ID
	b.streams = []string{
		domain.WorkspaceStream(b.ws), domain.ProjectStream(b.project), domain.TaskNumbersStream(b.project),
		domain.TaskStream(b.task), domain.TaskStream(b.archived), domain.TaskStream(b.other),
	}
	for _, a := range []domain.Actor{owner, admin, member, member2, viewer, outsider} {
		b.streams = append(b.streams, domain.MemberStream(b.ws, a.UserID))
	}
	return b
}

// attempt is one command as one actor, returning only the error.
type attempt struct {
	name string
	run  func(a domain.Actor) error
}

func (f *fixture) everyChange(b rejectionBoard) []attempt {
	ctx, h := f.ctx, f.h
	e := func(_ any, err error) error { return err }
	wf := domain.DefaultWorkflow()
	wf.Initial = "in_progress"
	return []attempt{
		{"rename workspace", func(a domain.Actor) error {
			return e(h.RenameWorkspace.Handle(ctx, commands.RenameWorkspace{Actor: a, WorkspaceID: b.ws, Name: "Mine"}))
		}},
		{"rename workspace at a version", func(a domain.Actor) error {
			return e(h.RenameWorkspace.Handle(ctx, commands.RenameWorkspace{Actor: a, WorkspaceID: b.ws, Name: "Mine", ExpectedVersion: ptr(int64(1))}))
		}},
		{"invite", func(a domain.Actor) error {
			return e(h.InviteMember.Handle(ctx, commands.InviteMember{Actor: a, WorkspaceID: b.ws, Email: "friend@example.com", Role: domain.RoleAdmin}))
		}},
		{"revoke invitation", func(a domain.Actor) error {
			return e(h.RevokeInvitation.Handle(ctx, commands.RevokeInvitation{Actor: a, WorkspaceID: b.ws, InvitationID: b.invitation}))
		}},
		{"accept someone else's invitation", func(a domain.Actor) error {
			return e(h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: a, WorkspaceID: b.ws, InvitationID: b.invitation}))
		}},
		{"change role", func(a domain.Actor) error {
			return e(h.ChangeMemberRole.Handle(ctx, commands.ChangeMemberRole{Actor: a, WorkspaceID: b.ws, UserID: member.UserID, Role: domain.RoleAdmin}))
		}},
		{"remove member", func(a domain.Actor) error {
			return e(h.RemoveMember.Handle(ctx, commands.RemoveMember{Actor: a, WorkspaceID: b.ws, UserID: member.UserID}))
		}},
		{"register webhook", func(a domain.Actor) error {
			return e(h.RegisterWebhook.Handle(ctx, commands.RegisterWebhook{Actor: a, WorkspaceID: b.ws, URL: "https://evil.example.com", Secret: "0123456789abcdef"}))
		}},
		{"update webhook", func(a domain.Actor) error {
			return e(h.UpdateWebhook.Handle(ctx, commands.UpdateWebhook{Actor: a, WorkspaceID: b.ws, WebhookID: b.hook, URL: ptr("https://evil.example.com")}))
		}},
		{"remove webhook", func(a domain.Actor) error {
			return e(h.RemoveWebhook.Handle(ctx, commands.RemoveWebhook{Actor: a, WorkspaceID: b.ws, WebhookID: b.hook}))
		}},
		{"create project", func(a domain.Actor) error {
			return e(h.CreateProject.Handle(ctx, commands.CreateProject{Actor: a, WorkspaceID: b.ws, Name: "Mine", Key: "MINE"}))
		}},
		{"rename project", func(a domain.Actor) error {
			return e(h.RenameProject.Handle(ctx, commands.RenameProject{Actor: a, ProjectID: b.project, Name: "Mine"}))
		}},
		{"archive project", func(a domain.Actor) error {
			return e(h.ArchiveProject.Handle(ctx, commands.ArchiveProject{Actor: a, ProjectID: b.project}))
		}},
		{"unarchive project", func(a domain.Actor) error {
			return e(h.UnarchiveProject.Handle(ctx, commands.UnarchiveProject{Actor: a, ProjectID: b.project}))
		}},
		{"define workflow", func(a domain.Actor) error {
			return e(h.DefineWorkflow.Handle(ctx, commands.DefineWorkflow{Actor: a, ProjectID: b.project, Workflow: wf}))
		}},
		{"create task", func(a domain.Actor) error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: a, ProjectID: b.project, Title: "mine"}))
		}},
		{"edit task", func(a domain.Actor) error {
			return e(h.EditTask.Handle(ctx, commands.EditTask{Actor: a, TaskID: b.task, Title: ptr("mine")}))
		}},
		{"edit task at a version", func(a domain.Actor) error {
			return e(h.EditTask.Handle(ctx, commands.EditTask{Actor: a, TaskID: b.task, Title: ptr("mine"), ExpectedVersion: ptr(int64(1))}))
		}},
		{"change status", func(a domain.Actor) error {
			return e(h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: a, TaskID: b.task, Status: "in_progress"}))
		}},
		{"assign", func(a domain.Actor) error {
			return e(h.AssignTask.Handle(ctx, commands.AssignTask{Actor: a, TaskID: b.task, Assignee: member2.UserID}))
		}},
		{"unassign", func(a domain.Actor) error {
			return e(h.UnassignTask.Handle(ctx, commands.UnassignTask{Actor: a, TaskID: b.task}))
		}},
		{"reorder", func(a domain.Actor) error {
			return e(h.ReorderTask.Handle(ctx, commands.ReorderTask{Actor: a, TaskID: b.task, PreviousTaskID: b.other}))
		}},
		{"comment", func(a domain.Actor) error {
			return e(h.AddComment.Handle(ctx, commands.AddComment{Actor: a, TaskID: b.task, Body: "hi"}))
		}},
		{"edit comment", func(a domain.Actor) error {
			return e(h.EditComment.Handle(ctx, commands.EditComment{Actor: a, TaskID: b.task, CommentID: b.comment, Body: "edited"}))
		}},
		{"delete comment", func(a domain.Actor) error {
			return e(h.DeleteComment.Handle(ctx, commands.DeleteComment{Actor: a, TaskID: b.task, CommentID: b.comment}))
		}},
		{"archive task", func(a domain.Actor) error {
			return e(h.ArchiveTask.Handle(ctx, commands.ArchiveTask{Actor: a, TaskID: b.task}))
		}},
		{"restore task", func(a domain.Actor) error {
			return e(h.RestoreTask.Handle(ctx, commands.RestoreTask{Actor: a, TaskID: b.archived}))
		}},
	}
}

// A viewer, a non-member and a removed member can change nothing: every
// command is FORBIDDEN for the viewer and NOT_FOUND for the others (a
// foreign id answers like a nonexistent one), and no stream moves.
func TestForbiddenChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.rejectionBoard()
	_, err := f.h.RemoveMember.Handle(f.ctx, commands.RemoveMember{Actor: admin, WorkspaceID: b.ws, UserID: member2.UserID})
	require.NoError(t, err)

	before := f.versions(b.streams...)
	changes := f.everyChange(b)
	for _, a := range []domain.Actor{viewer, outsider, member2} {
		want := domain.CodeNotFound
		if a == viewer {
			want = domain.CodeForbidden
		}
		for _, c := range changes {
			err := c.run(a)
			requireCode(t, err, want)
			require.Equalf(t, before, f.versions(b.streams...), "%s as %s appended", c.name, a.UserID)
		}
	}
	require.GreaterOrEqual(t, f.counter("taskforge_commands_total", map[string]string{"outcome": "forbidden"}), float64(len(changes)))
}

// Bad input is INVALID_INPUT, and nothing is appended.
func TestInvalidInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.rejectionBoard()
	ctx, h := f.ctx, f.h
	e := func(_ any, err error) error { return err }
	otherProject, err := h.CreateProject.Handle(ctx, commands.CreateProject{Actor: member, WorkspaceID: b.ws, Name: "Other", Key: "OT"})
	require.NoError(t, err)
	foreign := f.newTask(otherProject.ID, "foreign").ID
	before := f.versions(b.streams...)

	cases := map[string]func() error{
		"create task without title": func() error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "  "}))
		},
		"create task with a long title": func() error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: strings.Repeat("é", 201)}))
		},
		"create task with a huge description": func() error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "t", Description: strings.Repeat("x", 64*1024+1)}))
		},
		"create task with a bad priority": func() error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "t", Priority: "asap"}))
		},
		"create task with too many labels": func() error {
			labels := make([]string, 21)
			for i := range labels {
				labels[i] = title(i)
			}
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "t", Labels: labels}))
		},
		"create task for a non-member": func() error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "t", Assignee: outsider.UserID}))
		},
		"create task with an ancient due date": func() error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "t", DueDate: ptr(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))}))
		},
		"create task without project": func() error {
			return e(h.CreateTask.Handle(ctx, commands.CreateTask{Actor: member, Title: "t"}))
		},
		"edit without task": func() error {
			return e(h.EditTask.Handle(ctx, commands.EditTask{Actor: member, Title: ptr("t")}))
		},
		"edit to an empty title": func() error {
			return e(h.EditTask.Handle(ctx, commands.EditTask{Actor: member, TaskID: b.task, Title: ptr("")}))
		},
		"set and clear the due date": func() error {
			return e(h.EditTask.Handle(ctx, commands.EditTask{Actor: member, TaskID: b.task, DueDate: ptr(time.Now()), ClearDueDate: true}))
		},
		"negative expected version": func() error {
			return e(h.EditTask.Handle(ctx, commands.EditTask{Actor: member, TaskID: b.task, Title: ptr("t"), ExpectedVersion: ptr(int64(-1))}))
		},
		"unknown status": func() error {
			return e(h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task, Status: "nope"}))
		},
		"assign nobody": func() error {
			return e(h.AssignTask.Handle(ctx, commands.AssignTask{Actor: member, TaskID: b.task}))
		},
		"assign a viewer": func() error {
			return e(h.AssignTask.Handle(ctx, commands.AssignTask{Actor: member, TaskID: b.task, Assignee: viewer.UserID}))
		},
		"reorder next to a task of another project": func() error {
			return e(h.ReorderTask.Handle(ctx, commands.ReorderTask{Actor: member, TaskID: b.task, PreviousTaskID: foreign}))
		},
		"reorder next to a missing task": func() error {
			return e(h.ReorderTask.Handle(ctx, commands.ReorderTask{Actor: member, TaskID: b.task, NextTaskID: uuid.New()}))
		},
		"reorder next to itself": func() error {
			return e(h.ReorderTask.Handle(ctx, commands.ReorderTask{Actor: member, TaskID: b.task, NextTaskID: b.task}))
		},
		"empty comment": func() error {
			return e(h.AddComment.Handle(ctx, commands.AddComment{Actor: member, TaskID: b.task, Body: " \n "}))
		},
		"bad project key": func() error {
			return e(h.CreateProject.Handle(ctx, commands.CreateProject{Actor: member, WorkspaceID: b.ws, Name: "P", Key: "tf"}))
		},
		"project without name": func() error {
			return e(h.CreateProject.Handle(ctx, commands.CreateProject{Actor: member, WorkspaceID: b.ws, Key: "NEW"}))
		},
		"invite a bad email": func() error {
			return e(h.InviteMember.Handle(ctx, commands.InviteMember{Actor: admin, WorkspaceID: b.ws, Email: "Pat <pat@example.com>", Role: domain.RoleMember}))
		},
		"invite with a bad role": func() error {
			return e(h.InviteMember.Handle(ctx, commands.InviteMember{Actor: admin, WorkspaceID: b.ws, Email: "pat@example.com", Role: "boss"}))
		},
		"accept without invitation": func() error {
			return e(h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: outsider, WorkspaceID: b.ws}))
		},
		"webhook with credentials in the url": func() error {
			return e(h.RegisterWebhook.Handle(ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "https://u:p@h.example.com", Secret: "0123456789abcdef"}))
		},
		"webhook with a short secret": func() error {
			return e(h.RegisterWebhook.Handle(ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "https://h.example.com", Secret: "short"}))
		},
		"webhook to localhost": func() error {
			return e(h.RegisterWebhook.Handle(ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "http://localhost:8080/hook", Secret: "0123456789abcdef"}))
		},
		"webhook to a loopback literal": func() error {
			return e(h.RegisterWebhook.Handle(ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "http://127.0.0.1/hook", Secret: "0123456789abcdef"}))
		},
		"webhook with a gopher url": func() error {
			return e(h.RegisterWebhook.Handle(ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: b.ws, URL: "gopher://h.example.com/", Secret: "0123456789abcdef"}))
		},
		"webhook moved to a loopback address": func() error {
			return e(h.UpdateWebhook.Handle(ctx, commands.UpdateWebhook{Actor: admin, WorkspaceID: b.ws, WebhookID: b.hook, URL: ptr("http://127.0.0.1/hook")}))
		},
		"rotate to a short secret": func() error {
			return e(h.RotateWebhookSecret.Handle(ctx, commands.RotateWebhookSecret{Actor: admin, WorkspaceID: b.ws, WebhookID: b.hook, Secret: "short"}))
		},
		"webhook for user events": func() error {
			return e(h.UpdateWebhook.Handle(ctx, commands.UpdateWebhook{Actor: admin, WorkspaceID: b.ws, WebhookID: b.hook, EventTypes: &[]string{domain.EventUserRegistered}}))
		},
		"workflow without statuses": func() error {
			return e(h.DefineWorkflow.Handle(ctx, commands.DefineWorkflow{Actor: admin, ProjectID: b.project}))
		},
		"rename workspace to nothing": func() error {
			return e(h.RenameWorkspace.Handle(ctx, commands.RenameWorkspace{Actor: admin, WorkspaceID: b.ws, Name: "\t"}))
		},
		"workspace command without workspace": func() error {
			return e(h.RenameWorkspace.Handle(ctx, commands.RenameWorkspace{Actor: admin, Name: "x"}))
		},
		"workspace with a bad plan": func() error {
			return e(h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: owner, Name: "x", Plan: "gold"}))
		},
		"idempotency key too long": func() error {
			return e(h.AddComment.Handle(ctx, commands.AddComment{Actor: member, TaskID: b.task, Body: "hi", IdempotencyKey: strings.Repeat("k", 256)}))
		},
	}
	for name, run := range cases {
		requireCode(t, run(), domain.CodeInvalidInput)
		require.Equalf(t, before, f.versions(b.streams...), "%s appended", name)
	}
}
