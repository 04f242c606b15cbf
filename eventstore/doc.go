// Package eventstore owns the PostgreSQL event store: appends under optimistic concurrency, stream
// and global reads, snapshots, upcasting, the per-stream hash chain and commit notifications.
//
// Write path (one round trip, one transaction):
//
//	Append(streams...) ──▶ taskforge_append(...)          (SQL function, migrations/00001)
//	                        ├─ lock each stream row, sorted by id (no deadlocks)
//	                        ├─ check expected versions      ─▶ TF409 ─▶ *ConflictError
//	                        ├─ number events, chain hashes  sha256(prev || fields)
//	                        ├─ INSERT events, UPDATE stream heads
//	                        └─ pg_notify('taskforge_events') delivered at COMMIT
//
// Hot path: when the store knows the hash of each written stream's expected version, it chains the
// events in Go and writes them with one INSERT. Group commit (groupcommit.go, on by default,
// EVENTSTORE_GROUP_COMMIT=off or Options.DisableGroupCommit to turn off) runs concurrent one-event
// appends as one INSERT and one commit; each keeps its own version check, idempotency, result and
// failure:
//
//	Append ─▶ queue ─▶ leader takes what is queued ─▶ INSERT … ON CONFLICT DO NOTHING (try-locks)
//	                                                   ├─ written: own position, shared transaction
//	                                                   └─ left out: re-run alone on the general path
//
// Read path: ReadStream / ReadStreamBackward by stream version; ReadAll in the commit-safe global
// order (transaction_id, position) below the oldest running transaction, so a reader resuming from
// its last GlobalPosition never skips a late commit nor sees an event twice.
//
// The database refuses UPDATE, DELETE and TRUNCATE on events; Verify and VerifyAll recompute each
// stream's hash chain and report the first broken link, which catches edits made with the trigger
// disabled.
package eventstore
