package commands

import (
	"errors"
	"log/slog"
)

// Handlers holds one handler per command, each wrapped once with logging and
// metrics. The API layer calls these.
type Handlers struct {
	RegisterUser        Handler[RegisterUser, UserResult]
	UpdateUserProfile   Handler[UpdateUserProfile, UserResult]
	CreateWorkspace     Handler[CreateWorkspace, Result]
	RenameWorkspace     Handler[RenameWorkspace, Result]
	InviteMember        Handler[InviteMember, InvitationResult]
	AcceptInvitation    Handler[AcceptInvitation, Result]
	RevokeInvitation    Handler[RevokeInvitation, Result]
	ChangeMemberRole    Handler[ChangeMemberRole, Result]
	RemoveMember        Handler[RemoveMember, Result]
	RegisterWebhook     Handler[RegisterWebhook, WebhookResult]
	UpdateWebhook       Handler[UpdateWebhook, Result]
	RemoveWebhook       Handler[RemoveWebhook, Result]
	RotateWebhookSecret Handler[RotateWebhookSecret, WebhookResult]
	CreateProject       Handler[CreateProject, Result]
	RenameProject       Handler[RenameProject, Result]
	ArchiveProject      Handler[ArchiveProject, Result]
	UnarchiveProject    Handler[UnarchiveProject, Result]
	DefineWorkflow      Handler[DefineWorkflow, Result]
	CreateTask          Handler[CreateTask, TaskResult]
	EditTask            Handler[EditTask, Result]
	ChangeTaskStatus    Handler[ChangeTaskStatus, Result]
	AssignTask          Handler[AssignTask, Result]
	UnassignTask        Handler[UnassignTask, Result]
	ReorderTask         Handler[ReorderTask, Result]
	AddComment          Handler[AddComment, CommentResult]
	EditComment         Handler[EditComment, Result]
	DeleteComment       Handler[DeleteComment, Result]
	ArchiveTask         Handler[ArchiveTask, Result]
	RestoreTask         Handler[RestoreTask, Result]
}

// NewHandlers builds every handler on rt, instrumented with log and m (m
// may be nil: no metrics).
func NewHandlers(rt *Runtime, log *slog.Logger, m *Metrics) (*Handlers, error) {
	if rt == nil {
		return nil, errNilRuntime
	}
	if log == nil {
		return nil, errors.New("commands: nil logger")
	}
	return &Handlers{
		RegisterUser:        wrap[RegisterUser, UserResult](&RegisterUserHandler{rt: rt}, log, m),
		UpdateUserProfile:   wrap[UpdateUserProfile, UserResult](&UpdateUserProfileHandler{rt: rt}, log, m),
		CreateWorkspace:     wrap[CreateWorkspace, Result](&CreateWorkspaceHandler{rt: rt}, log, m),
		RenameWorkspace:     wrap[RenameWorkspace, Result](&RenameWorkspaceHandler{rt: rt}, log, m),
		InviteMember:        wrap[InviteMember, InvitationResult](&InviteMemberHandler{rt: rt}, log, m),
		AcceptInvitation:    wrap[AcceptInvitation, Result](&AcceptInvitationHandler{rt: rt}, log, m),
		RevokeInvitation:    wrap[RevokeInvitation, Result](&RevokeInvitationHandler{rt: rt}, log, m),
		ChangeMemberRole:    wrap[ChangeMemberRole, Result](&ChangeMemberRoleHandler{rt: rt}, log, m),
		RemoveMember:        wrap[RemoveMember, Result](&RemoveMemberHandler{rt: rt}, log, m),
		RegisterWebhook:     wrap[RegisterWebhook, WebhookResult](&RegisterWebhookHandler{rt: rt}, log, m),
		UpdateWebhook:       wrap[UpdateWebhook, Result](&UpdateWebhookHandler{rt: rt}, log, m),
		RemoveWebhook:       wrap[RemoveWebhook, Result](&RemoveWebhookHandler{rt: rt}, log, m),
		RotateWebhookSecret: wrap[RotateWebhookSecret, WebhookResult](&RotateWebhookSecretHandler{rt: rt}, log, m),
		CreateProject:       wrap[CreateProject, Result](&CreateProjectHandler{rt: rt}, log, m),
		RenameProject:       wrap[RenameProject, Result](&RenameProjectHandler{rt: rt}, log, m),
		ArchiveProject:      wrap[ArchiveProject, Result](&ArchiveProjectHandler{rt: rt}, log, m),
		UnarchiveProject:    wrap[UnarchiveProject, Result](&UnarchiveProjectHandler{rt: rt}, log, m),
		DefineWorkflow:      wrap[DefineWorkflow, Result](&DefineWorkflowHandler{rt: rt}, log, m),
		CreateTask:          wrap[CreateTask, TaskResult](&CreateTaskHandler{rt: rt}, log, m),
		EditTask:            wrap[EditTask, Result](&EditTaskHandler{rt: rt}, log, m),
		ChangeTaskStatus:    wrap[ChangeTaskStatus, Result](&ChangeTaskStatusHandler{rt: rt}, log, m),
		AssignTask:          wrap[AssignTask, Result](&AssignTaskHandler{rt: rt}, log, m),
		UnassignTask:        wrap[UnassignTask, Result](&UnassignTaskHandler{rt: rt}, log, m),
		ReorderTask:         wrap[ReorderTask, Result](&ReorderTaskHandler{rt: rt}, log, m),
		AddComment:          wrap[AddComment, CommentResult](&AddCommentHandler{rt: rt}, log, m),
		EditComment:         wrap[EditComment, Result](&EditCommentHandler{rt: rt}, log, m),
		DeleteComment:       wrap[DeleteComment, Result](&DeleteCommentHandler{rt: rt}, log, m),
		ArchiveTask:         wrap[ArchiveTask, Result](&ArchiveTaskHandler{rt: rt}, log, m),
		RestoreTask:         wrap[RestoreTask, Result](&RestoreTaskHandler{rt: rt}, log, m),
	}, nil
}

// wrap adds logging and metrics to h. It is the only place that does so:
// every handler is wrapped once, here in NewHandlers.
func wrap[C Command, R any](h Handler[C, R], log *slog.Logger, m *Metrics) Handler[C, R] {
	return instrumented[C, R]{next: h, log: log, metrics: m}
}
