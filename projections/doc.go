// Package projections owns the read side: the read models (versioned read tables) folded from the
// event store's global log (delivered by eventstore/feed) with exactly-once effect, their
// checkpoints, rebuilds and status, and the read queries the GraphQL layer serves from. It never
// calls commands and never writes the event store.
//
// # Delivery
//
// The runner follows the global log through eventstore/feed (see its doc.go): one feed.Subscriber
// for all projections, one consumer group per projection, commit-safe order, NOTIFY wake-ups.
// Idle, a Runner with every projection issues one query per second in all (the shared head
// poll); measured with TestIdleQueryRate.
//
// # Exactly-once projections
//
// Runner adds one Watermill router handler per projection (consumer group = projection name) with
// Retry and Recoverer middleware. A handler turns the event into SQL statements (Projection.Apply,
// no I/O) and commits them with its checkpoint:
//
//	BEGIN; SET LOCAL synchronous_commit = off
//	SELECT … taskforge_projection_try_advance(name, version, prev → event)   -- locks the checkpoint row
//	  refused → ROLLBACK, nothing written                                   (first round trip)
//	<the event's statements>
//	COMMIT                                                                  (second, pipelined)
//
// A projection that has fallen behind (a burst, a slow commit) gets the events its subscription
// has already read as one batch message (feed.SubscriberConfig.MaxBatch, at most 100, never waiting
// for more): the handler applies them all in one such transaction, advancing the checkpoint from
// the batch's prev to its last event. Five projections × one transaction per event is what
// saturated two cores at 500 events/s. If the batch fails in any way, its events are applied one
// at a time by the single-event path below, so a poison event is treated exactly as without
// batching (events committed before it are acknowledged as duplicates when retried). Other users
// of feed.Subscriber (side effects, the live hub) keep one event per message (MaxBatch 0).
//
// taskforge_projection_try_advance refuses unless the checkpoint is exactly at the message's previous
// position, and says so in its result rather than raising (a raise is an ERROR line in the server
// log, one per event when two workers run a projection): the handler rolls back, so nothing of a
// refused event or batch commits. An event another worker applied first, or a redelivery after a
// crash between COMMIT and Ack, is acknowledged as a no-op; a gap (a version swap, a resume)
// repositions the subscription. Refusals are counted (taskforge_projection_checkpoint_refusals_total)
// and logged at most once a minute per projection.
//
// In a deployment, each projection runs in one worker at a time: the worker that holds its lease
// (internal/cluster.Leaser) runs it through Runner.RunConsumer, and passes the lease's fencing
// token, which taskforge_projection_try_advance checks under a row lock of the lease in the same
// transaction (refusal 'fenced': the consumer stops, ErrFenced). So a worker that lost its lease
// — paused, cut off — can never commit after the next owner started, and two workers never fight
// over one projection's rows. Runner.Run runs every projection unleased (one process, tests).
//
// Losing the last commits in a crash
// (synchronous_commit off) loses tables and checkpoint together, so they are applied again. When a
// statement fails, the slow path runs the same work under SAVEPOINT apply: it rolls back to the
// savepoint and, in the same transaction, records the error (retry), or parks the event in
// parked_events with the checkpoint advanced (RunnerOptions.Park), or marks the projection failed
// with the event and error (the default after MaxRetries): a poison event stops its projection
// loudly, visible in `taskforge projections status`, until `projections resume` or a rebuild.
//
// # Versions, rebuilds, swaps
//
// Each projection's tables carry their version (rm_tasks_v1); the view rm_tasks points at the
// active version (projection_versions), and read queries only use views. Rebuild builds version
// N+1 from the whole log in batches of thousands of events per transaction, resumable from its
// own checkpoint, creates the query-only indexes after the bulk load, catches up, then in one
// transaction applies the last events, moves active_version and repoints the views. The load
// reads and decodes the log once for all projections (rebuild_read.go). A fresh build's load
// phase folds its events in memory and writes each batch with COPY and set-based statements
// (bulk.go: the same rules as Apply, checked row for row against live-built tables by the tests
// and by `bench rebuild --verify`), the keys of insert-only tables only after the load
// (rebuild_keys.go); a resumed build, the catch-up and the swap replay Apply. The runner notices the swap on its next event (taskforge_projection_try_advance: inactive)
// and continues on the new version from its checkpoint. Old tables are dropped after the swap
// unless RebuildOptions.KeepOld. Side effects are separate consumers (sideeffects/): a rebuild
// never re-runs them.
//
// # Read models
//
//	workspaces     rm_workspaces, rm_members, rm_invitations (pending and expired)
//	projects       rm_projects, rm_project_status_counts, rm_project_tasks (overdue at query time)
//	tasks          rm_tasks (board/list, tsvector search), rm_comments, rm_task_people
//	activity       rm_activity (lines rendered at apply time), rm_activity_people, rm_activity_subjects
//	notifications  rm_notifications (+ notification_reads, a read mark per user and workspace, and
//	               notification_read_items, single reads: user tables kept across rebuilds)
//
// Every read query is scoped to a workspace and names the index that serves it.
//
// # Files
//
// Each read model has three files: <model>.go (its DDL and Apply), <model>_bulk.go (its rebuild
// folder; workspaces has none and rebuilds with Apply) and <model>_query.go (its read queries and
// row types; comments live with tasks, as their table does).
//
//	workspaces.go    workspaces_query.go
//	projects.go      projects_bulk.go       projects_query.go
//	tasks.go         tasks_bulk.go          tasks_query.go
//	activity.go      activity_bulk.go       activity_query.go
//	notifications.go notifications_bulk.go  notifications_query.go
//
// Shared: projection.go (the Projection type, All), runner.go (live delivery), rebuild.go (versions,
// rebuilds, swaps; rebuild_read.go its reader, rebuild_keys.go its deferred keys and index
// phase), bulk.go (the folders' shared machinery), schema.go, status.go, metrics.go,
// queries.go (the Queries type, batch keys, helpers), wait.go (WaitFor, read-your-writes) and
// cursor.go (the task cursor).
package projections
