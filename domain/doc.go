// Package domain owns Taskforge's business rules: the User, Workspace,
// Project and Task aggregates, the events they record, the invariants checked
// before recording them, and the registry that names and versions those
// events. It is pure Go: no I/O, no SQL, no clock (time is passed in as now).
//
// # Deciding and loading
//
// A command handler loads an aggregate, asks it to decide, and appends:
//
//	stream ──LoadX / RestoreX (fold, for loading only)──▶ *X
//	*X.Method(…, actor, input, now) ──▶ new events ──▶ eventstore.Append(stream, expected X.Version())
//	                                └─▶ *Error with a Code: nothing to append
//
// Behaviour methods never mutate the aggregate: they validate the input, the
// actor's role and the aggregate's state, then return the events to append
// (nil when the command changes nothing, which is not an error). LoadX and
// RestoreX, the only code that builds state, fold events without deciding
// anything. Snapshot and RestoreX let the event store skip the start of long
// streams (task numbers streams grow by one event per task); a snapshot
// written by an older state layout yields ErrSnapshotIncompatible, and the
// caller then loads the whole stream.
//
// Rejections are *Error values with a Code: INVALID_INPUT (with the Field),
// FORBIDDEN, NOT_FOUND, CONFLICT or PRECONDITION_FAILED. Any other error is a
// programmer or data error (for instance passing the workspace of another
// tenant) and must surface as an internal error.
//
// # Commands that span two streams
//
// Two decisions produce events for two streams, which the command must append
// atomically in one eventstore.Append, each stream with its expected version:
//
//   - CreateProject: workspace.project_key_reserved on the workspace stream
//     (project keys are unique per workspace, which only the workspace knows)
//     and project.created on the new project stream.
//   - CreateTask: project.task_number_reserved on the project's task numbers
//     stream (TaskNumbers; numbers are dense and unique: TF-1, TF-2, …) and
//     task.created on the new task stream. The project, read for its archive
//     flag and workflow, is asserted, not written.
//
// A concurrent writer makes the append fail on the expected version; the
// command reloads and decides again.
//
// Task numbers have a stream of their own, task_numbers-<project>, because
// every task command asserts the project stream's version: were creations
// to append there, each one would make concurrent changes to the project's
// other tasks conflict. Projects created before this split keep their
// reservations on the project stream (Project.LastTaskNumber), and
// TaskNumbers.Reserve numbers on after the larger of the two.
//
// # Rules that need the command's help
//
//   - Removing a member (workspace.member_removed) must be followed by
//     Task.UnassignBecauseMemberRemoved on each task assigned to them. The
//     command finds those tasks in the member's Assignments, an index stream
//     (member-<workspace>-<user>) that every assignee change updates in the
//     same append (IndexAssignments) and that the removal empties
//     (Assignments.Release).
//   - Project.DefineWorkflow cannot know which statuses tasks use: before
//     removing a status, the command must check that no task is in it.
//
// # Roles
//
// owner > admin > member > viewer. Viewers change nothing, except that any
// member may leave a workspace. Members create projects and create, edit,
// move, assign and comment on tasks; admins manage the workspace, its
// members, webhooks and project settings; only owners grant, remove or take
// away the owner role, and the last owner can never be removed, demoted or
// leave. Non-members get FORBIDDEN; the API decides whether to hide that the
// workspace exists. Viewers cannot be assigned tasks.
//
// # Mentions
//
// "@handle" in a comment mentions the members whose handle matches, ignoring
// letter case: a member's handles are the local part of the email they joined
// with and their user id. See ParseMentions.
//
// # Notifications
//
// Who hears of an event, as what kind and through which channels (inbox,
// email, live) is decided once, by PlanNotifications (resolved by Notify
// given the task's assignee and creator). The inbox projection, the email
// outbox and the live hub all follow it; none keeps its own list.
//
// # Events
//
// Event names ("task.status_changed") are constants, registered with their
// schema version in NewRegistry, never derived from Go type names. Events are
// JSON-encoded with snake_case fields. No event carries a secret: webhook
// events name their signing secret by id (schema version 2; UpcastWebhookV1
// drops the secret that version 1 held in clear), and their URLs, which may
// hold tokens, are shown outside the admins' list only through Redactable /
// RedactStored. PublicAddr and CheckWebhookDestination are the one rule of
// which webhook destinations are allowed.
package domain
