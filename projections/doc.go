// Package projections owns the read side: the Watermill subscriber that delivers the event store's
// global log in commit-safe order, the read models (versioned read tables) folded from it with
// exactly-once effect, their checkpoints, rebuilds and status, and the read queries the GraphQL
// layer serves from. It never calls commands and never writes the event store.
//
// # Delivery
//
//	eventstore ──Notifier (LISTEN/NOTIFY, in-process Wake)──┐   Head() once per PollInterval for
//	     │                                                  ▼   all subscriptions (lost NOTIFY)
//	     └── ReadAll(checkpoint, 500) ◀── Subscriber.Subscribe(ctx, group) ──▶ one message at a time
//	                                                                           (next after Ack;
//	                                                                            Nack: re-read from
//	                                                                            the checkpoint)
//
// A message's UUID is the event id, its payload the event's data (JSON, upcast), its metadata the
// type, stream, version, global position, recorded time, actor, workspace and the position of the
// message before it (MetaPrev*), which lets a consumer that commits its own checkpoint detect gaps.
// After a read comes back empty while committed events wait behind a running transaction (they
// become readable when it ends, which sends no NOTIFY) the subscription looks again after 1, 2, 4 ..
// 5 ms. Idle, a Runner with every projection issues one query per second in all (the shared head
// poll); measured with TestIdleQueryRate.
//
// # Exactly-once projections
//
// Runner adds one Watermill router handler per projection (consumer group = projection name) with
// Retry and Recoverer middleware. A handler turns the event into SQL statements (Projection.Apply,
// no I/O) and commits them with its checkpoint:
//
//	BEGIN; SET LOCAL synchronous_commit = off
//	SELECT taskforge_projection_advance(name, version, prev → event)   -- locks the checkpoint row
//	<the event's statements>
//	COMMIT                                              (one round trip, pipelined)
//
// taskforge_projection_advance refuses unless the checkpoint is exactly at the message's previous
// position: a redelivery after a crash between COMMIT and Ack is acknowledged as a no-op, a gap
// (two workers, a version swap) repositions the subscription. Losing the last commits in a crash
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
// N+1 from the whole log in batches of thousands of events per transaction (the same Apply code),
// resumable from its own checkpoint, creates the query-only indexes after the bulk load, catches
// up, then in one transaction applies the last events, moves active_version and repoints the
// views. The runner notices the swap on its next event (taskforge_projection_advance: not active)
// and continues on the new version from its checkpoint. Old tables are dropped after the swap
// unless RebuildOptions.KeepOld. Side effects are separate consumers (sideeffects/): a rebuild
// never re-runs them.
//
// # Read models
//
//	workspaces     rm_workspaces, rm_members
//	projects       rm_projects, rm_project_status_counts, rm_project_tasks (overdue at query time)
//	tasks          rm_tasks (board/list, tsvector search), rm_comments, rm_task_people
//	activity       rm_activity (lines rendered at apply time), rm_activity_people, rm_activity_subjects
//	notifications  rm_notifications (+ notification_reads, the per-user read mark, kept across rebuilds)
//
// Every query in queries.go is scoped to a workspace and names the index that serves it.
package projections
