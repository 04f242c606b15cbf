// Package commands owns the write side of Taskforge: one handler per command
// (create_task.go, change_task_status.go, …) that loads the event-sourced
// state it needs, lets the domain authorize and decide, and appends the
// resulting events. It also owns the plumbing they share: the Codec between
// domain events and stored events, loading aggregates from snapshot + tail,
// event metadata, retries, idempotency keys, and the one decorator
// (instrumented) that adds logging and metrics to every handler. NewHandlers
// builds every handler, instrumented, in one place: there are no
// per-command constructors.
//
//	Handle(ctx, cmd)
//	  ├─ idempotency key? FindAppend(derived event ids) ── found ──▶ first result
//	  ├─ load: snapshot + tail of each stream read (workspace always: roles)
//	  ├─ domain decides ──▶ *domain.Error (FORBIDDEN, INVALID_INPUT, …): nothing appended
//	  └─ eventstore.Append: written streams at the versions loaded, read-only
//	     streams asserted at theirs (zero-event StreamAppend, share-locked)
//	        └─ conflict ─▶ caller gave ExpectedVersion for that aggregate? ─▶ *ConflictError{Current}
//	                     └─ else back off (jittered, exponential), wait in the stream's
//	                        retry lane, reload, decide again (≤ MaxAttempts)
//
// # Concurrency rules
//
// Every decision is committed only if the state it read is still current.
// Streams a command writes are appended at the exact version it loaded (new
// ones with NoStream). Streams it only read are asserted at that version in
// the same append: the workspace, whose roles authorize every command; the
// project for task commands and creations (archived, workflow); the tasks,
// and the task numbers stream, of a project whose workflow loses a status.
// So a command never commits on an outdated role, membership, workflow or
// archive flag: it conflicts, reloads, and is decided again on the new
// state — typically refused.
//
// Without ExpectedVersion a conflict is retried up to Options.MaxAttempts
// times, then returns ErrContention (CONFLICT). With ExpectedVersion (the
// version the user saw) a mismatch on that aggregate is returned as
// *ConflictError carrying the current version; conflicts on the streams it
// only reads are still retried. A caller without the right to act gets
// FORBIDDEN before any version comparison.
//
// A retry first waits, with jitter, then queues in this process's lane for
// the stream it conflicted on (lanes.go), so that a herd of writers on one
// hot stream drains one by one instead of colliding again and again. Lanes
// only save wasted attempts; correctness rests on the exact versions.
//
// Creating a task appends project.task_number_reserved on the project's task
// numbers stream (task_numbers-<project>, at its exact version) and
// task.created atomically, so numbers are dense and unique, and asserts the
// project and the workspace. The creations of one project that wait in one
// process are decided on one load and appended in one append
// (creations.go), so that they do not conflict with each other: a refused
// creation takes no number, a failed append reserves none, and each
// creation keeps its own ids, idempotency key, result and error. Batches of
// two processes conflict on the numbers stream and one decides again, on
// the numbers read again; since another process's creations committed, such
// rounds do not count against MaxAttempts (up to a bound for callers
// without a deadline). Numbers are kept off the project stream so that
// creations do not move the version every task command asserts: edits of a
// busy project's tasks do not conflict with creations, while archiving the
// project or changing its workflow still does. A workflow change that scans
// the project's tasks asserts the task numbers stream it listed them from,
// so a task created meanwhile is not missed. Creating a project appends
// workspace.project_key_reserved and project.created atomically, so keys are
// unique per workspace.
//
// # Member removal vs concurrent assignment
//
// Rule: after any interleaving, no task is assigned to a non-member. An
// assignment either commits before the removal, and the removal unassigns
// that task in its own append, or it fails (it is retried and refused:
// INVALID_INPUT, the assignee is not a member).
//
// It rests on the member's assignment index, the stream
// member-<workspace>-<user> (domain.Assignments): every command that changes
// a task's assignee appends the index events derived from its task events
// (domain.IndexAssignments) in the same append, so the index always lists
// exactly the tasks assigned to the member. Then:
//
//   - An assignment (create with assignee, assign, reassign) asserts the
//     workspace at the version in which the assignee was a member, and writes
//     the assignee's index.
//   - A removal writes the workspace (member_removed) at its exact version,
//     the index at its exact version (member.assignments_released, always,
//     even when empty) and every indexed task at its exact version
//     (task.unassigned).
//
// Both appends write the index, so the store's per-stream write lock
// serializes them (locks are taken in stream id order, and the head is read
// only once the lock is held). If the assignment commits first,
// the index version the removal read is stale: it conflicts, reloads the
// index (now holding the task) and unassigns it. If the removal commits
// first, the assignment's workspace assertion fails: it reloads, the
// assignee is no longer a member, and the domain refuses. The index is
// written with Any by assignments, since the task's exact version already
// orders the changes of one task; the removal's Exact on the index is what
// catches every assignment. TestRemovalVersusAssignment checks the rule.
//
// # Idempotency
//
// A command may carry an IdempotencyKey. The command id (the events'
// causation id) is then derived from (actor, command name, target
// aggregate, key), and from it the event ids and the ids of what the command
// creates (uuid.NewSHA1). Before deciding, the handler looks the first
// derived event ids up (eventstore.FindAppend) and returns that append's
// result if found. Identical calls that race append the same ids: the store
// replays the winner's result for the loser, and every attempt that did not
// append fresh events looks the ids up again, so all callers get the same
// Result. Without a key, ids are random per call. The events of a keyed
// call record a hash of its input (the command without actor and key) in
// their metadata; a call whose stored events hold another hash is refused
// with ErrIdempotencyKeyReused instead of answered with their result.
//
// # Webhook secrets
//
// register_webhook, update_webhook (with a secret) and rotate_webhook_secret
// store the secret through Options.WebhookSecrets (encrypted, outside the
// log) inside their decision, after the workspace accepted it, under a secret
// id derived from the command id: a refused command stores nothing, a
// retried decision rewrites nothing, and a replayed call returns the secret
// first stored (register and rotate show it once, to their caller). The
// event names the secret by id only. Webhook URLs are checked with
// domain.CheckWebhookDestination unless Options.AllowPrivateWebhooks.
//
// # Metadata
//
// Every event carries Actor, CorrelationID (from WithRequest, else the
// command id), CausationID (the command id), WorkspaceID and RequestID.
//
// # Snapshots
//
// Aggregates load from their latest snapshot in the current format plus the
// events after it; once SnapshotEvery events have accumulated since, the
// handler saves a new snapshot after loading, best effort and outside any
// append.
package commands
